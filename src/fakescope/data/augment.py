"""Training-time augmentation: PIL image -> normalised tensor [3, size, size], random.

The recipe follows CNNDetection (Wang et al., CVPR'20): with probability
``blur_prob`` a Gaussian blur with sigma ~ U(blur_sigma), with probability
``jpeg_prob`` a JPEG re-encode with quality ~ U{jpeg_quality}; then a random
crop (or resized crop) to the model size, a random horizontal flip, and the
same normalisation as :func:`fakescope.data.transforms.eval_transform`.
Presets ``blur_jpeg_0.5`` / ``blur_jpeg_0.1`` set both probabilities.

Every step is a small class (no lambdas), so the composed transform pickles
into DataLoader worker processes. Randomness comes from torch's RNG, which
Lightning seeds per worker (``seed_everything(seed, workers=True)``).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Literal

import torch
from PIL import Image
from pydantic import BaseModel, ConfigDict, Field, model_validator
from torchvision.transforms import v2 as T

from fakescope.data import degrade
from fakescope.data.transforms import (
    ImageTransform,
    InputConfig,
    UpscaleIfSmaller,
    geometry,
    to_tensor,
)

Preset = Literal["blur_jpeg_0.5", "blur_jpeg_0.1"]
Crop = Literal["none", "random", "resized"]

#: The CNNDetection recipe: probability of blur and of JPEG per preset.
PRESETS: dict[str, float] = {"blur_jpeg_0.5": 0.5, "blur_jpeg_0.1": 0.1}
DEFAULT_SIGMA = (0.0, 3.0)
DEFAULT_QUALITY = (30, 100)


class AugmentConfig(BaseModel):
    """Training augmentation settings (all off except flip and random crop by default).

    ``crop``: "none" = the eval geometry exactly; "random" = the eval geometry
    with a random instead of a centred crop (same scale as at test time: keeps
    pixel-level traces); "resized" = ImageNet-style random resized crop
    (scale 0.5-1, changes the scale). ``preset`` fills ``blur_prob`` and
    ``jpeg_prob`` (CNNDetection's "Blur+JPEG (0.5)" / "(0.1)").
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    preset: Preset | None = None
    hflip: bool = True
    blur_prob: float = Field(default=0.0, ge=0, le=1)
    blur_sigma: tuple[float, float] = DEFAULT_SIGMA
    jpeg_prob: float = Field(default=0.0, ge=0, le=1)
    jpeg_quality: tuple[int, int] = DEFAULT_QUALITY
    crop: Crop = "random"

    @model_validator(mode="before")
    @classmethod
    def _apply_preset(cls, data: Any) -> Any:
        if not isinstance(data, dict) or data.get("preset") is None:
            return data
        preset = data["preset"]
        if preset not in PRESETS:
            return data  # the Literal check reports it
        p = PRESETS[preset]
        out = dict(data)
        for key in ("blur_prob", "jpeg_prob"):
            if key in out and float(out[key]) != p:
                raise ValueError(f"preset {preset} sets {key}={p}; drop {key} or the preset")
            out[key] = p
        return out

    @model_validator(mode="after")
    def _check_ranges(self) -> AugmentConfig:
        lo, hi = self.blur_sigma
        if not 0 <= lo <= hi:
            raise ValueError(
                f"blur_sigma must be [low, high] with 0 <= low <= high, got {self.blur_sigma}"
            )
        qlo, qhi = self.jpeg_quality
        if not 1 <= qlo <= qhi <= 100:
            raise ValueError(
                f"jpeg_quality must be [low, high] with 1 <= low <= high <= 100, got {self.jpeg_quality}"
            )
        return self


class RandomBlur:
    """With probability ``p``, Gaussian blur with sigma ~ U(sigma[0], sigma[1]) (PIL -> PIL)."""

    def __init__(self, p: float, sigma: tuple[float, float]) -> None:
        self.p = p
        self.sigma = sigma

    def __call__(self, img: Image.Image) -> Image.Image:
        if self.p <= 0 or torch.rand(()).item() >= self.p:
            return img
        lo, hi = self.sigma
        return degrade.blur(img, lo + (hi - lo) * torch.rand(()).item())

    def __repr__(self) -> str:
        return f"RandomBlur(p={self.p}, sigma={self.sigma})"


class RandomJPEG:
    """With probability ``p``, JPEG re-encode at quality ~ U{quality[0]..quality[1]} (PIL -> PIL)."""

    def __init__(self, p: float, quality: tuple[int, int]) -> None:
        self.p = p
        self.quality = quality

    def __call__(self, img: Image.Image) -> Image.Image:
        if self.p <= 0 or torch.rand(()).item() >= self.p:
            return img
        lo, hi = self.quality
        return degrade.jpeg(img, int(torch.randint(lo, hi + 1, ()).item()))

    def __repr__(self) -> str:
        return f"RandomJPEG(p={self.p}, quality={self.quality})"


def train_geometry(cfg: InputConfig, crop: Crop) -> list[Callable[..., object]]:
    """The random resize/crop steps to ``cfg.size`` px (PIL in, PIL out); see :class:`AugmentConfig`."""
    if crop == "none":
        return geometry(cfg)
    if crop == "resized":
        return [T.RandomResizedCrop(cfg.size, scale=(0.5, 1.0), antialias=True)]
    if cfg.resize == "resize":
        return [T.Resize(cfg.size, antialias=True), T.RandomCrop(cfg.size, pad_if_needed=True)]
    if cfg.resize == "native":
        return [UpscaleIfSmaller(cfg.size), T.RandomCrop(cfg.size)]
    geometry(cfg)  # raises on an unknown resize mode
    return [T.RandomCrop(cfg.size, pad_if_needed=True)]


def train_transform(cfg: InputConfig, aug: AugmentConfig | None = None) -> ImageTransform:
    """PIL RGB image -> augmented, normalised tensor [3, cfg.size, cfg.size].

    Order: blur, JPEG (on the full image, as in CNNDetection), crop, flip,
    normalise. With every probability 0, ``hflip=False`` and ``crop="none"``
    the output equals :func:`~fakescope.data.transforms.eval_transform`'s.
    """
    aug = aug or AugmentConfig()
    steps: list[Callable[..., object]] = []
    if aug.blur_prob > 0:
        steps.append(RandomBlur(aug.blur_prob, aug.blur_sigma))
    if aug.jpeg_prob > 0:
        steps.append(RandomJPEG(aug.jpeg_prob, aug.jpeg_quality))
    steps.extend(train_geometry(cfg, aug.crop))
    if aug.hflip:
        steps.append(T.RandomHorizontalFlip())
    steps.append(to_tensor(cfg))
    return T.Compose(steps)
