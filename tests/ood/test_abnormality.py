"""The abnormality module: trained on ID toy images vs synthetic outliers, it flags held-out outliers."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
import torch
from sklearn.metrics import roc_auc_score

from fakescope.data.outliers import make_outliers
from fakescope.detectors.unet_scorer import UNetScorerDetector
from fakescope.errors import FakescopeError
from fakescope.features import Features
from fakescope.ood.abnormality import AbnormalityNet, AbnormalityScorer, features_of
from tests.detectors.test_cnn import table

DETECTOR: dict[str, Any] = {
    "img_size": 32,
    "width": 4,
    "depth": 2,
    "mlp_hidden": 32,
    "batch_size": 16,
    "num_workers": 0,
    "progress": False,
    "epochs": 2,
    "lr": 1e-2,
    "patience": None,
    "confidence": True,
    "residual_size": 16,
}


@pytest.fixture(scope="module")
def setup(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    root = tmp_path_factory.mktemp("abn-data")
    train, test = table(root, "train", 48, 0), table(root, "test", 32, 3000)
    fit = table(root, "fit", 160, 5000)  # ID images for the module (the detector never saw them)
    det = UNetScorerDetector(DETECTOR).fit(train)
    scorer = AbnormalityScorer(epochs=30, seed=0)
    assert isinstance(scorer, AbnormalityScorer)
    scorer.fit_detector(det, fit["path"].tolist())
    no_residual = AbnormalityScorer(epochs=30, seed=0, use_residual=False)
    no_residual.fit_detector(det, fit["path"].tolist())
    return {"det": det, "scorer": scorer, "no_residual": no_residual, "test": test}


def held_out(setup: dict[str, Any]) -> tuple[Features, Features, np.ndarray]:
    """Held-out ID features, outlier features (5 per image, other seed) and the outlier kinds."""
    paths = setup["test"]["path"].tolist()
    outliers = make_outliers(paths, seed=99, per_image=5)
    det = setup["det"]
    return features_of(det, paths), features_of(det, outliers.images), np.array(outliers.kinds)


def auroc(s_id: np.ndarray, s_ood: np.ndarray) -> float:
    return float(roc_auc_score(np.r_[np.zeros(len(s_id)), np.ones(len(s_ood))], np.r_[s_id, s_ood]))


def test_settings_are_checked() -> None:
    assert AbnormalityScorer().params["hidden"] == [1024, 512, 128]
    with pytest.raises(FakescopeError, match="unknown setting"):
        AbnormalityScorer(epoch=3)


def test_separates_held_out_synthetic_outliers(setup: dict[str, Any]) -> None:
    id_f, ood_f, kinds = held_out(setup)
    scorer: AbnormalityScorer = setup["scorer"]  # probs + confidence + embedding + residual
    s_id, s_ood = scorer.score(id_f), scorer.score(ood_f)
    assert auroc(s_id, s_ood) > 0.75
    assert auroc(s_id, s_ood[kinds == "gaussian_blur"]) > 0.9
    assert scorer.layout_["confidence"] and scorer.layout_["residual_channels"] == 1
    assert scorer.history_[-1] < scorer.history_[0]
    # without the residual input it still separates them (32 ID vs 160 outliers: chance 0.5)
    plain: AbnormalityScorer = setup["no_residual"]
    assert auroc(plain.score(id_f), plain.score(ood_f)) > 0.7
    assert plain.layout_["residual_channels"] == 0


def test_risk_goes_below_the_original_bug_floor(setup: dict[str, Any]) -> None:
    """The original GELU before the sigmoid kept risk >= 0.46; ours is a plain sigmoid of a Linear."""
    id_f, _, _ = held_out(setup)
    risk = setup["scorer"].score(id_f)
    assert ((risk >= 0) & (risk <= 1)).all()
    assert np.median(risk) < 0.46
    net = setup["scorer"].net_
    assert isinstance(net.mlp[-1], torch.nn.Linear)


def test_state_round_trip(setup: dict[str, Any]) -> None:
    _, ood_f, _ = held_out(setup)
    scorer: AbnormalityScorer = setup["scorer"]
    meta, arrays = scorer.get_state()
    fresh = AbnormalityScorer(**scorer.params)
    fresh.set_state(meta, arrays)
    assert np.allclose(fresh.score(ood_f), scorer.score(ood_f))


def test_generic_fit_and_missing_inputs_are_one_line_errors(setup: dict[str, Any]) -> None:
    id_f, _, _ = held_out(setup)
    with pytest.raises(FakescopeError, match="fit_detector"):
        AbnormalityScorer().fit(id_f)
    no_res = Features(
        id_f.proba, id_f.logits, id_f.embedding, id_f.errors, id_f.classes, id_f.confidence
    )
    with pytest.raises(FakescopeError, match="residual maps"):
        setup["scorer"].score(no_res)


def test_training_uses_pos_weight_for_imbalance() -> None:
    """10 ID vs 90 outliers of the same distribution: with pos_weight the mean risk stays near 0.5
    (balanced), without it the net would predict ~0.9 everywhere."""
    torch.manual_seed(0)
    id_f = Features.from_proba(np.full((10, 2), 0.5), np.random.default_rng(0).normal(size=(10, 4)))
    out_f = Features.from_proba(
        np.full((90, 2), 0.5), np.random.default_rng(1).normal(size=(90, 4))
    )
    scorer = AbnormalityScorer(epochs=20, hidden=[16], use_residual=False).fit_outliers(id_f, out_f)
    both = Features.from_proba(np.full((50, 2), 0.5), np.random.default_rng(2).normal(size=(50, 4)))
    assert 0.3 < float(np.mean(scorer.score(both))) < 0.7
    assert isinstance(scorer.net_, AbnormalityNet) and scorer.net_.encoder is None
