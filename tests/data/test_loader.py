"""Batched loading: broken files give NaN rows and errors at their indices (0 and 2 workers)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from fakescope.data.loader import iter_batches, run_batches
from fakescope.data.transforms import InputConfig, eval_transform
from tests.conftest import write_image

CFG = InputConfig(size=16)
SHAPE = (3, 16, 16)


def _mean_fn(x: torch.Tensor) -> np.ndarray:
    """[B, 3, H, W] -> [B, 2]: per-image mean, and spatial standard deviation (channel mean)."""
    return torch.stack([x.mean(dim=(1, 2, 3)), x.std(dim=(2, 3)).mean(dim=1)], dim=1).numpy()


def _files(tmp_path: Path) -> tuple[list[Path], list[int]]:
    """Eight paths, of which indices 1, 4, 5 and 7 cannot be decoded."""
    good = [write_image(tmp_path / f"g{i}.jpg", seed=i) for i in range(4)]
    empty = tmp_path / "empty.jpg"
    empty.write_bytes(b"")
    text = tmp_path / "text.png"
    text.write_text("not an image")
    trunc = write_image(tmp_path / "trunc.jpg", seed=9, size=64)
    trunc.write_bytes(trunc.read_bytes()[:200])
    missing = tmp_path / "missing.jpg"
    paths = [good[0], empty, good[1], good[2], text, trunc, good[3], missing]
    return paths, [1, 4, 5, 7]


@pytest.mark.parametrize("workers", [0, 2])
def test_run_batches_marks_broken_files(tmp_path: Path, workers: int) -> None:
    paths, broken = _files(tmp_path)
    out, errors = run_batches(
        paths, eval_transform(CFG), SHAPE, _mean_fn, 2, batch_size=3, num_workers=workers
    )
    assert out.shape == (8, 2)
    assert out.dtype == np.float32
    bad = np.isnan(out).all(axis=1)
    assert np.flatnonzero(bad).tolist() == broken
    assert np.isfinite(out[~bad]).all()
    assert [i for i, e in enumerate(errors) if e] == broken
    assert "0 bytes" in errors[1]
    assert "not an image" in errors[4]
    assert "no such file" in errors[7]
    # each good row is that image's own output, whatever its batch
    for i in (0, 2, 3, 6):
        one, _ = run_batches([paths[i]], eval_transform(CFG), SHAPE, _mean_fn, 2, num_workers=0)
        assert np.allclose(out[i], one[0], atol=1e-6)


def test_iter_batches_skips_a_batch_of_only_broken_files(tmp_path: Path) -> None:
    paths, broken = _files(tmp_path)
    errors = [""] * len(paths)
    batches = list(
        iter_batches(paths, eval_transform(CFG), SHAPE, batch_size=2, num_workers=0, errors=errors)
    )
    seen = np.concatenate([b.index for b in batches]).tolist()
    assert seen == [0, 2, 3, 6]
    assert all(b.x.shape[1:] == SHAPE for b in batches)
    assert [i for i, e in enumerate(errors) if e] == broken


def test_image_fn_is_applied_before_the_transform(tmp_path: Path) -> None:
    path = write_image(tmp_path / "a.png", seed=0, fmt="PNG")
    plain, _ = run_batches([path], eval_transform(CFG), SHAPE, _mean_fn, 2, num_workers=0)
    flat, _ = run_batches(
        [path],
        eval_transform(CFG),
        SHAPE,
        _mean_fn,
        2,
        num_workers=0,
        image_fn=lambda im: im.point(lambda v: 128),
    )
    assert plain[0, 1] > 0.1
    assert flat[0, 1] == pytest.approx(0.0, abs=1e-6)  # a constant image has no spatial variation
