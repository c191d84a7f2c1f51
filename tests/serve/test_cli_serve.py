"""``fakescope serve`` (flags -> app, one-line errors) and ``fakescope bench serve`` / the load test."""

from __future__ import annotations

import socket
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from fakescope.cli.app import app as cli
from fakescope.perf.loadtest import run_loadtest, synthetic_images
from fakescope.serve.limits import MB, ServeLimits
from tests.cli.tiny_detector import tiny_registered  # noqa: F401 - autouse fixture
from tests.serve.serve_helpers import tiny_bundle  # noqa: F401 - fixture


def _error_lines(text: str) -> list[str]:
    return [line for line in text.splitlines() if line.strip()]


def test_serve_passes_flags_to_the_app(tiny_bundle: Path, monkeypatch: pytest.MonkeyPatch) -> None:  # noqa: F811
    import uvicorn

    seen: dict[str, Any] = {}

    def fake_run(app: Any, **kwargs: Any) -> None:
        seen.update(kwargs, app=app)

    monkeypatch.setattr(uvicorn, "run", fake_run)
    args = ["serve", "--model", str(tiny_bundle), "--port", "0", "--max-upload-mb", "1.5"]
    args += ["--max-batch", "4", "--max-concurrent", "3", "--timeout", "7"]
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 0, result.output
    assert seen["host"] == "127.0.0.1" and seen["port"] == 0
    limits = seen["app"].state.fakescope.limits
    assert limits == ServeLimits(
        max_upload_bytes=int(1.5 * MB), max_batch=4, max_concurrent=3, timeout_s=7.0
    )
    assert "serving" in result.output


def test_serve_bad_bundle_is_one_line(tmp_path: Path) -> None:
    result = CliRunner().invoke(cli, ["serve", "--model", str(tmp_path / "nope")])
    assert result.exit_code == 2
    lines = _error_lines(result.stderr)
    assert len(lines) == 1 and "no bundle at" in lines[0]


def test_serve_busy_port_is_one_line(tiny_bundle: Path) -> None:  # noqa: F811
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        port = s.getsockname()[1]
        result = CliRunner().invoke(
            cli, ["serve", "--model", str(tiny_bundle), "--port", str(port)]
        )
    assert result.exit_code == 2
    lines = _error_lines(result.stderr)
    assert len(lines) == 1 and f"cannot listen on 127.0.0.1:{port}" in lines[0]


def test_loadtest_counts_every_request_and_survives_a_burst(tiny_bundle: Path) -> None:  # noqa: F811
    report = run_loadtest(
        tiny_bundle,
        synthetic_images(4, size=32),
        clients=3,
        requests=12,
        duration_s=60,
        overload=8,
        limits=ServeLimits(max_concurrent=4, max_batch=4, max_wait_ms=2),
    )
    assert report.sent == 12 and sum(report.statuses.values()) == 12
    assert report.statuses == {200: 12}
    assert len(report.latencies) == 12 and report.percentile_ms(50) > 0
    assert sum(report.batch_sizes) == 12  # every image went through the micro-batcher once
    assert report.baseline_img_s > 0 and report.img_s > 0
    assert report.cpu_per_img > 0 and report.baseline_cpu_per_img > 0
    assert report.overload_sent == 8 and sum(report.overload.values()) == 8
    assert report.overload_only_expected and report.health_after == 200


def test_bench_serve_command_prints_the_table(tiny_bundle: Path) -> None:  # noqa: F811
    args = ["perf", "serve", "--model", str(tiny_bundle), "--clients", "2", "--requests", "6"]
    args += ["--overload", "4", "--max-concurrent", "2"]
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 0, result.output
    for key in (
        "latency p50 / p95 / p99",
        "images/s",
        "server / bare forward",
        "CPU ms",
        "/health after",
    ):
        assert key in result.output


def test_serve_backend_and_faces_reach_the_app(
    tiny_bundle: Path,  # noqa: F811
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import uvicorn

    import fakescope.serve.app as app_mod
    from fakescope.inference.onnx_runtime import ONNX_FILE

    pytest.importorskip("cv2")
    seen: dict[str, Any] = {}
    real_create = app_mod.create_app

    def spy(*args: Any, **kwargs: Any) -> Any:
        seen.update(kwargs)
        return real_create(*args, **kwargs)

    monkeypatch.setattr(app_mod, "create_app", spy)
    monkeypatch.setattr(uvicorn, "run", lambda app, **kw: seen.update(app=app))
    result = CliRunner().invoke(cli, ["serve", "--model", str(tiny_bundle), "--faces"])
    assert result.exit_code == 0, result.output
    assert seen["faces"] is True and seen["backend"] == "torch"
    assert seen["app"].state.fakescope.faces is True
    # onnxruntime needs the export: a one-line error before anything is served
    result = CliRunner().invoke(cli, ["serve", "-m", str(tiny_bundle), "--backend", "onnxruntime"])
    assert result.exit_code == 2
    lines = _error_lines(result.stderr)
    assert len(lines) == 1 and f"no {ONNX_FILE}" in lines[0] and "fakescope export" in lines[0]
    result = CliRunner().invoke(cli, ["serve", "-m", str(tiny_bundle), "--backend", "tensorrt"])
    assert result.exit_code == 2 and "backend 'tensorrt' is not available" in result.stderr


def test_serve_onnxruntime_backend_loads_the_export(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import uvicorn
    from fastapi.testclient import TestClient

    from tests.inference.test_onnx import random_cnn
    from tests.serve.serve_helpers import wait_until

    pytest.importorskip("onnxruntime")
    from fakescope.inference.onnx_export import export_onnx

    bundle = random_cnn().save(tmp_path / "cnn")
    export_onnx(bundle)
    seen: dict[str, Any] = {}
    monkeypatch.setattr(uvicorn, "run", lambda app, **kw: seen.update(app=app))
    result = CliRunner().invoke(cli, ["serve", "-m", str(bundle), "--backend", "onnxruntime"])
    assert result.exit_code == 0, result.output
    with TestClient(seen["app"]) as c:
        wait_until(lambda: c.get("/ready").status_code == 200, "the export to load")
        assert seen["app"].state.fakescope.model.backend == "onnxruntime"
        assert (
            c.post("/v1/detect", files=[("files", ("a.png", _png(), "image/png"))]).status_code
            == 200
        )


def _png() -> bytes:
    from tests.serve.serve_helpers import image_bytes

    return image_bytes(90, size=40)
