"""Face swap: the inner face of another identity blended into the target face.

A classical (pre-deep-learning) face swap on aligned crops, like the blending
stage of FaceForensics++' FaceSwap: the donor's inner face (an ellipse, see
:mod:`fakescope.forge.generators.face_regions` for the assumed geometry) is
slightly jittered (rotation, zoom, shift drawn from the rng, so seams vary),
recoloured to the target's skin statistics (Reinhard transfer of per-channel
mean/std inside the mask, in L*a*b* by default) and pasted with a feathered
(Gaussian-blurred) elliptical mask. Nothing is trained (``steps`` defaults to 0).
"""

from __future__ import annotations

from typing import Annotated, ClassVar, Literal

import torch
from pydantic import Field

from fakescope.errors import FakescopeError
from fakescope.forge.generators.base import (
    GENERATORS,
    GeneratorParams,
    TrainingFreeManipulation,
)
from fakescope.forge.generators.face_regions import (
    DEFAULT_GEOMETRY,
    ellipse_masks,
    feather,
    match_colour,
    random_affine,
    uniform_between,
)

Scale = Annotated[float, Field(gt=0, le=2)]


class FaceSwapParams(GeneratorParams):
    """Face-swap settings; sizes are fractions of the image side."""

    steps: int = Field(default=0, ge=0)
    rotate_deg: float = Field(default=4.0, ge=0, le=30)
    zoom: float = Field(default=0.04, ge=0, lt=0.5)
    shift: float = Field(default=0.02, ge=0, lt=0.25)
    mask_scale: tuple[Scale, Scale] = (0.85, 1.0)
    feather: float = Field(default=0.03, ge=0, le=0.2)
    colour_space: Literal["lab", "rgb"] = "lab"


def check_pairs(images: torch.Tensor, donors: torch.Tensor | None, name: str) -> torch.Tensor:
    """Return ``donors`` after checking it is given and shaped like ``images`` [N, 3, H, W]."""
    if donors is None:
        raise FakescopeError(
            f"{name} needs donor faces: pass donors=[N, 3, H, W] other real images"
        )
    if donors.shape != images.shape:
        raise FakescopeError(
            f"{name}: donors {tuple(donors.shape)} must have the images' shape {tuple(images.shape)}"
        )
    return donors


@GENERATORS.register("face_swap")
class FaceSwap(TrainingFreeManipulation):
    """Paste a colour-matched donor face into each target with a feathered ellipse mask."""

    name = "face_swap"
    family = "face_swap"
    #: Whether :meth:`manipulate` needs ``donors`` (another identity per target).
    uses_donors: ClassVar[bool] = True
    Params: ClassVar[type[GeneratorParams]] = FaceSwapParams
    params: FaceSwapParams

    def manipulate_with_mask(
        self, images: torch.Tensor, rng: torch.Generator, donors: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Swapped faces [N, 3, H, W] in [0, 1] and the soft blending masks [N, 1, H, W] used."""
        donors = check_pairs(images, donors, self.name)
        p = self.params
        n, _, h, _ = images.shape
        warped = random_affine(donors, rng, rotate_deg=p.rotate_deg, scale=p.zoom, shift=p.shift)
        scale = uniform_between(n, p.mask_scale, rng)
        hard = ellipse_masks(n, h, DEFAULT_GEOMETRY, scale=scale).to(images)
        recoloured = match_colour(warped, images, hard, space=p.colour_space)
        soft = feather(hard, p.feather * h)
        out = soft * recoloured + (1.0 - soft) * images
        return out.clamp(0.0, 1.0), soft

    @torch.no_grad()
    def manipulate(
        self, images: torch.Tensor, rng: torch.Generator, donors: torch.Tensor | None = None
    ) -> torch.Tensor:
        """Targets ``images`` [N, 3, H, W] with the inner faces of ``donors`` [N, 3, H, W]."""
        return self.manipulate_with_mask(images, rng, donors)[0]
