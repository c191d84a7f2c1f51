"""The training Dataset, the skip-failed collate and the per-epoch seeded sampler."""

from __future__ import annotations

from pathlib import Path

import pytest

from fakescope.data.transforms import eval_transform
from fakescope.train.dataset import EpochShuffleSampler, SampleDataset, collate_ok
from tests.train.conftest import CFG, SHAPE, image_set


def test_corrupt_file_is_flagged_and_dropped(tmp_path: Path) -> None:
    paths, labels = image_set(tmp_path, 3)
    bad = tmp_path / "bad.png"
    bad.write_bytes(b"not an image")
    ds = SampleDataset([*paths, str(bad)], [*labels, 1], eval_transform(CFG), SHAPE)
    items = [ds[i] for i in range(len(ds))]
    assert [it.ok for it in items] == [True, True, True, False]
    batch = collate_ok(items)
    assert batch.x.shape == (3, *SHAPE) and batch.failed == 1
    assert batch.y.tolist() == labels


def test_all_failed_batch_is_empty() -> None:
    ds = SampleDataset(
        ["/nonexistent/a.png", "/nonexistent/b.png"], [0, 1], eval_transform(CFG), SHAPE
    )
    batch = collate_ok([ds[0], ds[1]])
    assert batch.x.shape == (0, *SHAPE) and batch.y.numel() == 0 and batch.failed == 2


def test_sampler_is_a_permutation_fixed_by_seed_and_epoch() -> None:
    s = EpochShuffleSampler(20, seed=1)
    e0 = list(s)
    assert sorted(e0) == list(range(20)) and list(s) == e0
    s.set_epoch(1)
    e1 = list(s)
    assert e1 != e0
    other = EpochShuffleSampler(20, seed=1)
    other.set_epoch(1)
    assert list(other) == e1  # a resumed run sees the same order for the same epoch
    assert list(EpochShuffleSampler(20, seed=2)) != e0


def test_length_mismatch_is_an_error() -> None:
    with pytest.raises(ValueError, match="targets"):
        SampleDataset(["a"], [0, 1], eval_transform(CFG), SHAPE)
