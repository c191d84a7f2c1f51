"""Smoke-sized OOD benchmark: report structure, one-line errors, far OOD is detected."""

from __future__ import annotations

import json
import zipfile
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from typer.testing import CliRunner

from fakescope.errors import ConfigError, DataError, FakescopeError
from fakescope.ood.benchmark import BenchmarkResult, parse_ood, run_benchmark
from fakescope.ood.report import write_ood_report

TINY = {
    "detector": "probe",
    "backbone": "timm:test_resnet",
    "pretrained": False,
    "img_size": 32,
    "target": "cls",
    "num_workers": 0,
    "batch_size": 16,
    "cache_dir": None,
}


def _noise_image(path: Path, seed: int, tint: tuple[int, int, int]) -> None:
    rng = np.random.default_rng(seed)
    img = np.clip(rng.normal(128, 50, (32, 32, 3)) + np.array(tint), 0, 255).astype(np.uint8)
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(img).save(path)


@pytest.fixture(scope="module")
def dirs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("oodbench")
    tints = {"red": (60, -40, -40), "blue": (-40, -40, 60), "green": (-40, 60, -40)}
    for split, n in (("train", 12), ("test", 6)):
        for c, (cls, tint) in enumerate(tints.items()):
            for i in range(n):
                _noise_image(
                    root / "id" / split / cls / f"{i}.png",
                    1000 * c + i + (500 if split == "test" else 0),
                    tint,
                )
    for i in range(10):  # far OOD: smooth grey ramps
        ramp = np.broadcast_to(np.linspace(0, 255, 32)[:, None, None], (32, 32, 3)).astype(np.uint8)
        p = root / "far" / f"{i}.png"
        p.parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray(np.ascontiguousarray(np.roll(ramp, i, axis=0))).save(p)
    with zipfile.ZipFile(root / "sets.zip", "w") as zf:
        for i in range(8):
            zf.write(root / "far" / f"{i}.png", f"ramps/{i}.png")
        zf.writestr("broken/0.png", b"not a png")
    (root / "empty").mkdir()
    return {"root": root, "id": root / "id", "far": root / "far", "zip": root / "sets.zip"}


def test_benchmark_report_and_far_ood(dirs: dict[str, Path]) -> None:
    out = dirs["root"] / "out"
    ood = parse_ood([f"far={dirs['far']}", f"zipped={dirs['zip']}/ramps"])
    result = run_benchmark(dirs["id"], ood, out, detector_params=TINY, synthetic=True)
    write_ood_report(result, out)
    report = json.loads((out / "report.json").read_text())
    rows = report["ood"]
    sets = {r["ood_set"] for r in rows}
    assert sets == {"far", "zipped", "synthetic"}
    scorers = {r["scorer"] for r in rows}
    assert {
        "msp",
        "energy",
        "knn",
        "mahalanobis",
        "vim",
        "odin",
    } <= scorers and "confidence" not in scorers
    for r in rows:
        assert {"auroc", "aupr_in", "aupr_out", "fpr95", "detection_error", "threshold95"} <= set(r)
    assert 0.0 <= report["id_accuracy"] <= 1.0 and report["meta"]["preset"] == "small"
    by = {(r["scorer"], r["ood_set"]): r for r in rows}
    for name in ("knn", "mahalanobis"):
        assert by[(name, "far")]["auroc"] > 0.9, by[(name, "far")]
    # the thesis's abnormality module: fitted on ID training images vs outliers made from them
    assert {r["ood_set"] for r in rows if r["scorer"] == "abnormality"} == sets
    trained = report["meta"]["trained_scorers"]["abnormality"]
    assert trained["n_id"] == 36 and trained["n_outliers"] == 36
    # it learnt the five kinds of damage (on other images): msp scores ~0.5 on that set here
    assert by[("abnormality", "synthetic")]["auroc"] > 0.65, by[("abnormality", "synthetic")]
    assert by[("abnormality", "far")]["auroc"] > 0.9, by[("abnormality", "far")]
    assert set(result.scores["abnormality"]) == {"id", *sets}
    assert (out / "report.md").read_text().count("|") > 10 and (out / "report.html").is_file()
    assert (out / "model" / "meta.json").is_file()
    # a second run loads the saved classifier instead of training
    again = run_benchmark(
        dirs["id"],
        {"far": str(dirs["far"])},
        out,
        detector_params=TINY,
        synthetic=False,
        scorers=["knn"],
    )
    assert again.rows[0]["auroc"] == pytest.approx(by[("knn", "far")]["auroc"])


def test_bad_inputs_are_one_line_errors(dirs: dict[str, Path], tmp_path: Path) -> None:
    def run(ood: dict[str, str], src: Path = dirs["id"]) -> object:
        return run_benchmark(src, ood, tmp_path / "o", detector_params=TINY, synthetic=False)

    with pytest.raises(DataError, match="does not exist"):
        run({"x": str(tmp_path / "missing")})
    with pytest.raises(DataError, match="no image files"):
        run({"x": str(dirs["root"] / "empty")})
    with pytest.raises(DataError, match="no image could be decoded"):
        run({"x": f"{dirs['zip']}/broken"})
    one = tmp_path / "one"
    _noise_image(one / "train" / "a" / "0.png", 0, (0, 0, 0))
    _noise_image(one / "test" / "a" / "0.png", 1, (0, 0, 0))
    with pytest.raises(DataError, match="one class"):
        run({"x": str(dirs["far"])}, one)
    with pytest.raises(DataError, match="NAME=PATH"):
        parse_ood(["nopath"])
    assert not (tmp_path / "o" / "report.json").exists()


def test_cli_command() -> None:
    from fakescope.cli.ood import app

    res = CliRunner().invoke(app, ["benchmark", "--help"])
    assert res.exit_code == 0 and "--ood" in res.output
    res = CliRunner().invoke(
        app, ["benchmark", "--id", "/nope", "--ood", "a=/nope", "--out", "/tmp/x"]
    )
    assert res.exit_code == 2


def test_nan_features_are_an_error(dirs: dict[str, Path], monkeypatch: pytest.MonkeyPatch) -> None:
    from fakescope.detectors.probe import ProbeDetector

    out = dirs["root"] / "out"  # holds the classifier trained by the first test
    if not (out / "model" / "meta.json").is_file():
        run_benchmark(
            dirs["id"],
            {"far": str(dirs["far"])},
            out,
            detector_params=TINY,
            synthetic=False,
            scorers=["msp"],
        )
    monkeypatch.setattr(
        ProbeDetector, "_embed_batch", lambda self, x: np.full((len(x), 96), np.nan, np.float32)
    )
    with pytest.raises(FakescopeError, match="non-finite features"):
        run_benchmark(
            dirs["id"],
            {"far": str(dirs["far"])},
            out,
            detector_params=TINY,
            synthetic=False,
            scorers=["knn"],
        )


def test_abnormality_leaves_the_other_rows_unchanged(dirs: dict[str, Path]) -> None:
    """Adding the trained scorer draws no numbers from the shared subsampling generator."""
    out = dirs["root"] / "out-same"
    ood = {"far": str(dirs["far"])}

    def run(*scorers: str) -> BenchmarkResult:
        return run_benchmark(dirs["id"], ood, out, detector_params=TINY, scorers=scorers)

    without = run("odin", "knn")
    both = run("odin", "knn", "abnormality")
    assert [r for r in both.rows if r["scorer"] != "abnormality"] == without.rows
    assert {r["scorer"] for r in both.rows} == {"odin", "knn", "abnormality"}
    with pytest.raises(ConfigError, match=r"'abnormalty'; choose from: .*abnormality"):
        run("abnormalty")
