"""Test-only generators (registered temporarily by the ``tiny_zoo`` fixture) and a tiny source."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any, ClassVar

import torch
from torch import nn

from fakescope.forge.generators.base import ImageGenerator, Kind
from fakescope.forge.presets import Preset, SplitCounts
from tests.conftest import write_image


class KilledError(RuntimeError):
    """Raised by a generator to simulate a build killed mid-training."""


class TinySampler(ImageGenerator):
    """Learns a colour bias; samples a smooth random field plus it (a sampler)."""

    name = "tiny_sampler"
    family = "vae"
    kind: ClassVar[Kind] = "sampler"
    #: Raise :class:`KilledError` when training reaches this step (None = never; not inherited).
    fail_at_step: ClassVar[int | None] = None

    def __init__(
        self,
        params: Mapping[str, Any] | None = None,
        *,
        image_size: int,
        seed: int = 0,
        device: str = "cpu",
    ) -> None:
        super().__init__(params, image_size=image_size, seed=seed, device=device)
        torch.manual_seed(seed)
        self.net = nn.Conv2d(3, 3, 3, padding=1)
        self.opt = torch.optim.Adam(self.net.parameters(), lr=0.05)

    def modules(self) -> dict[str, nn.Module]:
        return {"net": self.net}

    def optimizers(self) -> dict[str, torch.optim.Optimizer]:
        return {"opt": self.opt}

    def train_step(self, batch: torch.Tensor, rng: torch.Generator) -> dict[str, float]:
        fail_at = vars(type(self)).get("fail_at_step")  # set on this class, not inherited
        if fail_at is not None and self.step_ >= fail_at:
            raise KilledError(f"killed at step {self.step_}")
        noise = torch.rand(batch.shape, generator=rng)
        loss = ((self.net(noise) - batch) ** 2).mean()
        self.opt.zero_grad()
        loss.backward()
        self.opt.step()
        return {"loss": loss.item()}

    def sample(self, n: int, rng: torch.Generator) -> torch.Tensor:
        s = self.image_size
        noise = torch.rand(n, 3, max(1, s // 4), max(1, s // 4), generator=rng)
        noise = nn.functional.interpolate(noise, size=(s, s), mode="bilinear")
        return self.net(noise).clamp(0, 1)


class TinyManip(TinySampler):
    """Blends each image with its donor and the learned filter (a manipulation)."""

    name = "tiny_manip"
    family = "face_swap"
    kind: ClassVar[Kind] = "manipulation"

    def sample(self, n: int, rng: torch.Generator) -> torch.Tensor:
        raise NotImplementedError

    def manipulate(
        self, images: torch.Tensor, rng: torch.Generator, donors: torch.Tensor | None = None
    ) -> torch.Tensor:
        assert donors is not None and donors.shape == images.shape
        w = torch.rand(len(images), 1, 1, 1, generator=rng) * 0.3
        return ((1 - w) * images + w * self.net(donors)).clamp(0, 1)


TINY = {"tiny_sampler": TinySampler, "tiny_manip": TinyManip}


def tiny_preset(**changes: Any) -> Preset:
    """A preset for the tiny source: 4/2/4 fakes per generator, a few steps, no FD."""
    base: dict[str, Any] = {
        "name": "tiny",
        "resolution": 16,
        "generators": tuple(TINY),
        "counts": SplitCounts(train=4, val=2, test=4),
        "default_steps": 6,
        "generator_params": {g: {"batch_size": 4, "checkpoint_every": 2} for g in TINY},
        "max_train_images": 32,
        "sample_batch": 3,
        "fd_images": 0,
        "grid_images": 4,
    }
    base.update(changes)
    return Preset(**base)


def tiny_source(root: Path, n: int = 60, fmt: str = "JPEG", size: int = 16) -> Path:
    """``n`` small real images (``img000.jpg`` ...) in ``root``."""
    ext = ".jpg" if fmt == "JPEG" else ".png"
    for i in range(n):
        write_image(root / f"img{i:03d}{ext}", seed=i, size=size, fmt=fmt)
    return root
