"""``fakescope bench speed --backend / --compare-backends`` and ``bench latency``: structure only."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from fakescope.cli.app import app
from tests.conftest import write_image

FAST = ["--limit", "6", "--repeats", "1", "--workers", "0", "--batch-size", "3"]


@pytest.fixture(scope="module")
def onnx_bundle(tmp_path_factory: pytest.TempPathFactory) -> Path:
    pytest.importorskip("onnxruntime")
    from fakescope.inference.onnx_export import export_onnx
    from tests.inference.test_onnx import random_cnn

    bundle = random_cnn(seed=2).save(tmp_path_factory.mktemp("bench-onnx") / "cnn")
    export_onnx(bundle)
    return bundle


@pytest.fixture
def images(tmp_path: Path) -> Path:
    for i in range(6):
        write_image(tmp_path / "imgs" / f"{i}.png", i, fake=i % 2 == 1, fmt="PNG")
    return tmp_path / "imgs"


def _flat(text: str) -> str:
    return " ".join(text.split())


def test_compare_backends_prints_both_and_the_ratio(
    runner: CliRunner, onnx_bundle: Path, images: Path
) -> None:
    args = ["perf", "speed", "-m", str(onnx_bundle), "-i", str(images), *FAST]
    res = runner.invoke(app, [*args, "--compare-backends"])
    assert res.exit_code == 0, res.output
    text = _flat(res.stdout)
    for label in ("torch scan img/s", "onnxruntime scan img/s", "scan onnxruntime / torch"):
        assert label in text
    assert "max |p_fake torch - onnxruntime|" in text
    res = runner.invoke(app, [*args, "--backend", "onnxruntime"])
    assert res.exit_code == 0, res.output
    assert "onnxruntime" in res.stdout and "scan img/s" in res.stdout


def test_backend_flag_errors(runner: CliRunner, tiny_bundle: Path, images: Path) -> None:
    base = ["perf", "speed", "-i", str(images), *FAST]
    res = runner.invoke(app, [*base, "--detector", "tiny-test", "--compare-backends"])
    assert res.exit_code == 2 and "need --model" in res.stderr
    res = runner.invoke(app, [*base, "-m", str(tiny_bundle), "--backend", "tvm"])
    assert res.exit_code == 2 and "backend 'tvm' is not available" in res.stderr
    res = runner.invoke(app, [*base, "-m", str(tiny_bundle), "--compare-backends"])
    assert res.exit_code == 2 and "fakescope export" in res.stderr
    assert len([ln for ln in res.stderr.splitlines() if ln.strip()]) == 1


def test_latency_prints_warm_medians(runner: CliRunner, onnx_bundle: Path, images: Path) -> None:
    args = ["perf", "latency", "-m", str(onnx_bundle), "-i", str(images), "-n", "4"]
    res = runner.invoke(app, [*args, "--cold-runs", "0", "--threads", "1"])
    assert res.exit_code == 0, res.output
    text = _flat(res.stdout)
    assert "warm single-image ms (n=4): median / p95 / mean" in text
    assert "cold start" not in text and "torch / 1" in text
    res = runner.invoke(app, ["perf", "latency", "-m", str(images), "-i", str(images)])
    assert res.exit_code == 2 and "not a complete bundle" in res.stderr
