"""Fixtures for training tests: tiny image datasets and a 2-layer CNN."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import torch
from torch import nn

from fakescope.data.transforms import InputConfig, eval_transform
from fakescope.train.dataset import SampleDataset
from tests.conftest import write_image

CFG = InputConfig(size=16)
SHAPE = (3, 16, 16)


def tiny_cnn(num_classes: int = 2) -> nn.Module:
    """Conv(3->8) + BN + ReLU + global pool + linear: [B, 3, H, W] -> [B, num_classes]."""
    return nn.Sequential(
        nn.Conv2d(3, 8, 3, padding=1),
        nn.BatchNorm2d(8),
        nn.ReLU(),
        nn.AdaptiveAvgPool2d(1),
        nn.Flatten(),
        nn.Linear(8, num_classes),
    )


def image_set(root: Path, n: int, offset: int = 0) -> tuple[list[str], list[int]]:
    """``n`` 16-px PNGs alternating real (0) / fake (1, checkerboard trace)."""
    paths, labels = [], []
    for i in range(n):
        fake = i % 2 == 1
        paths.append(
            str(write_image(root / f"{offset + i}.png", offset + i, size=16, fake=fake, fmt="PNG"))
        )
        labels.append(int(fake))
    return paths, labels


@pytest.fixture
def datasets(tmp_path: Path) -> tuple[SampleDataset, SampleDataset]:
    """(train 16 images, val 8 images) with the eval transform."""
    tp, ty = image_set(tmp_path / "train", 16)
    vp, vy = image_set(tmp_path / "val", 8, offset=100)
    t = eval_transform(CFG)
    return SampleDataset(tp, ty, t, SHAPE), SampleDataset(vp, vy, t, SHAPE)


@pytest.fixture(autouse=True)
def _one_torch_thread() -> Iterator[None]:
    """One intra-op thread: on a busy 2-core machine two OpenMP threads run ~50x slower."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)
