"""``fakescope perf speed`` (and its old name ``bench speed``): prints the numbers; argument checks."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from typer.testing import CliRunner

from fakescope.cli.app import app
from tests.conftest import write_image

FAST = ["--limit", "4", "--repeats", "1", "--workers", "0", "--batch-size", "2"]


@pytest.fixture
def images(tmp_path: Path) -> Path:
    for i in range(6):
        write_image(tmp_path / "imgs" / f"{i}.jpg", i)
    return tmp_path / "imgs"


def test_bench_a_bundle(runner: CliRunner, tiny_bundle: Path, images: Path) -> None:
    res = runner.invoke(
        app, ["perf", "speed", "--model", str(tiny_bundle), "--images", str(images), *FAST]
    )
    assert res.exit_code == 0, res.output
    for label in (
        "forward img/s",
        "scan img/s",
        "scan / forward",
        "RSS at 10% of scan time",
        "RSS at end",
    ):
        assert label in res.stdout
    assert "images" in res.stdout and " 4 " in res.stdout.replace("\n", " ")


def test_bench_an_untrained_detector(runner: CliRunner, images: Path) -> None:
    args = [
        "perf",
        "speed",
        "--detector",
        "tiny-test",
        "--img-size",
        "16",
        "--images",
        str(images),
    ]
    res = runner.invoke(app, [*args, *FAST, "--set", "detector.params.num_workers=0"])
    assert res.exit_code == 0, res.output
    assert "untrained tiny-test" in res.stdout and "forward img/s" in res.stdout


def test_bench_argument_errors(
    runner: CliRunner, tiny_bundle: Path, images: Path, tmp_path: Path
) -> None:
    res = runner.invoke(app, ["perf", "speed", "--images", str(images)])
    assert res.exit_code == 2 and "--model BUNDLE, or --detector NAME" in res.stderr
    res = runner.invoke(
        app, ["perf", "speed", "-m", str(tiny_bundle), "--arch", "resnet18", "-i", str(images)]
    )
    assert res.exit_code == 2 and "drop them with --model" in res.stderr
    res = runner.invoke(
        app, ["perf", "speed", "-m", str(tiny_bundle), "-i", str(tmp_path / "none")]
    )
    assert res.exit_code == 2 and "does not exist" in res.stderr


@pytest.mark.slow
def test_bench_untrained_cnn(runner: CliRunner, images: Path) -> None:
    args = [
        "perf",
        "speed",
        "--detector",
        "cnn",
        "--arch",
        "resnet18",
        "--img-size",
        "32",
        "-i",
        str(images),
    ]
    sets = ["--set", "detector.params.num_workers=0", "--set", "detector.params.progress=false"]
    res = runner.invoke(app, [*args, *FAST, *sets])
    assert res.exit_code == 0, res.output
    assert "forward img/s" in res.stdout


def test_bench_heads_prints_one_row_per_head(runner: CliRunner) -> None:
    args = ["perf", "heads", "--n", "60", "--dim", "4", "--heads", "logistic,knn", "-r", "1"]
    res = runner.invoke(app, args)
    assert res.exit_code == 0, res.output
    rows = [line.split() for line in res.stdout.splitlines() if line.strip()[:3] in ("log", "knn")]
    assert [r[0] for r in rows] == ["logistic", "knn"]
    assert all(r[1:3] == ["60", "4"] for r in rows)


def test_bench_heads_rejects_an_unknown_head(runner: CliRunner) -> None:
    res = runner.invoke(app, ["perf", "heads", "--n", "20", "--heads", "nope"])
    assert res.exit_code == 2 and "unknown head" in res.output


def test_old_bench_name_still_runs_the_same_commands(runner: CliRunner) -> None:
    """``fakescope bench`` stays as a hidden alias of ``perf`` and ``forge build``."""
    args = ["heads", "--n", "40", "--dim", "3", "--heads", "logistic", "-r", "1"]
    new = runner.invoke(app, ["perf", *args])
    old = runner.invoke(app, ["bench", *args])
    assert new.exit_code == 0 and old.exit_code == 0, old.output
    assert "logistic" in old.output and "logistic" in new.output
    assert re.search(r"\bbench\b", runner.invoke(app, ["--help"]).output) is None
    build_help = runner.invoke(app, ["bench", "build", "--help"])
    assert build_help.exit_code == 0 and "--preset" in build_help.output
