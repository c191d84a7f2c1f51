"""The probe detector: frozen backbone + sklearn head, cached embeddings, bundles."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
import torch
from PIL import Image, ImageFilter

from fakescope.data.schema import Sample, make_table
from fakescope.detectors.catalog import DETECTORS, Detector
from fakescope.detectors.probe import HEAD_FILE, ProbeDetector
from fakescope.errors import ConfigError
from fakescope.eval.robustness import Degradation
from tests.conftest import write_image

Tables = tuple[pd.DataFrame, pd.DataFrame]


def params(cache: Path | None, **extra: Any) -> dict[str, Any]:
    """Tiny, offline settings: timm's random-init test_resnet (D=96) at 32 px, no loader workers."""
    base = {
        "backbone": "timm:test_resnet",
        "pretrained": False,
        "img_size": 32,
        "num_workers": 0,
        "batch_size": 8,
        "cache_dir": None if cache is None else str(cache),
    }
    return {**base, **extra}


@pytest.fixture(scope="module")
def root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("probe")


@pytest.fixture(scope="module")
def data(root: Path) -> Tables:
    """40 tiny PNGs (20 real, 20 fake with a checkerboard trace): 30 train, 10 held out."""
    samples = []
    for i in range(40):
        fake = i % 2 == 1
        path = write_image(root / "img" / f"{i:02d}.png", seed=i, fake=fake, fmt="PNG")
        generator = ("g1" if i % 4 == 1 else "g2") if fake else ""
        samples.append(Sample(str(path), int(fake), generator, split="train" if i < 30 else "test"))
    table = make_table(samples)
    return table[table.split == "train"], table[table.split == "test"]


@pytest.fixture(scope="module")
def fitted(root: Path, data: Tables) -> ProbeDetector:
    """A logistic probe fit on the 30 training images (embeddings cached in root/cache)."""
    return ProbeDetector(params(root / "cache")).fit(data[0])


def count_forward(det: ProbeDetector) -> list[int]:
    """Wrap the backbone's forward_features; the returned list holds the number of images seen."""
    seen = [0]
    inner = det.backbone.forward_features

    def wrapped(x: torch.Tensor) -> torch.Tensor:
        seen[0] += len(x)
        return inner(x)

    det.backbone.forward_features = wrapped  # type: ignore[method-assign]
    return seen


def test_registered_and_hooks(tmp_path: Path) -> None:
    det = DETECTORS.get("probe")(params(tmp_path, img_size=48))
    assert isinstance(det, ProbeDetector)
    assert det.input_config.size == 48
    assert det.embedding_dim == det.backbone.feature_dim == 96


def test_separates_fakes_on_held_out(fitted: ProbeDetector, data: Tables) -> None:
    test = data[1]
    p = fitted.predict_proba(test.path.tolist())
    assert fitted.classes_ == ["real", "fake"]
    assert np.isfinite(p).all() and np.all((p >= 0) & (p <= 1))
    labels = test.label.to_numpy()
    assert p[labels == 1].mean() > p[labels == 0].mean()


def test_second_run_reads_the_cache(fitted: ProbeDetector, data: Tables, tmp_path: Path) -> None:
    seen = count_forward(fitted)
    emb = fitted.embed(data[0].path.tolist())  # embedded and cached by fit
    assert seen[0] == 0
    assert emb.shape == (30, 96) and np.isfinite(emb).all()
    new = [str(write_image(tmp_path / f"{i}.png", seed=100 + i, fmt="PNG")) for i in range(3)]
    first = fitted.predict(new).proba
    assert seen[0] == 3
    second = fitted.predict(new).proba
    assert seen[0] == 3
    np.testing.assert_array_equal(first, second)


def test_image_fn_bypasses_the_cache(fitted: ProbeDetector, data: Tables) -> None:
    paths = data[0].path.tolist()[:6]
    cache = fitted.embedding_cache()
    assert cache is not None
    size = len(cache)
    seen = count_forward(fitted)
    blur: Callable[[Image.Image], Image.Image] = lambda im: im.filter(ImageFilter.GaussianBlur(2))  # noqa: E731
    degraded = fitted.predict(paths, image_fn=blur).proba
    clean = fitted.predict(paths).proba
    assert seen[0] == len(paths)  # only the degraded run ran the backbone
    assert len(cache) == size
    assert not np.allclose(degraded, clean)


