"""CutMix: one box of the permuted batch pasted in, labels mixed by the kept area share."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from fakescope.train.cutmix import CutMix, cutmix, maybe_cutmix

B, H, W = 6, 20, 16


def labelled_batch() -> torch.Tensor:
    """[B, 3, H, W]: every pixel of image i holds the value i, so a pixel names its source image."""
    return torch.arange(B, dtype=torch.float32).view(B, 1, 1, 1).expand(B, 3, H, W).contiguous()


def pasted_box(mask: torch.Tensor) -> tuple[int, int, int, int] | None:
    """(y0, y1, x0, x1) of the pixels set in ``mask`` [H, W] when they form one filled box."""
    if not mask.any():
        return None
    rows, cols = mask.any(1).nonzero().flatten(), mask.any(0).nonzero().flatten()
    y0, y1, x0, x1 = int(rows[0]), int(rows[-1]) + 1, int(cols[0]), int(cols[-1]) + 1
    assert bool(mask[y0:y1, x0:x1].all()) and int(mask.sum()) == (y1 - y0) * (x1 - x0)
    return y0, y1, x0, x1


def test_one_box_from_the_permuted_image_and_kept_is_its_complement_share() -> None:
    torch.manual_seed(3)
    x = labelled_batch()
    kept_seen = []
    for _ in range(20):
        mix = cutmix(x, alpha=1.0)
        assert mix.x.shape == x.shape and torch.equal(x, labelled_batch())  # input untouched
        assert sorted(mix.perm.tolist()) == list(range(B))
        boxes = set()
        for i in range(B):
            src = int(mix.perm[i])
            assert set(mix.x[i].unique().tolist()) <= {float(i), float(src)}
            if src != i:
                pasted = (mix.x[i, 0] == src).float()
                boxes.add(pasted_box(pasted.bool()))
                assert 1.0 - float(pasted.mean()) == pytest.approx(mix.kept, abs=1e-6)
        assert len(boxes) <= 1  # the same box in every image
        if boxes and (box := boxes.pop()) is not None:
            y0, y1, x0, x1 = box
            assert mix.kept == pytest.approx(1.0 - (y1 - y0) * (x1 - x0) / (H * W))
        kept_seen.append(mix.kept)
    # lam ~ Beta(1, 1): boxes of many sizes, on average a sizeable share is pasted
    assert len(set(kept_seen)) > 10
    assert 0.15 < 1.0 - sum(kept_seen) / len(kept_seen) < 0.6


def test_mix_is_cross_entropy_against_area_weighted_soft_labels() -> None:
    torch.manual_seed(0)
    x, y = labelled_batch(), torch.arange(B)
    logits = torch.randn(B, B)
    mix = cutmix(x, alpha=1.0)
    while mix.kept >= 1.0 or bool((mix.perm == torch.arange(B)).all()):
        mix = cutmix(x, alpha=1.0)
    got = mix.mix(lambda labels: F.cross_entropy(logits, labels), y)
    soft = mix.kept * F.one_hot(y, B).float() + (1.0 - mix.kept) * F.one_hot(y[mix.perm], B).float()
    assert float(got) == pytest.approx(float(F.cross_entropy(logits, soft)), rel=1e-6)
    # not just the own labels' loss
    assert abs(float(got) - float(F.cross_entropy(logits, y))) > 1e-3


def test_mix_without_a_paste_is_the_plain_loss() -> None:
    y = torch.tensor([0, 1, 1])
    whole = CutMix(torch.zeros(3, 1, 2, 2), torch.tensor([2, 0, 1]), 1.0)
    assert float(whole.mix(lambda labels: labels.float().sum(), y)) == 2.0
    half = CutMix(torch.zeros(3, 1, 2, 2), torch.tensor([2, 0, 0]), 0.25)
    # 0.25 * sum(y) + 0.75 * sum(y[perm]) = 0.25 * 2 + 0.75 * 1
    assert float(half.mix(lambda labels: labels.float().sum(), y)) == pytest.approx(1.25)


def test_maybe_cutmix_probability_zero_is_the_identity_and_draws_nothing() -> None:
    x = labelled_batch()
    torch.manual_seed(1)
    before = torch.get_rng_state()
    mix = maybe_cutmix(x, 0.0, 1.0)
    assert torch.equal(torch.get_rng_state(), before)
    assert mix.x is x and mix.kept == 1.0 and mix.perm.tolist() == list(range(B))
    torch.manual_seed(1)
    mixed = [maybe_cutmix(x, 1.0, 1.0) for _ in range(5)]
    assert any(m.kept < 1.0 for m in mixed)


def test_rejects_a_single_image() -> None:
    with pytest.raises(ValueError, match=r"batch \[B, C, H, W\]"):
        cutmix(torch.zeros(3, 8, 8), 1.0)
