"""``triplet``: equals PML's semi-hard triplet loss, class weights, data checks, SGD direction."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from pytorch_metric_learning.losses import TripletMarginLoss
from pytorch_metric_learning.miners import TripletMarginMiner

from fakescope.errors import DataError
from fakescope.losses.catalog import create_loss
from fakescope.losses.triplet import TripletLoss
from tests.losses.toys import sgd_step

F0 = torch.randn(12, 4, generator=torch.Generator().manual_seed(0))
Y = torch.arange(12) % 2


def test_uniform_weights_equal_pml_semihard_triplet_loss() -> None:
    loss = create_loss("triplet", None, 2, 4)
    assert isinstance(loss, TripletLoss) and loss.needs_head and loss.output_dim() == 4
    triplets = TripletMarginMiner(margin=0.2, type_of_triplets="semihard")(F0, Y)
    assert len(triplets[0]) > 0
    expected = TripletMarginLoss(margin=0.2)(F0, Y, triplets)
    assert torch.allclose(loss(F0, Y), expected)


def test_class_weights_weight_triplets_by_anchor_class() -> None:
    plain = create_loss("triplet", None, 2, 4)
    real_only = create_loss("triplet", None, 2, 4, class_weights=[1.0, 0.0])
    fake_only = create_loss("triplet", None, 2, 4, class_weights=[0.0, 1.0])
    lo, hi = sorted([real_only(F0, Y).item(), fake_only(F0, Y).item()])
    assert lo < plain(F0, Y).item() < hi  # the uniform mean lies between the per-class means
    both = create_loss("triplet", None, 2, 4, class_weights=[2.0, 2.0])
    assert torch.allclose(both(F0, Y), plain(F0, Y))


def test_no_semihard_triplet_gives_zero_with_a_graph() -> None:
    f = torch.tensor([[1.0, 0.0], [1.0, 0.01], [-1.0, 0.0], [-1.0, 0.01]], requires_grad=True)
    value = create_loss("triplet", None, 2, 2)(f, torch.tensor([0, 0, 1, 1]))
    assert value.item() == 0.0
    value.backward()
    assert f.grad is not None and torch.all(f.grad == 0)


def test_needs_two_samples_of_each_class_and_has_no_proba() -> None:
    loss = create_loss("triplet", {"svm_per_class": 50}, 3, 4)
    loss.check_targets(np.array([0, 0, 1, 1, 2, 2]))
    with pytest.raises(DataError, match=r"loss=triplet needs >= 2 training images .* \[2\]"):
        loss.check_targets(np.array([0, 0, 1, 1, 2]))
    with pytest.raises(DataError, match=r"\[1, 2\]"):
        loss.check_targets(np.array([0, 0, 0]))
    with pytest.raises(NotImplementedError, match="SVM head"):
        loss.proba(F0[:, :4])


def test_sgd_step_pulls_same_class_closer_than_other_class() -> None:
    loss = create_loss("triplet", None, 2, 4)

    def gap(f: torch.Tensor) -> float:
        """Mean same-class minus mean other-class distance of L2-normalised embeddings."""
        d = torch.cdist(F.normalize(f, dim=1), F.normalize(f, dim=1))
        same = (Y[:, None] == Y[None, :]) & ~torch.eye(12, dtype=torch.bool)
        return (d[same].mean() - d[Y[:, None] != Y[None, :]].mean()).item()

    before, after, moved = sgd_step(loss, F0, Y, lr=0.5)
    assert before > 0 and after < before
    assert gap(moved) < gap(F0)
