"""CLI fixtures: a tiny dataset and ONE cnn bundle trained through ``fakescope train`` per session."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from fakescope.cli.app import app
from tests.cli.tiny_detector import (
    make_dataset,
    tiny_registered,  # noqa: F401 - autouse fixture
)

#: Flags making the cnn tiny: resnet18 at 32 px, one epoch, no worker processes.
TINY_CNN = [
    "--detector",
    "cnn",
    "--epochs",
    "1",
    "--set",
    "detector.params.arch=resnet18",
    "--set",
    "detector.params.img_size=32",
    "--set",
    "detector.params.num_workers=0",
    "--set",
    "detector.params.batch_size=16",
    "--set",
    "detector.params.progress=false",
]


@pytest.fixture
def runner() -> CliRunner:
    return CliRunner()


@pytest.fixture(scope="session")
def dataset(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """``binary`` layout, generators gan + diffusion, 6 train / 3 val / 3 test images per label each."""
    return make_dataset(
        tmp_path_factory.mktemp("cli-data") / "ds", n=6, generators=("diffusion", "gan")
    )


@pytest.fixture(scope="session")
def cnn_bundle(tmp_path_factory: pytest.TempPathFactory, dataset: Path) -> Path:
    """A cnn bundle trained once per session by the ``train`` command itself."""
    out = tmp_path_factory.mktemp("cli-bundle") / "cnn"
    result = CliRunner().invoke(
        app, ["train", "--data", str(dataset), "--out", str(out), *TINY_CNN]
    )
    assert result.exit_code == 0, result.output
    return out


def _fit_tiny(dataset: Path, out: Path, **params: object) -> Path:
    from fakescope.data.index import index_dataset
    from fakescope.data.schema import SPLIT
    from tests.cli.tiny_detector import TinyDetector

    table = index_dataset(dataset)
    det = TinyDetector({"steps": 100, "num_workers": 0, **params})
    det.fit(table[table[SPLIT] == "train"], table[table[SPLIT] == "val"])
    return det.save(out)


@pytest.fixture(scope="session")
def tiny_bundle(tmp_path_factory: pytest.TempPathFactory, dataset: Path) -> Path:
    """A binary bundle of the test-only ``tiny-test`` detector (fits in well under a second)."""
    return _fit_tiny(dataset, tmp_path_factory.mktemp("tiny") / "binary")


@pytest.fixture(scope="session")
def tiny_multi_bundle(tmp_path_factory: pytest.TempPathFactory, dataset: Path) -> Path:
    """A ``tiny-test`` attribution bundle: classes real, diffusion, gan."""
    return _fit_tiny(dataset, tmp_path_factory.mktemp("tiny") / "multi", target="generator")


def error_lines(stderr: str) -> list[str]:
    """Non-empty stderr lines (a user error must be exactly one ``error: ...`` line)."""
    return [line for line in stderr.splitlines() if line.strip()]
