"""The public state API of the Detector contract: ``state_tensors`` and ``load_state``."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from fakescope.errors import ConfigError, NotFittedError
from tests.detectors.test_trainable import TinyConvDetector


def fitted_by_hand(seed: int) -> TinyConvDetector:
    """A detector whose network is set directly (random weights; no training needed here)."""
    det = TinyConvDetector({"img_size": 16})
    det.classes_ = ["real", "fake"]
    torch.manual_seed(seed)
    det.load_state(det.new_network(2).state_dict(), Path("unused"))
    return det


def test_state_tensors_are_detached_cpu_copies_of_what_was_learnt() -> None:
    det = fitted_by_hand(0)
    state = det.state_tensors()
    net = det.model_
    assert net is not None
    expected = net.state_dict()
    assert state.keys() == expected.keys()
    for key, value in state.items():
        assert not value.requires_grad and value.device.type == "cpu" and value.is_contiguous()
        assert torch.equal(value, expected[key])
    assert state["5.weight"].shape == (2, 8)  # the last Linear: [C, D]


def test_load_state_rebuilds_a_detector_that_predicts_the_same() -> None:
    source, other = fitted_by_hand(1), fitted_by_hand(2)
    x = torch.rand(4, 3, 16, 16)
    before = other._proba_batch(x)
    assert not np.allclose(before, source._proba_batch(x))
    other.load_state(source.state_tensors(), Path("unused"))
    np.testing.assert_array_equal(other._proba_batch(x), source._proba_batch(x))
    p_fake = 1.0 - other._proba_batch(x)[:, 0]
    assert np.all((p_fake >= 0) & (p_fake <= 1))


def test_state_api_errors_are_one_line() -> None:
    fresh = TinyConvDetector()
    with pytest.raises(NotFittedError, match="not fitted"):
        fresh.state_tensors()
    state = fitted_by_hand(0).state_tensors()
    with pytest.raises(NotFittedError, match=r"set classes_ .* before load_state"):
        fresh.load_state(state, Path("unused"))
    fresh.classes_ = ["real", "gen_a", "gen_b"]  # 3 classes: the Linear no longer fits
    with pytest.raises(ConfigError, match=r"do not fit a tiny-conv detector") as err:
        fresh.load_state(state, Path("unused"))
    assert "\n" not in str(err.value)
