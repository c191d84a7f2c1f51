"""``fakescope scan``: per-file error rows, exit codes, atomic output, thresholds, classes."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from PIL import Image
from typer.testing import CliRunner

from fakescope.cli.app import app
from tests.cli.conftest import error_lines
from tests.cli.tiny_detector import TinyDetector
from tests.conftest import write_image

SCAN = ["--workers", "0", "--no-progress"]


@pytest.fixture
def broken(tmp_path: Path) -> Path:
    """A folder of good and broken files (see the names)."""
    d = tmp_path / "mixed"
    d.mkdir()
    (d / "zero.jpg").write_bytes(b"")
    good = write_image(d / "ok.jpg", 1, size=64)
    (d / "truncated.jpg").write_bytes(good.read_bytes()[: good.stat().st_size // 2])
    (d / "text.jpg").write_text("this is not an image\n")
    (d / "x.jpg").mkdir()  # a folder with an image name is walked, not read
    write_image(d / "x.jpg" / "inner.png", 2, fmt="PNG")
    rgba = np.zeros((32, 32, 4), np.uint8)
    rgba[..., 0], rgba[..., 3] = 200, np.linspace(0, 255, 32, dtype=np.uint8)
    Image.fromarray(rgba, "RGBA").save(d / "alpha.png")
    Image.fromarray(np.full((32, 32), 90, np.uint8), "L").save(d / "gray.png")
    (d / "notes.txt").write_text("skipped: not an image extension")
    return d


BROKEN = {"zero.jpg", "truncated.jpg", "text.jpg"}
GOOD = {"ok.jpg", "alpha.png", "gray.png", "x.jpg/inner.png"}


def rel(path: str, root: Path) -> str:
    return Path(path).relative_to(root).as_posix()


def test_broken_files_get_error_rows_and_exit_0(
    runner: CliRunner, tiny_bundle: Path, broken: Path, tmp_path: Path
) -> None:
    out = tmp_path / "res" / "results.csv"
    result = runner.invoke(
        app, ["scan", str(broken), "--model", str(tiny_bundle), "--out", str(out), *SCAN]
    )
    assert result.exit_code == 0, result.output
    table = pd.read_csv(out, keep_default_na=False)
    assert list(table.columns) == [
        "path",
        "p_fake",
        "p_fake_raw",
        "verdict",
        "reason",
        "ood_score",
        "error",
    ]
    rows = {rel(p, broken): r for p, r in zip(table["path"], table.to_dict("records"), strict=True)}
    assert set(rows) == BROKEN | GOOD
    for name in BROKEN:
        assert (
            rows[name]["error"] != "" and rows[name]["p_fake"] == "" and rows[name]["verdict"] == ""
        )
    for name in GOOD:
        assert rows[name]["error"] == ""
        assert 0.0 <= float(rows[name]["p_fake"]) <= 1.0
        assert rows[name]["verdict"] in {"fake", "real"}
    assert "empty file" in rows["zero.jpg"]["error"]
    assert "not an image" in rows["text.jpg"]["error"]
    assert "scanned 7 files" in result.stdout and "3 errors" in result.stdout
    assert [p.name for p in out.parent.iterdir()] == ["results.csv"]  # no temp file left


def test_explicit_file_is_scanned_whatever_its_extension(
    runner: CliRunner, tiny_bundle: Path, broken: Path, tmp_path: Path
) -> None:
    out = tmp_path / "r.jsonl"
    args = ["scan", str(broken / "notes.txt"), str(broken / "ok.jpg"), "--model", str(tiny_bundle)]
    result = runner.invoke(app, [*args, "--out", str(out), *SCAN])
    assert result.exit_code == 0, result.output
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert [Path(r["path"]).name for r in rows] == ["notes.txt", "ok.jpg"]
    assert (
        rows[0]["p_fake"] is None
        and rows[0]["verdict"] == ""
        and "not an image" in rows[0]["error"]
    )
    assert rows[1]["error"] == "" and isinstance(rows[1]["p_fake"], float)


def test_glob_pattern(runner: CliRunner, tiny_bundle: Path, broken: Path, tmp_path: Path) -> None:
    out = tmp_path / "r.csv"
    result = runner.invoke(
        app, ["scan", str(broken / "*.png"), "-m", str(tiny_bundle), "-o", str(out), *SCAN]
    )
    assert result.exit_code == 0, result.output
    assert sorted(Path(p).name for p in pd.read_csv(out)["path"]) == ["alpha.png", "gray.png"]


@pytest.mark.parametrize(
    ("target", "needle"),
    [
        ("missing-dir", "does not exist"),
        ("nothing/*.jpg", "no files match"),
        ("txt-only", "no images found"),
    ],
)
def test_unrunnable_scan_exits_2_with_one_line_and_no_output(
    runner: CliRunner, tiny_bundle: Path, tmp_path: Path, target: str, needle: str
) -> None:
    (tmp_path / "txt-only").mkdir()
    (tmp_path / "txt-only" / "a.txt").write_text("x")
    out = tmp_path / "out" / "r.csv"
    result = runner.invoke(
        app, ["scan", str(tmp_path / target), "--model", str(tiny_bundle), "--out", str(out), *SCAN]
    )
    assert result.exit_code == 2
    lines = error_lines(result.stderr)
    assert len(lines) == 1 and lines[0].startswith("error: ") and needle in lines[0]
    assert "Traceback" not in result.output
    assert not (tmp_path / "out").exists()


def test_bad_bundle_and_bad_out_suffix_exit_2(
    runner: CliRunner, tiny_bundle: Path, broken: Path, tmp_path: Path
) -> None:
    res = runner.invoke(
        app,
        ["scan", str(broken), "--model", str(tmp_path / "nobundle"), "-o", str(tmp_path / "r.csv")],
    )
    assert res.exit_code == 2 and "no bundle at" in res.stderr
    assert not (tmp_path / "r.csv").exists()
    res = runner.invoke(
        app, ["scan", str(broken), "--model", str(tiny_bundle), "-o", str(tmp_path / "r.xlsx")]
    )
    assert res.exit_code == 2 and ".csv or .jsonl" in res.stderr
    res = runner.invoke(
        app, ["scan", str(broken), "--model", str(tiny_bundle), "--threshold", "1.5"]
    )
    assert res.exit_code == 2 and "threshold" in res.stderr


def test_threshold_default_and_override(
    runner: CliRunner, tiny_bundle: Path, dataset: Path, tmp_path: Path
) -> None:
    target = str(dataset / "gan" / "test")
    default = tmp_path / "d.csv"
    assert (
        runner.invoke(
            app, ["scan", target, "-m", str(tiny_bundle), "-o", str(default), *SCAN]
        ).exit_code
        == 0
    )
    saved = TinyDetector.load(tiny_bundle).threshold_
    table = pd.read_csv(default)
    assert (table["verdict"] == np.where(table["p_fake"] >= saved, "fake", "real")).all()
    zero = tmp_path / "z.csv"
    res = runner.invoke(
        app, ["scan", target, "-m", str(tiny_bundle), "-o", str(zero), "-t", "0", *SCAN]
    )
    assert res.exit_code == 0
    assert (pd.read_csv(zero)["verdict"] == "fake").all()
    assert "threshold 0)" in res.stdout
    assert "no calibration.json" in res.stderr  # the note says how to add it


def test_multiclass_bundle_adds_the_predicted_class(
    runner: CliRunner, tiny_multi_bundle: Path, broken: Path, tmp_path: Path
) -> None:
    out = tmp_path / "r.csv"
    res = runner.invoke(
        app, ["scan", str(broken), "-m", str(tiny_multi_bundle), "-o", str(out), *SCAN]
    )
    assert res.exit_code == 0, res.output
    table = pd.read_csv(out, keep_default_na=False)
    assert list(table.columns) == [
        "path",
        "p_fake",
        "p_fake_raw",
        "verdict",
        "reason",
        "ood_score",
        "class",
        "error",
    ]
    assert ((table["class"] == "real") == (table["verdict"] == "real")).all()
    ok = table["error"] == ""
    assert set(table.loc[ok, "class"]) <= {"real", "diffusion", "gan"}
    assert (table.loc[~ok, "class"] == "").all()


def test_interrupt_exits_130_and_keeps_the_old_results(
    runner: CliRunner,
    tiny_bundle: Path,
    broken: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    out = tmp_path / "r.csv"
    out.write_text("old results\n")

    def interrupt(self: TinyDetector, x: object) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(TinyDetector, "_proba_batch", interrupt)
    res = runner.invoke(app, ["scan", str(broken), "-m", str(tiny_bundle), "-o", str(out), *SCAN])
    assert res.exit_code == 130
    assert out.read_text() == "old results\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["mixed", "r.csv"]


def test_without_out_prints_rows(runner: CliRunner, tiny_bundle: Path, broken: Path) -> None:
    res = runner.invoke(app, ["scan", str(broken / "ok.jpg"), "-m", str(tiny_bundle), *SCAN])
    assert res.exit_code == 0
    assert "ok.jpg" in res.stdout and "scanned 1 file:" in res.stdout


# ------------------------------------------------- --backend onnxruntime / --faces
def random_cnn_bundle(out: Path) -> Path:
    """A cnn bundle with random test_resnet weights at 32 px (no training)."""
    import torch

    from fakescope.detectors.cnn import CNNDetector

    det = CNNDetector({"arch": "test_resnet", "img_size": 32, "num_workers": 0})
    det.classes_ = ["real", "fake"]
    torch.manual_seed(0)
    det._restore(dict(det._create(2, start=False).state_dict()), out)
    return det.save(out)


def test_export_then_scan_with_onnxruntime_matches_torch(
    runner: CliRunner, broken: Path, tmp_path: Path
) -> None:
    pytest.importorskip("onnxruntime")
    bundle = random_cnn_bundle(tmp_path / "cnn")
    args = ["scan", str(broken), "-m", str(bundle), *SCAN]
    res = runner.invoke(app, [*args, "--backend", "onnxruntime"])
    assert res.exit_code == 2
    (line,) = error_lines(res.stderr)
    assert "no model.onnx; run fakescope export" in line and "--format onnx" in line
    res = runner.invoke(app, ["export", str(bundle), "--format", "onnx"])
    assert res.exit_code == 0, res.output
    assert "max |dp|" in res.stdout and (bundle / "model.onnx").is_file()
    tables = {}
    for backend in ("torch", "onnxruntime"):
        out = tmp_path / f"{backend}.csv"
        res = runner.invoke(app, [*args, "--backend", backend, "-o", str(out)])
        assert res.exit_code == 0, res.output
        tables[backend] = pd.read_csv(out, keep_default_na=False)
    t, o = tables["torch"], tables["onnxruntime"]
    assert list(t["path"]) == list(o["path"]) and list(t["error"] != "") == list(o["error"] != "")
    ok = t["error"] == ""
    p_t = t.loc[ok, "p_fake_raw"].astype(float).to_numpy()
    p_o = o.loc[ok, "p_fake_raw"].astype(float).to_numpy()
    assert len(p_t) == len(GOOD) and np.abs(p_t - p_o).max() <= 1e-4
    res = runner.invoke(app, [*args, "--backend", "tensorrt"])
    assert res.exit_code == 2 and "backend 'tensorrt' is not available" in res.stderr
    res = runner.invoke(app, ["export", str(bundle), "--format", "tflite"])
    assert res.exit_code == 2 and "unknown export format 'tflite'" in res.stderr


def test_export_refuses_a_detector_without_an_export_module(
    runner: CliRunner, tiny_bundle: Path
) -> None:
    res = runner.invoke(app, ["export", str(tiny_bundle), "--format", "onnx"])
    assert res.exit_code == 2
    (line,) = error_lines(res.stderr)
    assert "cannot be exported to ONNX" in line and not (tiny_bundle / "model.onnx").exists()


def test_scan_faces_adds_face_columns(
    runner: CliRunner, tiny_bundle: Path, shared_data: Path, tmp_path: Path
) -> None:
    import zipfile

    pytest.importorskip("cv2")
    d = tmp_path / "faces"
    d.mkdir()
    with zipfile.ZipFile(shared_data / "lfw-deepfunneled-8k.zip") as zf:
        (d / "face.jpg").write_bytes(zf.read("lfw/AJ_Cook/AJ_Cook_0001.jpg"))
    noise = np.random.default_rng(0).integers(0, 256, (120, 120, 3), dtype=np.uint8)
    Image.fromarray(noise).save(d / "noise.png")
    (d / "text.jpg").write_text("not an image")
    out = tmp_path / "faces.csv"
    res = runner.invoke(app, ["scan", str(d), "-m", str(tiny_bundle), "--faces", "-o", str(out)])
    assert res.exit_code == 0, res.output
    table = pd.read_csv(out, keep_default_na=False).set_index("path")
    assert list(table.columns)[-3:] == ["faces", "face_boxes", "error"]
    face = table.loc[str(d / "face.jpg")]
    assert int(face["faces"]) == 1 and face["reason"].endswith("1 face")
    ((box,),) = [[f["box"] for f in json.loads(face["face_boxes"])]]
    cx, cy = (box[0] + box[2]) / 2, (box[1] + box[3]) / 2
    assert abs(cx - 125) < 25 and abs(cy - 125) < 25  # LFW faces are centred in 250x250
    empty = table.loc[str(d / "noise.png")]
    assert int(empty["faces"]) == 0 and empty["reason"].startswith("no face found")
    assert table.loc[str(d / "text.jpg")]["error"] and table.loc[str(d / "text.jpg")]["faces"] == ""


def test_scan_with_the_default_model_keeps_the_output_columns(
    runner: CliRunner,
    tiny_bundle: Path,
    broken: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from fakescope.inference.default_model import ENV_VAR

    monkeypatch.setenv(ENV_VAR, str(tiny_bundle))  # a bundle without SHA256SUMS: not checked
    implicit, explicit = tmp_path / "implicit.jsonl", tmp_path / "explicit.jsonl"
    res = runner.invoke(app, ["scan", str(broken), "-o", str(implicit), *SCAN])
    assert res.exit_code == 0, res.output
    assert res.stdout.splitlines()[0].startswith("model: fakescope default (version ")
    ref = runner.invoke(
        app, ["scan", str(broken), "-m", str(tiny_bundle), "-o", str(explicit), *SCAN]
    )
    assert ref.exit_code == 0 and "model:" not in ref.stdout
    assert implicit.read_text() == explicit.read_text()
    assert res.stdout.splitlines()[-1] == ref.stdout.splitlines()[-1]  # the same summary line
