"""The ``hierarchy`` detector: tree building, path probabilities, routing, bundles, bad input.

Tiny data: 32 px PNGs of smooth noise (not piecewise constant, so no trivial
shortcut), generators g_a + g_b (family "gan") and d_a ("diffusion"), each adding
its own period-2 pattern: g_a horizontal stripes, g_b vertical stripes, d_a a
checkerboard. Every level's classes are balanced in the test, so chance is
known (0.5 per level, 0.25 end to end) and the tree is checked to beat it.
Nodes: probes on timm's random-init ``test_resnet`` at 32 px (no cache); the
main tree's level 1 is a 1-epoch cnn at 24 px, so nodes preprocess differently.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
import torch
from PIL import Image
from safetensors.torch import load_file

from fakescope.data.decode import load_image
from fakescope.data.schema import Sample, make_table
from fakescope.data.transforms import eval_transform
from fakescope.detectors.catalog import DETECTORS, Detector
from fakescope.detectors.hierarchy import HierarchyDetector
from fakescope.errors import ConfigError, DataError
from fakescope.eval.attribution import evaluate_attribution

FAMILIES = {"g_a": "gan", "g_b": "gan", "d_a": "diffusion"}
PROBE: dict[str, Any] = {
    "name": "probe",
    "params": {
        "backbone": "timm:test_resnet",
        "pretrained": False,
        "img_size": 32,
        "cache_dir": None,
        "batch_size": 16,
    },
}
CNN: dict[str, Any] = {
    "name": "cnn",
    "params": {
        "arch": "test_resnet",
        "img_size": 24,
        "epochs": 1,
        "batch_size": 8,
        "progress": False,
        "patience": None,
    },
}


#: Amplitude (grey levels) of each generator's pattern on top of the smooth noise.
PATTERN_AMPLITUDE = 24.0


def pattern(generator: str, size: int) -> np.ndarray:
    """[size, size] of +-1: g_a rows, g_b columns, d_a a checkerboard; zeros for reals ("")."""
    i, j = np.mgrid[0:size, 0:size]
    cells = {"g_a": i % 2 == 0, "g_b": j % 2 == 0, "d_a": (i + j) % 2 == 0}
    if generator not in cells:
        return np.zeros((size, size))
    return np.where(cells[generator], 1.0, -1.0)


def write_pattern_image(path: Path, seed: int, generator: str, size: int = 32) -> Path:
    """A PNG of bilinearly up-sampled noise + pixel noise, plus ``generator``'s pattern."""
    rng = np.random.default_rng(seed)
    small = Image.fromarray(rng.uniform(40, 215, (size // 4, size // 4, 3)).astype(np.uint8))
    base = np.asarray(small.resize((size, size), Image.Resampling.BILINEAR), dtype=np.float64)
    img = (
        base
        + rng.normal(0, 6, base.shape)
        + PATTERN_AMPLITUDE * pattern(generator, size)[..., None]
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.clip(img, 0, 255).round().astype(np.uint8)).save(path, format="PNG")
    return path


def hierarchy_table(root: Path, n_real: tuple[int, int, int] = (12, 4, 4)) -> pd.DataFrame:
    """Sample table: per split ``n_real`` reals and n_real // 3 fakes of each generator (+ families)."""
    samples, seed = [], 0
    for split, count in zip(("train", "val", "test"), n_real, strict=True):
        rows = [("", False)] * count + [(g, True) for g in FAMILIES for _ in range(count // 3)]
        for gen, fake in rows:
            seed += 1
            path = write_pattern_image(root / split / f"{seed}.png", seed, gen)
            samples.append(Sample(str(path), int(fake), gen, FAMILIES.get(gen, ""), split))
    return make_table(samples)


def probe_tree(**extra: Any) -> HierarchyDetector:
    """A hierarchy of probe nodes (fast: no training of networks)."""
    return HierarchyDetector({"node": PROBE, "num_workers": 0, **extra})


@pytest.fixture(scope="module")
def data(tmp_path_factory: pytest.TempPathFactory) -> pd.DataFrame:
    return hierarchy_table(tmp_path_factory.mktemp("hier-data"))


@pytest.fixture(scope="module")
def workdir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("hier-work")


@pytest.fixture(scope="module")
def fitted(data: pd.DataFrame, workdir: Path) -> HierarchyDetector:
    train, val = data[data.split == "train"], data[data.split == "val"]
    det = HierarchyDetector({"node": PROBE, "level1": CNN, "num_workers": 0})
    return det.fit(train, val, workdir=workdir)


@pytest.fixture(scope="module")
def paths(data: pd.DataFrame, tmp_path_factory: pytest.TempPathFactory) -> list[str]:
    """Test image paths plus one undecodable file at the end."""
    broken = tmp_path_factory.mktemp("hier-broken") / "broken.png"
    broken.write_bytes(b"\x89PNG truncated")
    return [*data.loc[data.split == "test", "path"], str(broken)]


def child(pred_proba: np.ndarray, classes: list[str], names: list[str]) -> np.ndarray:
    """A child's probabilities of ``names``, renormalised (the reference computation)."""
    block = pred_proba[:, [classes.index(n) for n in names]].astype(np.float64)
    return block / block.sum(axis=1, keepdims=True)


def test_registered_and_tree_shape(fitted: HierarchyDetector, workdir: Path) -> None:
    assert DETECTORS.get("hierarchy") is HierarchyDetector
    assert fitted.classes_ == ["real", "d_a", "g_a", "g_b"]
    assert fitted.families_ == {"diffusion": ["d_a"], "gan": ["g_a", "g_b"]}
    assert fitted.nodes_ is not None and set(fitted.nodes_) == {"level1", "level2", "level3-gan"}
    nodes = fitted.nodes_
    assert nodes["level1"].name == "cnn" and nodes["level1"].classes_ == ["real", "fake"]
    assert nodes["level2"].params.target == "family"
    assert nodes["level2"].classes_ == ["real", "diffusion", "gan"]  # empty real class
    assert nodes["level3-gan"].classes_ == ["real", "g_a", "g_b"]
    assert fitted.threshold_ == nodes["level1"].threshold_
    assert (workdir / "level1" / "checkpoints").is_dir()  # the cnn node trained in its subfolder
    assert fitted.input_config == nodes["level1"].input_config and fitted.input_config.size == 24
    assert fitted.embedding_dim == nodes["level1"].embedding_dim


def test_attribution_is_well_above_chance_at_every_level(tmp_path: Path) -> None:
    data = hierarchy_table(tmp_path, n_real=(24, 12, 24))  # test: 24 reals, 8 fakes per generator
    tree = probe_tree().fit(data[data.split == "train"], data[data.split == "val"])
    results = evaluate_attribution(tree, data[data.split == "test"].reset_index(drop=True))
    assert set(results) == {"end_to_end", "level1", "level2", "level3:gan"}
    # balanced accuracy: chance is 0.5 for each two-way level, 0.25 end to end (4 classes)
    for level in ("level1", "level2", "level3:gan"):
        assert results[level].balanced_accuracy >= 0.85, (level, results[level].balanced_accuracy)
    assert results["end_to_end"].balanced_accuracy >= 0.75
    assert results["level3:gan"].n == 16 and results["level2"].n == 24  # fakes only


def test_path_probabilities(fitted: HierarchyDetector, paths: list[str]) -> None:
    assert fitted.nodes_ is not None
    pred = fitted.predict(paths)
    ok = np.isfinite(pred.proba).all(axis=1)
    assert pred.proba.shape == (len(paths), 4) and ok.sum() == len(paths) - 1
    np.testing.assert_allclose(pred.proba[ok].sum(axis=1), 1.0, atol=1e-6)
    level1 = fitted.nodes_["level1"].predict(paths)
    np.testing.assert_array_equal(pred.p_fake, level1.p_fake)  # exactly level 1's P(fake)
    assert np.isnan(pred.proba[-1]).all() and "broken.png" in pred.errors[-1]
    # P(g_a) = P1(fake) x P2(gan) x P3(g_a | gan), children renormalised over non-real classes
    l2, l3 = fitted.nodes_["level2"].predict(paths), fitted.nodes_["level3-gan"].predict(paths)
    gan = child(l2.proba, l2.classes, ["diffusion", "gan"])[:, 1]
    g_a = child(l3.proba, l3.classes, ["g_a", "g_b"])[:, 0]
    expected = (1.0 - level1.proba[:, 0].astype(np.float64)) * gan * g_a
    np.testing.assert_allclose(pred.proba[ok, 2], expected[ok], rtol=1e-5)
    d_a = (1.0 - level1.proba[:, 0].astype(np.float64)) * (1 - gan)  # one generator: P3 = 1
    np.testing.assert_allclose(pred.proba[ok, 1], d_a[ok], rtol=1e-5)


def test_route_follows_the_verdict_then_the_per_level_argmax(
    fitted: HierarchyDetector, paths: list[str]
) -> None:
    assert fitted.nodes_ is not None
    route = fitted.route(paths)
    assert list(route.columns[:3]) == ["path", "is_fake", "p_fake"]
    ok = route["error"] == ""
    l1 = fitted.nodes_["level1"].predict(paths).proba
    l2 = fitted.nodes_["level2"].predict(paths)
    l3 = fitted.nodes_["level3-gan"].predict(paths)
    fam = np.array(["diffusion", "gan"])[
        np.argmax(child(l2.proba, l2.classes, ["diffusion", "gan"]), 1)
    ]
    gen = np.array(["g_a", "g_b"])[np.argmax(child(l3.proba, l3.classes, ["g_a", "g_b"]), 1)]
    gen = np.where(fam == "gan", gen, "d_a")
    r = route[ok]
    # the verdict is level 1's P(fake) against the tree's threshold (chosen on val), one rule
    assert list(r["is_fake"]) == list((1.0 - l1[:, 0] >= fitted.threshold_)[ok])
    assert list(r["family"]) == list(fam[ok]) and list(r["generator"]) == list(gen[ok])
    assert (r.loc[r["family"] == "diffusion", "p_generator"] == 1.0).all()
    assert list(r["predicted"]) == list(np.where(r["is_fake"], r["generator"], "real"))
    path_p = np.where(r["is_fake"], r["p_fake"] * r["p_family"] * r["p_generator"], 1 - r["p_fake"])
    np.testing.assert_allclose(r["path_proba"], path_p, rtol=1e-5)
    proba = fitted.predict(paths).proba[ok.to_numpy()]
    fake_rows = r["is_fake"].to_numpy(dtype=bool)
    classes = fitted.check_fitted()
    cols = [classes.index(g) for g in r.loc[fake_rows, "generator"]]
    np.testing.assert_allclose(
        proba[fake_rows, cols], r.loc[fake_rows, "path_proba"], rtol=1e-5
    )  # the route's probability is the path probability of its end class
    bad = route.iloc[-1]
    assert (
        pd.isna(bad["is_fake"])
        and pd.isna(bad["predicted"])
        and pd.isna(bad["generator"])
        and "broken" in bad["error"]
    )


def test_bundle_round_trip(fitted: HierarchyDetector, paths: list[str], tmp_path: Path) -> None:
    out = fitted.save(tmp_path / "tree")
    for node in ("level1", "level2", "level3-gan"):
        assert (out / "nodes" / node / "meta.json").is_file()
    assert load_file(str(out / "model.safetensors")) == {}
    desc = json.loads((out / "hierarchy.json").read_text())
    assert desc["family_map"] == FAMILIES and desc["level3"] == {"gan": "level3-gan"}
    loaded = Detector.load(out)
    assert isinstance(loaded, HierarchyDetector)
    assert loaded.classes_ == fitted.classes_ and loaded.threshold_ == fitted.threshold_
    np.testing.assert_array_equal(loaded.predict(paths).proba, fitted.predict(paths).proba)
    (out / "hierarchy.json").unlink()
    with pytest.raises(Exception, match=r"hierarchy\.json is missing or invalid"):
        Detector.load(out)


def test_every_node_sees_image_fn_and_its_own_input(
    fitted: HierarchyDetector, paths: list[str]
) -> None:
    seen: list[tuple[int, int]] = []

    def record(img: Image.Image) -> Image.Image:
        seen.append(img.size)
        return img.rotate(90)

    good = paths[:-1]
    rotated = fitted.predict(good, image_fn=record)
    assert len(seen) == 3 * len(good)  # level1, level2 and level3-gan each decoded every image
    assert not np.allclose(rotated.proba, fitted.predict(good).proba)
    images = [load_image(p) for p in good[:4]]
    np.testing.assert_allclose(
        fitted.predict_images(images).proba, fitted.predict(good[:4]).proba, atol=1e-5
    )
    assert fitted.nodes_ is not None
    np.testing.assert_array_equal(fitted.embed(good), fitted.nodes_["level1"].embed(good))


def test_proba_batch_on_level1_input(fitted: HierarchyDetector, paths: list[str]) -> None:
    transform = eval_transform(fitted.input_config)
    x = np.stack([transform(load_image(p)).numpy() for p in paths[:5]])
    proba = fitted._proba_batch(torch.from_numpy(x))
    assert proba.shape == (5, 4)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, atol=1e-6)
    # level 1 sees exactly its own input, so P(real) matches predict
    np.testing.assert_allclose(proba[:, 0], fitted.predict(paths[:5]).proba[:, 0], atol=1e-6)


def test_single_family_skips_level2(data: pd.DataFrame) -> None:
    train = data[(data.split == "train") & (data.generator != "d_a")]
    det = probe_tree(family_map=FAMILIES).fit(train)  # the map may name extra generators
    assert det.nodes_ is not None and set(det.nodes_) == {"level1", "level3-gan"}
    assert det.classes_ == ["real", "g_a", "g_b"]
    paths = data.loc[data.split == "test", "path"].tolist()
    tree = det.tree_proba(paths)
    assert tree.families == ["gan"] and (tree.p_family == 1.0).all()
    np.testing.assert_allclose(det.predict(paths).proba.sum(axis=1), 1.0, atol=1e-6)
    assert set(det.route(paths)["family"]) == {"gan"}


def test_bad_input_is_a_one_line_error(data: pd.DataFrame) -> None:
    train = data[data.split == "train"]
    with pytest.raises(ConfigError, match=r"family_map has no family for generator\(s\) \['d_a'\]"):
        probe_tree(family_map={"g_a": "gan", "G_B": "gan"}).fit(train)  # g_b matches G_B
    no_family = train.assign(family=np.where(train.label == 1, "unknown", "real"))
    with pytest.raises(DataError, match=r"generator\(s\) \['d_a', 'g_a', 'g_b'\] have no family"):
        probe_tree().fit(no_family)
    with pytest.raises(DataError, match="has no fakes"):
        probe_tree().fit(train[train.label == 0])
    with pytest.raises(DataError, match="has no reals"):
        probe_tree().fit(train[train.label == 1])
    unnamed = train.assign(generator="")
    with pytest.raises(DataError, match="no generator name"):
        probe_tree().fit(unnamed)
    errors: list[tuple[dict[str, Any], str]] = [
        ({"level2": {"name": "nope"}}, "hierarchy level2 node: unknown detector 'nope'"),
        ({"level3": {"name": "cnn", "params": {"archh": 1}}}, "unknown hierarchy level3 node"),
        ({"node": {"name": "cnn", "params": {"target": "cls"}}}, "must not set target"),
        ({"node": {"name": "hierarchy"}}, "cannot itself be a hierarchy"),
        ({"target": "label"}, "always attributes generators"),
    ]
    for params, message in errors:
        with pytest.raises(ConfigError, match=message) as info:
            HierarchyDetector(params)
        assert "\n" not in str(info.value)
