"""``dmyt``: dummy layouts, distance rule, triplet value, weights, prediction rule, SGD direction."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from fakescope.errors import ConfigError
from fakescope.losses.catalog import create_loss
from fakescope.losses.dmyt import DmytLoss, dummy_layout
from tests.losses.toys import sgd_step


def _blocks(row: torch.Tensor) -> list[tuple[int, int]]:
    """[start, end) of each run of ones in a 0/1 row."""
    idx = torch.nonzero(row).flatten().tolist()
    runs: list[tuple[int, int]] = []
    for i in idx:
        if runs and runs[-1][1] == i:
            runs[-1] = (runs[-1][0], i + 1)
        else:
            runs.append((i, i + 1))
    return runs


def test_binary_layout_is_the_papers() -> None:
    d = dummy_layout(2, 8)
    assert torch.equal(d, torch.tensor([[1.0] * 4 + [0.0] * 4, [0.0] * 4 + [1.0] * 4]))


def test_layouts_for_three_and_seven_classes() -> None:
    three = dummy_layout(3, 10)  # blocks of 3, the last dim unused
    assert [_blocks(r) for r in three] == [[(0, 3)], [(3, 6)], [(6, 9)]]
    seven = dummy_layout(7, 15)  # blocks of 2
    assert [_blocks(r) for r in seven] == [[(2 * c, 2 * c + 2)] for c in range(7)]
    assert set(seven.unique().tolist()) == {0.0, 1.0}
    assert torch.all(seven @ seven.T == 2 * torch.eye(7))  # disjoint


def test_root_block_is_shared_by_every_fake_class() -> None:
    d = dummy_layout(3, 8, root=True)  # 4 blocks of 2: real, fake_1, fake_2, root
    assert _blocks(d[0]) == [(0, 2)]
    assert _blocks(d[1]) == [(2, 4), (6, 8)]
    assert _blocks(d[2]) == [(4, 8)]  # own block [4, 6) next to the root block [6, 8)
    assert torch.equal(d[1, 6:], d[2, 6:]) and not d[0, 6:].any()
    loss = create_loss("dmyt", {"root_dummy": True}, 3, 8)
    assert isinstance(loss, DmytLoss) and torch.equal(loss.dummies, d)


def test_too_small_embedding_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="DmyT with 7 classes needs embed_dim >= 7; got 6"):
        create_loss("dmyt", None, 7, 6)
    with pytest.raises(ConfigError, match="DmyT with 3 classes needs embed_dim >= 4"):
        create_loss("dmyt", {"root_dummy": True}, 3, 3)
    assert create_loss("dmyt", None, 7, 7).dummies.shape == (7, 7)


def test_distance_auto_rule() -> None:
    assert isinstance(two := create_loss("dmyt", None, 2, 8), DmytLoss)
    assert isinstance(four := create_loss("dmyt", None, 4, 8), DmytLoss)
    assert isinstance(forced := create_loss("dmyt", {"distance": "euclidean"}, 4, 8), DmytLoss)
    assert (two.distance, four.distance, forced.distance) == ("euclidean", "cosine", "euclidean")


def test_dummies_are_not_saved() -> None:
    loss = create_loss("dmyt", None, 3, 9)
    assert loss.state_dict() == {}


def test_binary_value_equals_torch_triplet_margin_loss() -> None:
    loss = create_loss("dmyt", None, 2, 6)
    assert isinstance(loss, DmytLoss)
    f = torch.randn(5, 6, generator=torch.Generator().manual_seed(0))
    y = torch.tensor([0, 1, 1, 0, 1])
    expected = F.triplet_margin_loss(f, loss.dummies[y], loss.dummies[1 - y], margin=1.0)
    assert torch.allclose(loss(f, y), expected, atol=1e-5)


def test_hardest_antagonist_and_class_weights() -> None:
    loss = create_loss("dmyt", {"distance": "cosine", "margin": 0.5}, 3, 3)
    assert isinstance(loss, DmytLoss)
    f = torch.tensor([[1.0, 0.9, 0.0], [0.0, 0.1, 1.0]])  # class 0; closest other = class 1
    y = torch.tensor([0, 2])
    dist = 1.0 - F.normalize(f, dim=1)  # cosine distance to the one-hot dummies
    per = F.relu(dist[[0, 1], y] - torch.stack([dist[0, 1], dist[1, 1]]) + 0.5)
    assert torch.allclose(loss(f, y), per.mean(), atol=1e-6)
    weighted = create_loss("dmyt", {"distance": "cosine", "margin": 0.5}, 3, 3, [1.0, 1.0, 3.0])
    assert torch.allclose(weighted(f, y), (per[0] + 3 * per[1]) / 4, atol=1e-6)


def test_prediction_is_argmax_of_normalised_dot_product() -> None:
    loss = create_loss("dmyt", {"root_dummy": True, "temperature": 0.5}, 3, 8)
    assert isinstance(loss, DmytLoss)
    f = torch.randn(20, 8, generator=torch.Generator().manual_seed(1))
    d = loss.dummies
    scores = f @ (d / d.abs().sum(dim=1, keepdim=True)).T
    proba = loss.proba(f)
    assert torch.allclose(loss.scores(f), scores, atol=1e-6)
    assert torch.equal(proba.argmax(dim=1), scores.argmax(dim=1))
    assert torch.allclose(proba, (scores / 0.5).softmax(dim=1), atol=1e-6)
    assert torch.allclose(proba.sum(dim=1), torch.ones(20))


@pytest.mark.parametrize(("classes", "distance"), [(2, "euclidean"), (4, "cosine")])
def test_sgd_step_moves_embeddings_toward_their_dummy(classes: int, distance: str) -> None:
    loss = create_loss("dmyt", {"distance": distance}, classes, 8)
    assert isinstance(loss, DmytLoss)
    f = torch.rand(12, 8, generator=torch.Generator().manual_seed(2))
    y = torch.arange(12) % classes
    dist = loss.distances(f)
    own = torch.arange(12), y
    other = dist.scatter(1, y[:, None], float("inf")).min(dim=1).values
    active = dist[own] - other + 1.0 > 0  # samples inside the margin get a gradient
    assert active.sum() >= 6
    before, after, moved = sgd_step(loss, f, y, lr=0.2)
    assert before > 0 and after < before
    closer = loss.distances(moved)[own] < dist[own]
    assert torch.all(closer[active]) and torch.equal(moved[~active], f[~active])
