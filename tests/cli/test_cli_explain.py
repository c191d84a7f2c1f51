"""``fakescope explain``: heatmap PNGs of the input's size, verdicts as ``check`` gives them."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from typer.testing import CliRunner

from fakescope.cli.app import app

pytest.importorskip("pytorch_grad_cam")


def _image(path: Path, w: int, h: int, seed: int) -> Path:
    rng = np.random.default_rng(seed)
    Image.fromarray(rng.integers(0, 256, (h, w, 3), dtype=np.uint8)).save(path)
    return path


def test_explain_writes_a_png_of_the_input_size(
    runner: CliRunner, cnn_bundle: Path, tmp_path: Path
) -> None:
    img = _image(tmp_path / "a.png", 48, 40, 0)
    out = tmp_path / "heat.png"
    result = runner.invoke(
        app, ["explain", str(img), "--model", str(cnn_bundle), "--out", str(out), "--json"]
    )
    assert result.exit_code == 0, result.output
    with Image.open(out) as heat:
        assert heat.format == "PNG" and heat.size == (48, 40)
    rows = json.loads(result.stdout)
    check = runner.invoke(app, ["check", str(img), "--model", str(cnn_bundle), "--json"])
    same = json.loads(check.stdout)[0]
    assert rows[0]["heatmap"] == str(out)
    assert rows[0]["verdict"] == same["verdict"] and rows[0]["verdict"] in (
        "real",
        "fake",
        "unsure",
    )
    assert rows[0]["p_fake"] == pytest.approx(same["p_fake"], abs=1e-5)


def test_explain_into_a_folder_keeps_going_after_a_bad_file(
    runner: CliRunner, cnn_bundle: Path, tmp_path: Path
) -> None:
    a = _image(tmp_path / "x.png", 33, 50, 1)
    (tmp_path / "sub").mkdir()
    b = _image(tmp_path / "sub" / "x.png", 64, 32, 2)
    bad = tmp_path / "broken.png"
    bad.write_bytes(b"not an image")
    out = tmp_path / "heat"
    result = runner.invoke(
        app,
        [
            "explain",
            str(a),
            str(bad),
            str(b),
            "--model",
            str(cnn_bundle),
            "--out",
            str(out),
            "--json",
        ],
    )
    assert result.exit_code == 0, result.output
    with Image.open(out / "x.heat.png") as first, Image.open(out / "x-2.heat.png") as second:
        assert first.size == (33, 50) and second.size == (64, 32)
    assert not (out / "broken.heat.png").exists()
    rows = json.loads(result.stdout)
    assert [bool(r["heatmap"]) for r in rows] == [True, False, True]
    assert rows[1]["error"] and rows[1]["verdict"] == "" and rows[1]["path"] == str(bad)


def test_explain_unsupported_detector_is_one_error_line(
    runner: CliRunner, tiny_bundle: Path, tmp_path: Path
) -> None:
    img = _image(tmp_path / "a.png", 32, 32, 3)
    result = runner.invoke(
        app, ["explain", str(img), "--model", str(tiny_bundle), "--out", str(tmp_path / "h.png")]
    )
    assert result.exit_code == 2
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error:") and "heatmaps need" in lines[0]
    assert not (tmp_path / "h.png").exists()


def test_explain_one_png_for_several_images_is_an_error(
    runner: CliRunner, tiny_bundle: Path, tmp_path: Path
) -> None:
    a, b = _image(tmp_path / "a.png", 8, 8, 4), _image(tmp_path / "b.png", 8, 8, 5)
    result = runner.invoke(
        app,
        ["explain", str(a), str(b), "--model", str(tiny_bundle), "--out", str(tmp_path / "h.png")],
    )
    assert result.exit_code == 2 and "pass a folder" in result.output