def test_tagged_degradation_is_cached_under_its_tag(fitted: ProbeDetector, data: Tables) -> None:
    paths = data[0].path.tolist()[:6]
    jpeg = Degradation("jpeg", 20)
    clean_cache = fitted.embedding_cache()
    assert clean_cache is not None
    clean_size = len(clean_cache)
    seen = count_forward(fitted)
    first = fitted.predict(paths, image_fn=jpeg).proba
    assert seen[0] == len(paths)
    second = fitted.predict(paths, image_fn=jpeg).proba
    assert seen[0] == len(paths)  # the second degraded run read the jpeg=20 cache
    np.testing.assert_array_equal(first, second)
    assert len(clean_cache) == clean_size  # degraded embeddings never enter the clean cache
    assert not np.allclose(first, fitted.predict(paths).proba)
    fitted.predict(paths, image_fn=Degradation("jpeg", 30))
    assert seen[0] == 2 * len(paths)  # another quality is another cache


def test_bundle_round_trip(fitted: ProbeDetector, data: Tables, tmp_path: Path) -> None:
    out = fitted.save(tmp_path / "bundle")
    assert (out / HEAD_FILE).is_file() and (out / "model.safetensors").is_file()
    loaded = Detector.load(out)
    assert isinstance(loaded, ProbeDetector)
    assert loaded.classes_ == fitted.classes_
    paths = data[1].path.tolist()
    same: Callable[[Image.Image], Image.Image] = lambda im: im  # noqa: E731 - forces fresh embeddings
    np.testing.assert_array_equal(
        loaded.predict(paths, image_fn=same).proba, fitted.predict(paths, image_fn=same).proba
    )
    # the restored weights have the same cache key: the loaded detector reads the training cache
    assert loaded.backbone.cache_key == fitted.backbone.cache_key
    expected = fitted.predict(paths).proba  # fills the cache for these files (order-independent)
    seen = count_forward(loaded)
    np.testing.assert_array_equal(loaded.predict(paths).proba, expected)
    assert seen[0] == 0


def test_decode_error_gives_a_nan_row(fitted: ProbeDetector, data: Tables, tmp_path: Path) -> None:
    broken = tmp_path / "broken.png"
    broken.write_bytes(b"\x89PNG truncated")
    pred = fitted.predict([data[1].path.iloc[0], str(broken)])
    assert np.isnan(pred.proba[1]).all() and np.isfinite(pred.proba[0]).all()
    assert pred.errors[0] == "" and "broken.png" in pred.errors[1]
    assert np.isnan(pred.p_fake[1])
    assert np.isnan(fitted.embed([str(broken)])).all()


def test_fit_skips_undecodable_training_files(root: Path, data: Tables, tmp_path: Path) -> None:
    train = data[0].copy()
    broken = tmp_path / "broken.png"
    broken.write_bytes(b"nope")
    train.loc[train.index[0], "path"] = str(broken)
    det = ProbeDetector(
        params(root / "cache", head="random_forest", head_params={"n_estimators": 20})
    ).fit(train)
    assert det.classes_ == ["real", "fake"]
    assert np.isfinite(det.predict_proba(data[1].path.tolist())).all()


@pytest.mark.parametrize("progress", [True, False])
def test_progress_setting_turns_the_embedding_bar_on_or_off(
    root: Path, data: Tables, monkeypatch: pytest.MonkeyPatch, progress: bool
) -> None:
    det = ProbeDetector(params(root / "cache", progress=progress))
    bars: list[str | None] = []
    inner = det._embed_files

    def recording(paths: list[str], progress: str | None = None, *args: Any) -> Any:
        bars.append(progress)
        return inner(paths, progress, *args)

    monkeypatch.setattr(det, "_embed_files", recording)
    det.fit(data[0])
    assert len(bars) == 1 and (bars[0] is not None) is progress


def test_attribution_target_gives_one_column_per_class(root: Path, data: Tables) -> None:
    det = ProbeDetector(params(root / "cache", target="generator", head="knn")).fit(data[0])
    assert det.classes_ == ["real", "g1", "g2"]
    proba = det.predict(data[1].path.tolist()).proba
    assert proba.shape == (10, 3)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, atol=1e-6)


def test_bad_params_are_one_line_errors(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="unknown head 'xgboost'") as info:
        ProbeDetector(params(tmp_path, head="xgboost"))
    assert "\n" not in str(info.value)
    with pytest.raises(ConfigError, match="unknown random_forest head parameter 'C'"):
        ProbeDetector(params(tmp_path, head="random_forest", head_params={"C": 1.0}))
    with pytest.raises(ConfigError, match="unknown probe detector parameter 'heads'"):
        ProbeDetector(params(tmp_path, heads="knn"))
