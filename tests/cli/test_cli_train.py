"""``fakescope train`` end to end with a tiny cnn (the session bundle), then eval and scan it."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from fakescope.bundle import read_meta
from fakescope.cli.app import app


@pytest.mark.slow  # trains a resnet18 (about 10 s on 2 cores)
def test_train_writes_a_loadable_bundle(cnn_bundle: Path) -> None:
    meta = read_meta(cnn_bundle)
    assert meta["detector"] == "cnn"
    assert meta["classes"] == ["real", "fake"]
    assert meta["input"]["size"] == 32
    assert 0.0 <= meta["threshold"] <= 1.0
    assert sorted(p.name for p in cnn_bundle.parent.iterdir()) == ["cnn"]  # no temp dirs


@pytest.mark.slow  # trains a resnet18 (about 10 s on 2 cores)
def test_trained_cnn_evaluates_and_scans(
    runner: CliRunner, cnn_bundle: Path, dataset: Path, tmp_path: Path
) -> None:
    rep = tmp_path / "rep"
    res = runner.invoke(
        app,
        [
            "eval",
            "--model",
            str(cnn_bundle),
            "--data",
            str(dataset),
            "--out",
            str(rep),
            "--no-progress",
        ],
    )
    assert res.exit_code == 0, res.output
    report = json.loads((rep / "report.json").read_text())
    assert report["meta"]["detector"] == "cnn"
    out = tmp_path / "scan.csv"
    res = runner.invoke(
        app,
        [
            "scan",
            str(dataset / "gan" / "test"),
            "-m",
            str(cnn_bundle),
            "-o",
            str(out),
            "--workers",
            "0",
        ],
    )
    assert res.exit_code == 0, res.output
    table = pd.read_csv(out, keep_default_na=False)
    assert len(table) == 6 and (table["error"] == "").all()
    assert table["p_fake"].between(0, 1).all()


@pytest.mark.slow  # trains a resnet18 (about 10 s on 2 cores)
def test_train_prints_where_the_bundle_is(runner: CliRunner, dataset: Path, tmp_path: Path) -> None:
    from tests.cli.conftest import TINY_CNN

    cfg = tmp_path / "exp.yaml"
    cfg.write_text(f"data:\n  root: {dataset}\nout: bundles/b\n")
    res = runner.invoke(
        app, ["train", "--config", str(cfg), *TINY_CNN, "--set", "detector.params.patience=0"]
    )
    assert res.exit_code == 0, res.output
    where = (tmp_path / "bundles" / "b").resolve()
    assert f"saved bundle to {where}" in res.stdout
    assert read_meta(where)["detector"] == "cnn"


TINY = ["--detector", "tiny-test", "--set", "detector.params.num_workers=0"]


@pytest.mark.parametrize("extras", [True, False])
def test_train_adds_calibration_and_abstainer_unless_told_not_to(
    runner: CliRunner, dataset: Path, tmp_path: Path, extras: bool
) -> None:
    from fakescope.inference.verdict import VerdictModel

    out = tmp_path / "b"
    flags = ["--alpha", "0.5"] if extras else ["--no-calibrate", "--no-ood"]
    res = runner.invoke(app, ["train", "--data", str(dataset), "--out", str(out), *TINY, *flags])
    assert res.exit_code == 0, res.output
    assert (out / "calibration.json").is_file() == extras
    assert (out / "ood.json").is_file() == extras
    vm = VerdictModel.load(out)
    assert (vm.calibrator is not None) == extras and (vm.abstainer is not None) == extras
    if extras:
        assert vm.calibrator is not None and vm.calibrator.band is not None
        # 12 val images: 6 (3 real + 3 fake) set the threshold, the other 6 the calibration
        assert vm.calibrator.n_val == 6 and "platt calibration" in res.stdout
        assert "OOD abstainer" in res.stdout
        verdicts = vm.decide_paths(sorted((dataset / "gan" / "test").rglob("*.png")))
        assert all(v.ood_score is not None and v.verdict for v in verdicts)


def test_default_alpha_with_a_small_val_split_warns_and_keeps_calibration(
    runner: CliRunner, dataset: Path, tmp_path: Path
) -> None:
    out = tmp_path / "b"
    res = runner.invoke(
        app, ["train", "--data", str(dataset), "--out", str(out), *TINY, "--no-ood"]
    )
    assert res.exit_code == 0, res.output
    assert "unsure band off" in res.stdout and "needs at least 19" in res.stdout
    assert (out / "calibration.json").is_file() and not (out / "ood.json").exists()
    res = runner.invoke(
        app, ["train", "--data", str(dataset), "--out", str(out), *TINY, "--alpha", "1"]
    )
    assert res.exit_code == 2 and "--alpha" in res.stderr


@pytest.mark.parametrize("progress", [True, False])
def test_no_progress_hides_the_bars_of_calibration_and_abstainer(
    runner: CliRunner, dataset: Path, tmp_path: Path, progress: bool
) -> None:
    flags = [] if progress else ["--no-progress"]
    res = runner.invoke(
        app, ["train", "--data", str(dataset), "--out", str(tmp_path / "b"), *TINY, *flags]
    )
    assert res.exit_code == 0, res.output
    assert ("calibrating" in res.output) is progress
    assert ("ood: training features" in res.output) is progress
    assert "saved bundle to" in res.output and "OOD abstainer" in res.output  # results stay


def test_train_records_which_data_set_what_and_bundle_info_shows_it(
    runner: CliRunner, dataset: Path, tmp_path: Path
) -> None:
    out = tmp_path / "b"
    flags = ["--alpha", "0.5", "--cal-fraction", "0.34"]
    res = runner.invoke(app, ["train", "--data", str(dataset), "--out", str(out), *TINY, *flags])
    assert res.exit_code == 0, res.output
    uses = {u["step"]: (u["data"], u["rows"]) for u in read_meta(out)["data_use"]}
    # 12 val images, 6 per label: round(6 * .34) = 2 per label go to calibration
    assert uses["weights"] == ("train", 24)
    assert uses["early stopping / threshold"] == ("val", 8)
    for step in ("platt calibration", "unsure band", "ood threshold"):
        assert uses[step] == ("calibration", 4)
    info = runner.invoke(app, ["bundle", "info", str(out)])
    assert info.exit_code == 0, info.output
    assert "data: unsure band" in info.stdout and "calibration (4 images)" in info.stdout
    assert "val (8 images)" in info.stdout
    bad = runner.invoke(
        app, ["train", "--data", str(dataset), "--out", str(out), *TINY, "--cal-fraction", "1"]
    )
    assert bad.exit_code == 2 and "--cal-fraction" in bad.stderr
