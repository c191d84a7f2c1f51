"""``eval --protocol ood``: ID vs OOD generators on a tiny toy benchmark, report rows, errors."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
import torch
from PIL import Image

from fakescope.config import ExperimentConfig, load_config
from fakescope.data.schema import Sample, make_table
from fakescope.detectors.catalog import DETECTORS
from fakescope.errors import ConfigError, DataError, FakescopeError
from fakescope.eval.catalog import PROTOCOLS, run_experiment, run_protocol
from fakescope.eval.ood_protocol import (
    ALL_GENERATORS,
    OOD,
    ROW_KEYS,
    create_ood_scorer,
    id_rows,
    resolve_generators,
)
from fakescope.eval.report import Report
from tests.conftest import write_image
from tests.eval.eval_toys import factory

CONFIGS = sorted((Path(__file__).resolve().parents[2] / "configs" / "ood").glob("*.yaml"))
#: A tiny U-Net scorer with the confidence branch (a few seconds of training on 32 px images).
UNET: dict[str, Any] = {
    "img_size": 32,
    "width": 4,
    "depth": 2,
    "mlp_hidden": 32,
    "batch_size": 16,
    "num_workers": 0,
    "progress": False,
    "epochs": 4,
    "lr": 1e-2,
    "patience": None,
    "confidence": True,
    "residual_size": 8,
}


@pytest.fixture(scope="module", autouse=True)
def _one_torch_thread() -> Iterator[None]:
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def stripes(path: Path, seed: int, colour: tuple[int, int, int]) -> str:
    """A 32 px image of saturated horizontal stripes (nothing like the ID noise images)."""
    rng = np.random.default_rng(seed)
    img = np.zeros((32, 32, 3))
    img[:] = np.array(colour) * rng.uniform(0.7, 1.0)
    img[:: int(rng.integers(2, 5))] = 255 - img[0, 0]
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(img.astype(np.uint8)).save(path, format="PNG")
    return str(path)


def toy_benchmark(root: Path) -> pd.DataFrame:
    """Reals (smooth noise), ID fakes ``gan_a`` (noise + checkerboard, family gan) and two OOD
    generators ``diff_a`` (red stripes) and ``diff_b`` (blue stripes, family diffusion), with a
    generator-tagged real of diff_a in every split (it must be used neither as ID nor as OOD)."""
    counts = {"train": 24, "val": 6, "test": 20}
    rows: list[Sample] = []
    for s_i, (split, n) in enumerate(counts.items()):
        for i in range(n):
            seed = 1000 * s_i + i
            real = write_image(root / split / f"real_{i}.png", seed, fake=False, fmt="PNG")
            fake = write_image(root / split / f"gan_{i}.png", seed + 500, fake=True, fmt="PNG")
            rows.append(Sample(str(real), 0, split=split))
            rows.append(Sample(str(fake), 1, "gan_a", "gan", split))
            for gen, colour in (("diff_a", (220, 30, 30)), ("diff_b", (30, 40, 220))):
                path = stripes(root / split / f"{gen}_{i}.png", seed, colour)
                rows.append(Sample(path, 1, gen, "diffusion", split))
        tagged = write_image(root / split / "diff_a_real.png", 99 + s_i, fake=False, fmt="PNG")
        rows.append(Sample(str(tagged), 0, "diff_a", split=split))
    return make_table(rows)


@pytest.fixture(scope="module")
def bench(tmp_path_factory: pytest.TempPathFactory) -> tuple[pd.DataFrame, Path]:
    root = tmp_path_factory.mktemp("ood-bench")
    folder = root / "extra"
    folder.mkdir()
    for i in range(12):
        Image.new("RGB", (32, 32), (20, 200 + i, 40)).save(folder / f"{i}.png")
    return toy_benchmark(root), folder


def settings(folder: Path | None = None, **more: Any) -> dict[str, Any]:
    out: dict[str, Any] = {
        "scenario": "toy",
        "id_generators": ["gan_a"],
        "ood_generators": ["diffusion"],  # a family name: diff_a and diff_b
        "scorers": ["msp", "knn", "mahalanobis", "energy", "odin", "confidence", "abnormality"],
        "scorer_params": {"knn": {"k": 5}, "abnormality": {"epochs": 5, "hidden": [32]}},
    }
    if folder is not None:
        out["ood_folders"] = {"green": str(folder)}
    return {**out, **more}


@pytest.fixture(scope="module")
def report(bench: tuple[pd.DataFrame, Path], tmp_path_factory: pytest.TempPathFactory) -> Report:
    table, folder = bench
    cfg = ExperimentConfig.model_validate(
        {
            "detector": {"name": "unet", "params": UNET},
            "eval": {"protocol": "ood"},
            "ood": settings(folder),
            "out": str(tmp_path_factory.mktemp("ood-out")),
        }
    )
    torch.manual_seed(0)
    return run_experiment(cfg, lambda: table)


def test_registered() -> None:
    assert "ood" in PROTOCOLS


def test_ood_sets_are_detected(report: Report) -> None:
    section = report.section(OOD)
    assert section is not None
    rows = pd.DataFrame(section.payload())
    assert set(rows["ood_set"]) == {"diff_a", "diff_b", ALL_GENERATORS, "green"}
    assert set(rows["scorer"]) == set(settings()["scorers"])
    auroc = rows.set_index(["scorer", "ood_set"])["auroc"]
    for scorer in ("knn", "mahalanobis"):
        for ood_set in ("diff_a", "diff_b", ALL_GENERATORS, "green"):
            assert auroc[(scorer, ood_set)] > 0.8, (scorer, ood_set, auroc[(scorer, ood_set)])
    assert rows[["auroc", "aupr_in", "aupr_out", "fpr95"]].notna().all().all()
    n = rows.set_index(["scorer", "ood_set"])
    assert n.loc[("knn", "diff_a"), "n_ood"] == 20 and n.loc[("knn", ALL_GENERATORS), "n_ood"] == 40
    assert n.loc[("knn", "diff_a"), "n_id"] == 40  # 20 reals + 20 gan_a fakes; tagged real left out


def test_id_metrics_and_meta(report: Report) -> None:
    m = report.metrics
    assert set(m["train"]) == {"id"}
    assert set(m["generator"]) >= {"gan_a"} and "diff_a" not in set(m["generator"])
    meta = report.meta[OOD]
    assert meta["id_generators"] == ["gan_a"] and meta["ood_generators"] == ["diff_a", "diff_b"]
    assert meta["n_id_train"] == 48  # the diff_a-tagged real is not ID


def test_report_json_rows_have_the_documented_keys(report: Report, tmp_path: Path) -> None:
    report.write(tmp_path, html_report=True)
    data = json.loads((tmp_path / "report.json").read_text())
    assert isinstance(data[OOD], list) and data[OOD]
    for row in data[OOD]:
        assert set(ROW_KEYS) <= set(row)
    back = Report.from_json((tmp_path / "report.json").read_text())
    section = back.section(OOD)
    assert section is not None and section.payload() == data[OOD]
    assert "Out-of-distribution" in (tmp_path / "report.html").read_text()
    assert "Out-of-distribution" in (tmp_path / "report.md").read_text()


def test_rows_and_generator_resolution(bench: tuple[pd.DataFrame, Path]) -> None:
    table, _ = bench
    assert resolve_generators(["diffusion", "diff_a"], table, "x") == ["diff_a", "diff_b"]
    test = table[table["split"] == "test"]
    rows = id_rows(test, ["gan_a"], ["diff_a", "diff_b"])
    assert set(rows["generator"]) == {"", "gan_a"} and len(rows) == 40


def _toy(table: pd.DataFrame, **ood: Any) -> Report:
    return run_protocol("ood", table, factory("red"), options={"ood": settings(**ood)})


def test_errors_are_one_line(bench: tuple[pd.DataFrame, Path], tmp_path: Path) -> None:
    table, _ = bench
    with pytest.raises(DataError, match=r"unknown generator or family 'stylegan'.*gan_a"):
        _toy(table, id_generators=["stylegan"])
    with pytest.raises(DataError, match="diff_a, diff_b, gan_a; families: diffusion, gan"):
        _toy(table, ood_generators=["nope"])
    with pytest.raises(ConfigError, match="both ID and OOD"):
        _toy(table, ood_generators=["gan_a"])
    with pytest.raises(ConfigError, match=r"needs ood\.id_generators"):
        _toy(table, id_generators=[])
    with pytest.raises(ConfigError, match="unknown ood scorer 'mps'"):
        _toy(table, scorers=["mps"])
    with pytest.raises(DataError, match="no fakes in the test split"):
        _toy(table[(table["generator"] != "diff_b") | (table["split"] != "test")])
    with pytest.raises(DataError, match="no images under"):
        (tmp_path / "empty").mkdir()
        _toy(table, ood_folders={"e": str(tmp_path / "empty")})
    # the toy detector has no confidence branch and no differentiable path
    with pytest.raises(ConfigError, match="confidence branch"):
        _toy(table, scorers=["msp", "confidence"])
    with pytest.raises(FakescopeError, match="odin"):
        _toy(table, scorers=["odin"])


def test_any_detector_and_options_as_a_plain_dict(bench: tuple[pd.DataFrame, Path]) -> None:
    """A detector without logits, confidence or residuals still gets the feature scorers."""
    table, _ = bench
    rep = _toy(table, scorers=["knn", "msp"])
    section = rep.section(OOD)
    assert section is not None
    rows = pd.DataFrame(section.payload())
    assert len(rows) == 2 * 3 and set(rows["ood_set"]) == {"diff_a", "diff_b", ALL_GENERATORS}
    assert rows["auroc"].between(0, 1).all()
    assert create_ood_scorer("abnormality").name == "abnormality"


@pytest.mark.parametrize("path", CONFIGS, ids=[p.stem for p in CONFIGS])
def test_scenario_configs_validate(path: Path) -> None:
    cfg = load_config(path)
    DETECTORS.get(cfg.detector.name)(cfg.detector.params)
    assert cfg.eval.protocol == "ood" and cfg.data.root is None
    header_text = path.read_text()
    # OOD sets: generators of the benchmark, or folders given on the command line
    assert cfg.ood.id_generators
    assert cfg.ood.ood_generators or "--set ood.ood_folders." in header_text
    for name in cfg.ood.scorers:
        create_ood_scorer(name, cfg.ood.scorer_params.get(name))
    header = [line for line in path.read_text().splitlines() if line.startswith("#")]
    assert any(f"--config configs/ood/{path.name} --data PATH" in line for line in header)
