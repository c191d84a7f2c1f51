"""Abstainer: 95% of ID validation kept, OOD flagged, bundle round trip, no bundle -> None."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from fakescope.detectors.probe import ProbeDetector
from fakescope.errors import BundleError, NotFittedError
from fakescope.ood.abstain import OOD_JSON, OOD_TENSORS, Abstainer
from tests.ood.test_features import probe_params, tiny_table
from tests.ood.test_scorers import ood_toy, toy


@pytest.fixture(scope="module")
def setup(
    tmp_path_factory: pytest.TempPathFactory,
) -> tuple[ProbeDetector, pd.DataFrame, pd.DataFrame, list[str]]:
    root = tmp_path_factory.mktemp("abstain")
    train, val = tiny_table(root / "train", 40), tiny_table(root / "val", 40, offset=100)
    det = ProbeDetector(probe_params()).fit(train)
    ood = []
    rng = np.random.default_rng(0)
    for i in range(12):  # flat colour fields with a gradient: nothing like the noisy ID images
        ramp = np.linspace(0, 255, 32)[None, :, None] * rng.uniform(0.2, 1.0, 3)
        img = np.broadcast_to(ramp, (32, 32, 3)).astype(np.uint8)
        path = root / "ood" / f"{i}.png"
        path.parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray(img).save(path)
        ood.append(str(path))
    return det, train, val, ood


@pytest.mark.parametrize("scorer", ["knn", "mahalanobis"])
def test_fit_keeps_95_percent_and_flags_ood(setup, scorer: str, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    det, train, val, ood = setup
    ab = Abstainer.fit(
        det, train, val, scorer=scorer, scorer_params={"k": 5} if scorer == "knn" else {}
    )
    s_val = ab.score_paths(det, val.path.tolist())
    assert np.mean(ab.is_ood(s_val)) <= 0.05 + 1e-9 and ab.val_kept_ >= 0.95
    s_ood = ab.score_paths(det, ood)
    assert np.mean(ab.is_ood(s_ood)) > 0.5, s_ood  # far more than the 5% of ID flagged

    det.save(tmp_path / "bundle")
    ab.save(tmp_path / "bundle")
    assert (tmp_path / "bundle" / OOD_JSON).is_file() and (
        tmp_path / "bundle" / OOD_TENSORS
    ).is_file()
    back = Abstainer.load(tmp_path / "bundle")
    assert back is not None and back.threshold_ == ab.threshold_
    np.testing.assert_allclose(back.score_paths(det, ood), s_ood)


def test_is_ood_direction_and_nan() -> None:
    ab = Abstainer("msp").fit_features(toy(100), None, toy(100, seed=3))
    s = np.array([ab.threshold_ - 1, ab.threshold_ + 1, np.nan])
    assert ab.is_ood(s).tolist() == [False, True, False]
    far = ab.score(ood_toy(50))
    assert ab.is_ood(far).mean() > 0.9


def test_load_none_errors_and_not_fitted(tmp_path: Path) -> None:
    assert Abstainer.load(tmp_path) is None
    with pytest.raises(NotFittedError):
        Abstainer().is_ood(np.zeros(2))
    with pytest.raises(BundleError, match="not a bundle"):
        Abstainer("msp").fit_features(toy(20), None, toy(20)).save(tmp_path / "missing")
    ab = Abstainer("vim", {"dim": 4}).fit_features(toy(60), None, toy(30, seed=2))
    ab.save(tmp_path)
    back = Abstainer.load(tmp_path)
    assert back is not None
    np.testing.assert_allclose(back.score(toy(7, seed=9)), ab.score(toy(7, seed=9)))
    info = json.loads((tmp_path / OOD_JSON).read_text())
    info["format_version"] = 99
    (tmp_path / OOD_JSON).write_text(json.dumps(info))
    with pytest.raises(BundleError, match="unknown OOD abstainer format"):
        Abstainer.load(tmp_path)
