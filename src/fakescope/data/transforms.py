"""Model input preprocessing: the eval transform every detector uses at inference.

An :class:`InputConfig` travels with a model's weights (timm's ``data_config``
idea) and is saved in the bundle, so a loaded detector preprocesses exactly as
it did in training. Training augmentations live in :mod:`fakescope.data.augment`.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from PIL import Image
from pydantic import BaseModel, ConfigDict
from torchvision.transforms import v2 as T

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)

ImageTransform = Callable[[Image.Image], torch.Tensor]


class InputConfig(BaseModel):
    """How images become model input: square ``size`` px, normalised by mean/std.

    ``resize``: "resize" scales the shorter side to ``size`` then centre-crops
    (keeps the whole image); "crop" centre-crops ``size`` px without resizing
    (keeps pixel-level traces; CNNDetection's test protocol), padding small images;
    "native" centre-crops ``size`` px at native resolution like "crop" but first
    up-scales images whose shorter side is below ``size`` to it (never down-scales,
    never pads).
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    size: int = 224
    mean: tuple[float, float, float] = IMAGENET_MEAN
    std: tuple[float, float, float] = IMAGENET_STD
    resize: str = "resize"


def to_tensor(cfg: InputConfig) -> ImageTransform:
    """PIL RGB -> float tensor [3, H, W] normalised with ``cfg.mean``/``cfg.std`` (no resizing)."""
    return T.Compose(
        [T.PILToTensor(), T.ToDtype(torch.float32, scale=True), T.Normalize(cfg.mean, cfg.std)]
    )


class UpscaleIfSmaller:
    """PIL -> PIL: scale the shorter side up to ``size`` (bicubic) when it is smaller;
    images already at least ``size`` px pass unchanged (no down-scaling)."""

    def __init__(self, size: int) -> None:
        self.size = size

    def __call__(self, img: Image.Image) -> Image.Image:
        w, h = img.size
        short = min(w, h)
        if short >= self.size:
            return img
        scale = self.size / short
        new = (max(self.size, round(w * scale)), max(self.size, round(h * scale)))
        return img.resize(new, Image.Resampling.BICUBIC)

    def __repr__(self) -> str:
        return f"UpscaleIfSmaller(size={self.size})"


def geometry(cfg: InputConfig) -> list[Callable[..., object]]:
    """The deterministic resize/crop steps of ``cfg`` (PIL in, PIL out)."""
    if cfg.resize == "resize":
        return [T.Resize(cfg.size, antialias=True), T.CenterCrop(cfg.size)]
    if cfg.resize == "crop":
        return [T.CenterCrop(cfg.size)]
    if cfg.resize == "native":
        return [UpscaleIfSmaller(cfg.size), T.CenterCrop(cfg.size)]
    raise ValueError(f"InputConfig.resize must be 'resize', 'crop' or 'native', got {cfg.resize!r}")


def eval_transform(cfg: InputConfig) -> ImageTransform:
    """PIL RGB image of any size -> normalised tensor [3, cfg.size, cfg.size]."""
    return T.Compose([*geometry(cfg), to_tensor(cfg)])
