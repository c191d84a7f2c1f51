"""Tiny continual-learning data: CoReD-style task folders with a controllable colour cue."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

#: Tiny timm settings for the cnn detector: random init, 16 px, no workers, no bars.
TINY = {
    "arch": "test_resnet",
    "img_size": 16,
    "epochs": 4,
    "lr": 0.01,
    "batch_size": 16,
    "num_workers": 0,
    "progress": False,
    "patience": 0,
    "augment": {"hflip": False},
}


def write_cue_image(path: Path, seed: int, red: int, green: int, size: int = 16) -> Path:
    """A noisy PNG whose red / green channel means are ``red`` / ``green``."""
    rng = np.random.default_rng(seed)
    img = rng.normal(0, 12, (size, size, 3)) + np.array([red, green, 120.0])
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.clip(img, 0, 255).astype(np.uint8)).save(path)
    return path


def make_tasks(
    root: Path, spec: dict[str, tuple[int, int, int]], n: int = 16, n_val: int = 8
) -> Path:
    """``<root>/<Task>/{train,val}/{real,fake}`` with ``spec[task] = (red real, red fake, green)``.

    ``n`` / ``n_val`` images per class in train / val.
    """
    seed = 0
    for task, (red_real, red_fake, green) in spec.items():
        for split, count in (("train", n), ("val", n_val)):
            for cls, red in (("real", red_real), ("fake", red_fake)):
                for i in range(count):
                    seed += 1
                    write_cue_image(root / task / split / cls / f"{i}.png", seed, red, green)
    return root


#: Task A: fakes are red; task B: fakes are NOT red (conflicting cue), B is greener.
CONFLICT = {"A": (60, 190, 60), "B": (190, 60, 190)}


@pytest.fixture(scope="session")
def conflict_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Two tasks whose real/fake cue is reversed: learning B must undo A."""
    return make_tasks(tmp_path_factory.mktemp("cl") / "tasks", CONFLICT)


@pytest.fixture(autouse=True)
def _one_thread() -> Iterator[None]:
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)
