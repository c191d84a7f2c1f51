"""Self-blended images (SBI; Shiohara & Yamasaki, CVPR 2022): a face blended back into itself.

Recipe, per image (all draws from the rng; face geometry from
:mod:`fakescope.forge.generators.face_regions`):

1. **source** = the image, colour-jittered (brightness, contrast, saturation,
   hue rotation, per-channel RGB shift), then either sharpened (unsharp mask)
   or blurred (Gaussian), then slightly rescaled and translated;
2. **mask** = the inner-face ellipse at a random scale, elastically deformed
   (a smooth random displacement field), then feathered with a random
   Gaussian blur, which also acts as a random erosion/dilation;
3. **blend** = source * (r * mask) + image * (1 - r * mask), with the blend
   ratio r drawn from {0.25, 0.5, 0.75, 1, 1, 1} as in the paper.

Unlike the paper, only the source is transformed (the target stays the
untouched real), so pixels far outside the face never change. Nothing is
trained (``steps`` defaults to 0).
"""

from __future__ import annotations

from typing import Annotated, ClassVar

import torch
from pydantic import Field

from fakescope.forge.generators.base import (
    GENERATORS,
    GeneratorParams,
    TrainingFreeManipulation,
)
from fakescope.forge.generators.face_regions import (
    DEFAULT_GEOMETRY,
    elastic_deform,
    ellipse_masks,
    feather,
    gaussian_blur,
    random_affine,
    uniform,
    uniform_between,
)

Positive = Annotated[float, Field(gt=0, le=4)]
NonNegative = Annotated[float, Field(ge=0, le=4)]
Fraction = Annotated[float, Field(ge=0, le=0.3)]
BLEND_RATIOS = (0.25, 0.5, 0.75, 1.0, 1.0, 1.0)
_RGB_TO_YIQ = torch.tensor([[0.299, 0.587, 0.114], [0.596, -0.274, -0.322], [0.211, -0.523, 0.312]])


class SelfBlendParams(GeneratorParams):
    """SBI settings; sizes are fractions of the image side unless they say pixels."""

    steps: int = Field(default=0, ge=0)
    brightness: float = Field(default=0.08, ge=0, le=0.5)
    contrast: float = Field(default=0.15, ge=0, lt=1)
    saturation: float = Field(default=0.2, ge=0, lt=1)
    hue_deg: float = Field(default=6.0, ge=0, le=90)
    rgb_shift: float = Field(default=0.04, ge=0, le=0.3)
    sharpen: tuple[NonNegative, NonNegative] = (0.4, 1.2)
    blur_px: tuple[Positive, Positive] = (0.5, 1.2)
    zoom: float = Field(default=0.04, ge=0, lt=0.5)
    shift: float = Field(default=0.02, ge=0, lt=0.25)
    mask_scale: tuple[Positive, Positive] = (0.8, 1.05)
    deform: float = Field(default=0.02, ge=0, le=0.2)
    feather: tuple[Fraction, Fraction] = (0.01, 0.05)


def colour_jitter(images: torch.Tensor, rng: torch.Generator, p: SelfBlendParams) -> torch.Tensor:
    """Per-image brightness/contrast/saturation/hue/RGB-shift jitter of [N, 3, H, W] in [0, 1]."""
    n = images.shape[0]
    yiq = torch.einsum("ij,njhw->nihw", _RGB_TO_YIQ.to(images), images)
    contrast = uniform(n, 1 - p.contrast, 1 + p.contrast, rng).to(images)
    bright = uniform(n, -p.brightness, p.brightness, rng).to(images)
    luma = yiq[:, :1]
    mean_luma = luma.mean(dim=(2, 3), keepdim=True)
    luma = (luma - mean_luma) * contrast.view(n, 1, 1, 1) + mean_luma + bright.view(n, 1, 1, 1)
    angle = torch.deg2rad(uniform(n, -p.hue_deg, p.hue_deg, rng)).to(images)
    sat = uniform(n, 1 - p.saturation, 1 + p.saturation, rng).to(images)
    cos, sin = (torch.cos(angle) * sat).view(n, 1, 1), (torch.sin(angle) * sat).view(n, 1, 1)
    i, q = yiq[:, 1], yiq[:, 2]
    chroma = torch.stack([cos * i - sin * q, sin * i + cos * q], dim=1)
    rgb = torch.einsum(
        "ij,njhw->nihw", torch.linalg.inv(_RGB_TO_YIQ).to(images), torch.cat([luma, chroma], 1)
    )
    shift = uniform(3 * n, -p.rgb_shift, p.rgb_shift, rng).view(n, 3, 1, 1).to(images)
    return (rgb + shift).clamp(0.0, 1.0)


def sharpen_or_blur(images: torch.Tensor, rng: torch.Generator, p: SelfBlendParams) -> torch.Tensor:
    """Unsharp-mask or Gaussian-blur each image [N, 3, H, W] (coin flip per image)."""
    n = images.shape[0]
    do_sharpen = torch.rand(n, generator=rng) < 0.5
    amount = uniform_between(n, p.sharpen, rng)
    sigma = uniform_between(n, p.blur_px, rng)
    out = []
    for k in range(n):
        x = images[k : k + 1]
        if do_sharpen[k]:
            x = x + float(amount[k]) * (x - gaussian_blur(x, 1.0))
        else:
            x = gaussian_blur(x, float(sigma[k]))
        out.append(x)
    return torch.cat(out).clamp(0.0, 1.0)


@GENERATORS.register("self_blend")
class SelfBlend(TrainingFreeManipulation):
    """Blend a colour/frequency-jittered, slightly warped copy of each face back into it."""

    name = "self_blend"
    family = "self_blend"
    #: Whether :meth:`manipulate` needs ``donors`` (the face is blended with itself).
    uses_donors: ClassVar[bool] = False
    Params: ClassVar[type[GeneratorParams]] = SelfBlendParams
    params: SelfBlendParams

    def blend_masks(self, n: int, size: int, rng: torch.Generator) -> torch.Tensor:
        """Random deformed, feathered face masks [n, 1, size, size] times the blend ratio."""
        p = self.params
        scale = uniform_between(n, p.mask_scale, rng)
        hard = ellipse_masks(n, size, DEFAULT_GEOMETRY, scale=scale)
        bent = (elastic_deform(hard, rng, strength=p.deform) > 0.5).float()
        sigma = uniform_between(n, p.feather, rng) * size
        soft = torch.cat([feather(bent[k : k + 1], float(sigma[k])) for k in range(n)])
        pick = torch.randint(len(BLEND_RATIOS), (n,), generator=rng)
        ratio = torch.tensor(BLEND_RATIOS)[pick].view(n, 1, 1, 1)
        return soft * ratio

    def manipulate_with_mask(
        self, images: torch.Tensor, rng: torch.Generator
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Self-blended images [N, 3, H, W] in [0, 1] and the blend weights [N, 1, H, W] used."""
        p = self.params
        n, _, h, _ = images.shape
        source = colour_jitter(images, rng, p)
        source = sharpen_or_blur(source, rng, p)
        source = random_affine(source, rng, scale=p.zoom, shift=p.shift)
        weight = self.blend_masks(n, h, rng).to(images)
        out = weight * source + (1.0 - weight) * images
        return out.clamp(0.0, 1.0), weight

    @torch.no_grad()
    def manipulate(
        self, images: torch.Tensor, rng: torch.Generator, donors: torch.Tensor | None = None
    ) -> torch.Tensor:
        """Self-blended copies [N, 3, H, W] of ``images``; ``donors`` is ignored."""
        return self.manipulate_with_mask(images, rng)[0]
