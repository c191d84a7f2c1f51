"""``fakescope check``: JSON in input order with per-image errors, exit codes, table, calibration."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from typer.testing import CliRunner

from fakescope.cli.app import app
from fakescope.data.index import index_dataset
from fakescope.data.schema import SPLIT
from fakescope.detectors.base import Detector
from fakescope.inference.fit_bundle import calibrate_detector
from tests.conftest import write_image

KEYS = {"path", "p_fake", "p_fake_raw", "verdict", "reason", "ood_score", "class", "error"}


@pytest.fixture
def images(tmp_path: Path) -> list[Path]:
    good1 = write_image(tmp_path / "b_first.png", 1, fmt="PNG")
    broken = tmp_path / "a_broken.jpg"
    broken.write_text("not an image")
    good2 = write_image(tmp_path / "c_last.jpg", 2, fake=True)
    return [good1, broken, tmp_path / "missing.png", good2]


def test_json_keeps_input_order_with_broken_files_in_the_middle(
    runner: CliRunner, tiny_bundle: Path, images: list[Path]
) -> None:
    res = runner.invoke(app, ["check", *map(str, images), "--model", str(tiny_bundle), "--json"])
    assert res.exit_code == 0, res.output
    rows = json.loads(res.stdout)
    assert [r["path"] for r in rows] == [str(p) for p in images]
    assert all(set(r) >= KEYS for r in rows)
    ok = [r for i, r in enumerate(rows) if i in (0, 3)]
    bad = [rows[1], rows[2]]
    for r in ok:
        assert r["error"] == "" and 0 <= r["p_fake"] <= 1 and r["verdict"] in {"real", "fake"}
        assert r["reason"].endswith("(uncalibrated)") and r["ood_score"] is None
    for r in bad:
        assert r["error"] and r["p_fake"] is None and r["verdict"] == ""
    assert "not an image" in rows[1]["error"]
    assert "no calibration.json" in res.stderr


def test_nothing_scored_exits_1(runner: CliRunner, tiny_bundle: Path, images: list[Path]) -> None:
    res = runner.invoke(
        app, ["check", str(images[1]), str(images[2]), "--model", str(tiny_bundle), "--json"]
    )
    assert res.exit_code == 1
    assert [bool(r["error"]) for r in json.loads(res.stdout)] == [True, True]


def test_table_output_and_folder_argument(
    runner: CliRunner, tiny_bundle: Path, images: list[Path], tmp_path: Path
) -> None:
    res = runner.invoke(app, ["check", str(images[0]), str(tmp_path), "-m", str(tiny_bundle)])
    assert res.exit_code == 0, res.output
    flat = "".join(res.stdout.split())  # the table folds long cells over lines
    assert "b_first.png" in flat and "isafolder" in flat
    assert "verdict" in flat and "p_fake" in flat


def test_user_errors_exit_2(runner: CliRunner, images: list[Path], tmp_path: Path) -> None:
    res = runner.invoke(app, ["check", str(images[0]), "--model", str(tmp_path / "nope")])
    assert res.exit_code == 2 and "no bundle at" in res.stderr


def test_calibrated_bundle(
    runner: CliRunner, tiny_bundle: Path, dataset: Path, images: list[Path], tmp_path: Path
) -> None:
    bundle = tmp_path / "cal"
    shutil.copytree(tiny_bundle, bundle)
    table = index_dataset(dataset)
    cal = calibrate_detector(Detector.load(bundle), table[table[SPLIT] == "val"], alpha=0.5)
    cal.save(bundle)
    res = runner.invoke(app, ["check", str(images[0]), str(images[3]), "-m", str(bundle), "--json"])
    assert res.exit_code == 0, res.output
    rows = json.loads(res.stdout)
    for r in rows:
        assert r["p_fake"] == pytest.approx(float(cal.transform(r["p_fake_raw"])))
        assert "uncalibrated" not in r["reason"]
        assert r["verdict"] in {"real", "fake", "unsure"}
    assert "no calibration.json" not in res.stderr


def test_faces_json_has_boxes_and_onnx_needs_an_export(
    runner: CliRunner, tiny_bundle: Path, shared_data: Path, tmp_path: Path
) -> None:
    import zipfile

    pytest.importorskip("cv2")
    face = tmp_path / "face.jpg"
    with zipfile.ZipFile(shared_data / "lfw-deepfunneled-8k.zip") as zf:
        face.write_bytes(zf.read("lfw/AJ_Cook/AJ_Cook_0001.jpg"))
    res = runner.invoke(app, ["check", str(face), "-m", str(tiny_bundle), "--faces", "--json"])
    assert res.exit_code == 0, res.output
    (row,) = json.loads(res.stdout)
    assert set(row) == KEYS | {"faces"} and len(row["faces"]) == 1
    f = row["faces"][0]
    assert f["p_fake"] == row["p_fake"] and row["reason"].endswith("1 face")
    x0, y0, x1, y1 = f["crop"]
    assert x0 <= f["box"][0] and y0 <= f["box"][1] and x1 >= f["box"][2] and y1 >= f["box"][3]
    res = runner.invoke(app, ["check", str(face), "-m", str(tiny_bundle), "--faces"])
    assert res.exit_code == 0 and "1 face" in res.stdout
    res = runner.invoke(
        app, ["check", str(face), "-m", str(tiny_bundle), "--backend", "onnxruntime"]
    )
    assert res.exit_code == 2 and "run fakescope export" in res.stderr


def test_explain_writes_one_heatmap_per_scored_image(
    runner: CliRunner, cnn_bundle: Path, tmp_path: Path
) -> None:
    import numpy as np
    from PIL import Image

    from fakescope.inference.heatmap import heatmap_png
    from fakescope.inference.verdict import VerdictModel

    pytest.importorskip("pytorch_grad_cam")
    rng = np.random.default_rng(0)
    a, b = tmp_path / "wide.png", tmp_path / "tall.png"
    Image.fromarray(rng.integers(0, 256, (40, 56, 3), dtype=np.uint8)).save(a)
    Image.fromarray(rng.integers(0, 256, (60, 36, 3), dtype=np.uint8)).save(b)
    broken = tmp_path / "broken.png"
    broken.write_bytes(b"not an image")
    heat = tmp_path / "heat"
    args = ["check", str(a), str(broken), str(b), "-m", str(cnn_bundle), "--explain", str(heat)]
    res = runner.invoke(app, [*args, "--json"])
    assert res.exit_code == 0, res.output
    rows = json.loads(res.stdout)
    assert rows[1]["heatmap"] is None and rows[1]["error"]
    vm = VerdictModel.load(cnn_bundle)
    for row, src, size in ((rows[0], a, (56, 40)), (rows[2], b, (36, 60))):
        out = Path(row["heatmap"])
        assert out.parent == heat and out.name == f"{src.stem}.heat.png"
        with Image.open(out) as png:
            assert png.format == "PNG" and png.size == size
        with Image.open(src) as img:  # the heatmap of THIS image, not of another one
            assert out.read_bytes() == heatmap_png(vm, img.convert("RGB"))
    assert sorted(p.name for p in heat.iterdir()) == ["tall.heat.png", "wide.heat.png"]
    table = runner.invoke(app, args)
    assert table.exit_code == 0 and "heatmap" in table.stdout


def test_explain_with_an_unsupported_detector_is_one_line(
    runner: CliRunner, tiny_bundle: Path, images: list[Path], tmp_path: Path
) -> None:
    heat = tmp_path / "heat"
    res = runner.invoke(
        app, ["check", str(images[0]), "-m", str(tiny_bundle), "--explain", str(heat)]
    )
    assert res.exit_code == 2, res.output
    lines = [line for line in res.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error:") and "heatmap" in lines[0].lower()
    assert not heat.exists() and res.stdout == ""


def test_model_flag_wins_over_the_default_model(
    runner: CliRunner,
    tiny_bundle: Path,
    images: list[Path],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from fakescope.inference.default_model import ENV_VAR

    monkeypatch.setenv(ENV_VAR, str(tmp_path / "no-such-bundle"))  # would fail if consulted
    res = runner.invoke(app, ["check", str(images[0]), "-m", str(tiny_bundle), "--json"])
    assert res.exit_code == 0, res.output
    assert "model:" not in res.output
    res = runner.invoke(app, ["check", str(images[0]), "--json"])
    assert res.exit_code == 2 and ENV_VAR in res.stderr and res.stdout == ""
