"""Embedding cache: keyed by file content, hit on re-runs, never caching failures."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
import torch

from fakescope.data.transforms import InputConfig, eval_transform
from fakescope.detectors.embed_cache import (
    EmbeddingCache,
    default_cache_dir,
    embed_files,
    file_digest,
    resolve_cache_dir,
)
from tests.conftest import write_image

CFG = InputConfig(size=32)


class CountingForward:
    """forward x [B, 3, H, W] -> per-channel means [B, 3]; counts the images it saw."""

    def __init__(self) -> None:
        self.seen = 0

    def __call__(self, x: torch.Tensor) -> np.ndarray:
        self.seen += len(x)
        return x.mean(dim=(2, 3)).numpy()


def run(
    paths: list[Path], cache: EmbeddingCache | None, fwd: CountingForward
) -> tuple[np.ndarray, list[str]]:
    return embed_files(
        paths, fwd, 3, eval_transform(CFG), (3, 32, 32), cache=cache, batch_size=4, num_workers=0
    )


@pytest.fixture
def images(tmp_path: Path) -> list[Path]:
    return [write_image(tmp_path / "img" / f"{i}.png", seed=i, fmt="PNG") for i in range(6)]


def make_cache(tmp_path: Path, **extra: object) -> EmbeddingCache:
    return EmbeddingCache(tmp_path / "cache", {"backbone": "toy", **extra}, dim=3)


def test_second_run_reads_the_cache(tmp_path: Path, images: list[Path]) -> None:
    cache = make_cache(tmp_path)
    first_fwd, second_fwd = CountingForward(), CountingForward()
    first, _ = run(images, cache, first_fwd)
    assert first_fwd.seen == len(images) and len(cache) == len(images)
    second, errors = run(images, make_cache(tmp_path), second_fwd)  # a fresh object, same disk
    assert second_fwd.seen == 0
    np.testing.assert_array_equal(first, second)
    assert errors == [""] * len(images)


def test_cache_is_keyed_by_content_not_path(tmp_path: Path, images: list[Path]) -> None:
    cache = make_cache(tmp_path)
    run(images, cache, CountingForward())
    copy = shutil.copy(images[0], tmp_path / "renamed_copy.png")
    fwd = CountingForward()
    run([Path(copy)], cache, fwd)
    assert fwd.seen == 0
    edited = tmp_path / "edited.png"
    data = bytearray(images[1].read_bytes())
    data[-5] ^= 0xFF  # one byte of the trailing IEND chunk: still decodes, different content
    edited.write_bytes(bytes(data))
    assert file_digest(edited) != file_digest(images[1])
    run([edited], cache, fwd)
    assert fwd.seen == 1


def test_description_separates_namespaces(tmp_path: Path, images: list[Path]) -> None:
    run(images, make_cache(tmp_path, size=32), CountingForward())
    fwd = CountingForward()
    run(images, make_cache(tmp_path, size=64), fwd)
    assert fwd.seen == len(images)


def test_decode_error_gives_nan_row_and_is_not_cached(tmp_path: Path, images: list[Path]) -> None:
    broken = tmp_path / "broken.png"
    broken.write_bytes(b"not an image at all")
    paths = [images[0], broken, tmp_path / "missing.png", images[1]]
    cache = make_cache(tmp_path)
    out, errors = run(paths, cache, CountingForward())
    assert np.isnan(out[1]).all() and np.isnan(out[2]).all()
    assert np.isfinite(out[[0, 3]]).all()
    assert (
        errors[0] == errors[3] == "" and "not an image" in errors[1] and "no such file" in errors[2]
    )
    assert len(cache) == 2


def test_no_cache_always_computes(images: list[Path]) -> None:
    fwd = CountingForward()
    run(images, None, fwd)
    run(images, None, fwd)
    assert fwd.seen == 2 * len(images)


def test_corrupt_cache_file_warns_and_computes(tmp_path: Path, images: list[Path]) -> None:
    cache = make_cache(tmp_path)
    cache.directory.mkdir(parents=True)
    cache.path.write_bytes(b"garbage, not sqlite" * 100)
    fwd = CountingForward()
    with pytest.warns(UserWarning, match="unusable"):
        out, _ = run(images, cache, fwd)
    assert fwd.seen == len(images) and np.isfinite(out).all()


def test_cache_dir_resolution(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("FAKESCOPE_CACHE", str(tmp_path / "fs"))
    assert default_cache_dir() == tmp_path / "fs" / "embeddings"
    assert resolve_cache_dir("auto") == tmp_path / "fs" / "embeddings"
    assert resolve_cache_dir(None) is None
    assert resolve_cache_dir(str(tmp_path / "x")) == tmp_path / "x"
    monkeypatch.delenv("FAKESCOPE_CACHE")
    assert default_cache_dir() == Path.home() / ".cache" / "fakescope" / "embeddings"
