"""Shared test fixtures: tiny real-looking images and ../shared/data access."""

from __future__ import annotations

import zipfile
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

SHARED_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"


def write_image(
    path: Path, seed: int, size: int = 32, fake: bool = False, fmt: str = "JPEG"
) -> Path:
    """Write a small RGB image: smooth noise for reals, plus a checkerboard trace for fakes."""
    rng = np.random.default_rng(seed)
    base = rng.normal(128, 40, (size // 4, size // 4, 3))
    img = np.kron(base, np.ones((4, 4, 1)))
    if fake:
        img[::2, ::2] += 40.0
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.clip(img, 0, 255).astype(np.uint8)).save(path, format=fmt, quality=75)
    return path


@pytest.fixture
def make_image() -> object:
    """The :func:`write_image` helper as a fixture."""
    return write_image


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """../shared/data, or skip the test with a message when it is absent."""
    if not SHARED_DATA.is_dir():
        pytest.skip(f"needs ../shared/data next to the repository ({SHARED_DATA} is absent)")
    return SHARED_DATA


@pytest.fixture(scope="session")
def cifar_sample(tmp_path_factory: pytest.TempPathFactory, shared_data: Path) -> Iterator[Path]:
    """200 CIFAR-10 test JPEGs (20 per class) extracted from ../shared/data into a temp dir."""
    out = tmp_path_factory.mktemp("cifar")
    with zipfile.ZipFile(shared_data / "cifar10-jpeg.zip") as zf:
        names = sorted(n for n in zf.namelist() if n.endswith(".jpg") and "test/" in n)
        by_class: dict[str, list[str]] = {}
        for n in names:
            by_class.setdefault(n.split("/")[-2], []).append(n)
        for members in by_class.values():
            for n in members[:20]:
                zf.extract(n, out)
    yield out


@pytest.fixture(autouse=True, scope="session")
def _one_torch_thread() -> Iterator[None]:
    """Tiny models run fastest single-threaded; it also keeps tests from fighting loader workers."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)
