"""``ce`` and ``bce``: equal torch's weighted losses, probabilities, one SGD step goes the right way."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from fakescope.errors import ConfigError
from fakescope.losses.catalog import create_loss
from tests.losses.toys import sgd_step

LOGITS = torch.tensor([[2.0, 0.0, 1.0], [0.0, 1.0, -1.0], [1.0, 0.0, 0.5], [0.3, 0.2, 0.1]])
Y = torch.tensor([1, 1, 0, 2])


def test_weighted_ce_equals_torch() -> None:
    weights = [1.0, 3.0, 0.5]
    loss = create_loss("ce", None, 3, 8, class_weights=weights)
    expected = F.cross_entropy(LOGITS, Y, weight=torch.tensor(weights))
    assert torch.allclose(loss(LOGITS, Y), expected)
    assert not torch.allclose(loss(LOGITS, Y), F.cross_entropy(LOGITS, Y))
    proba = loss.proba(LOGITS)
    assert torch.allclose(proba, LOGITS.softmax(dim=1)) and torch.allclose(
        proba.sum(1), torch.ones(4)
    )


def test_ce_step_raises_the_true_logit() -> None:
    loss = create_loss("ce", None, 3, 8)
    before, after, out = sgd_step(loss, LOGITS, Y, lr=0.5)
    assert after < before
    rows = torch.arange(4)
    assert torch.all(out[rows, Y] > LOGITS[rows, Y])


def test_bce_needs_two_classes() -> None:
    with pytest.raises(ConfigError, match=r"bce needs 2 classes .* use loss=ce for attribution"):
        create_loss("bce", None, 3, 8)


def test_bce_equals_torch_with_pos_weight_and_gives_two_columns() -> None:
    z = torch.tensor([[1.5], [-0.5], [0.2], [-2.0]])
    y = torch.tensor([1, 0, 0, 1])
    loss = create_loss("bce", None, 2, 8, class_weights=[0.5, 2.0])
    expected = F.binary_cross_entropy_with_logits(
        z[:, 0], y.float(), pos_weight=torch.tensor([4.0])
    )
    assert torch.allclose(loss(z, y), expected)
    plain = create_loss("bce", None, 2, 8)
    assert torch.allclose(plain(z, y), F.binary_cross_entropy_with_logits(z[:, 0], y.float()))
    proba = loss.proba(z)
    assert proba.shape == (4, 2)
    assert torch.allclose(proba[:, 1], z[:, 0].sigmoid()) and torch.allclose(
        proba.sum(1), torch.ones(4)
    )
    with pytest.raises(ConfigError, match="positive class weight for real"):
        create_loss("bce", None, 2, 8, class_weights=[0.0, 1.0])


def test_bce_step_moves_the_logit_toward_the_label() -> None:
    z = torch.tensor([[0.5], [0.5], [-0.3], [-0.3]])
    y = torch.tensor([1, 0, 1, 0])
    before, after, out = sgd_step(create_loss("bce", None, 2, 8), z, y, lr=1.0)
    assert after < before
    moved = (out - z)[:, 0]
    assert torch.all(moved[y == 1] > 0) and torch.all(moved[y == 0] < 0)
