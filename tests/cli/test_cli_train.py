"""``fakescope train`` end to end with a tiny cnn (the session bundle), then eval and scan it."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from fakescope.bundle import read_meta
from fakescope.cli import app

pytestmark = pytest.mark.slow  # the session fixture trains a resnet18 (about 10 s on 2 cores)


def test_train_writes_a_loadable_bundle(cnn_bundle: Path) -> None:
    meta = read_meta(cnn_bundle)
    assert meta["detector"] == "cnn"
    assert meta["classes"] == ["real", "fake"]
    assert meta["input"]["size"] == 32
    assert 0.0 <= meta["threshold"] <= 1.0
    assert sorted(p.name for p in cnn_bundle.parent.iterdir()) == ["cnn"]  # no temp dirs


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
