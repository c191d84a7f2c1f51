"""Synthetic outliers made from in-distribution images (S1: training data for the abnormality module).

Each transform in :data:`OUTLIERS` maps an image to a damaged copy of the same
type and size: a PIL image (any mode, returned as RGB) or a float tensor
[C, H, W] / [B, C, H, W] whose values are treated as intensities in [0, 1]
(the output is clipped to [0, 1]). Randomness comes only from the
``numpy.random.Generator`` passed in, so a seed fixes the result.

* ``gaussian_blur``: Gaussian blur, sigma 2.5 px (removes high frequencies).
* ``additive_noise``: x + N(0, 0.1^2) per pixel and channel.
* ``multiplicative_noise``: x * U(0.9, 1.2) per pixel and channel.
* ``rotate90_noise``: rotation by +-90 degrees (direction random) plus
  N(0, 0.05^2) noise; a non-square image is resized back to its own size.
* ``jpeg10``: JPEG re-encode at quality 10 (8x8 block artefacts).

:func:`make_outliers` turns a list of ID images into an outlier set (the
transforms cycled over the images, one seeded generator per image) and can
append the images of real outlier folders (e.g. other generators).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeVar

import numpy as np
import torch
from PIL import Image
from scipy.ndimage import gaussian_filter

from fakescope.data import degrade
from fakescope.data.decode import load_image
from fakescope.data.layouts.files import list_images
from fakescope.errors import ConfigError, DataError
from fakescope.registry import Registry

ImageLike = TypeVar("ImageLike", Image.Image, torch.Tensor)

BLUR_SIGMA = 2.5
ADDITIVE_STD = 0.1
MULT_RANGE = (0.9, 1.2)
ROTATE_NOISE_STD = 0.05
JPEG_QUALITY = 10


class OutlierTransform:
    """A registered synthetic-outlier transform: ``t(image, rng) -> image`` (same type, same size).

    Subclasses implement :meth:`array` on a float32 array [H, W, C] in [0, 1];
    :meth:`__call__` converts PIL images and tensors to and from it.
    """

    name: str = ""

    def array(self, x: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """The transform of ``x`` [H, W, C] float32 in [0, 1] (same shape, clipped to [0, 1])."""
        raise NotImplementedError

    def pil(self, img: Image.Image, rng: np.random.Generator) -> Image.Image:
        """The transform of an RGB PIL image (default: via :meth:`array`, rounded to uint8)."""
        x = np.asarray(img.convert("RGB"), dtype=np.float32) / 255.0
        out = np.clip(self.array(x, rng), 0.0, 1.0)
        return Image.fromarray(np.round(out * 255.0).astype(np.uint8))

    def __call__(self, image: ImageLike, rng: np.random.Generator) -> ImageLike:
        """Apply to a PIL image or a tensor [C, H, W] / [B, C, H, W] in [0, 1] (one draw per image)."""
        if isinstance(image, Image.Image):
            return self.pil(image, rng)
        if not isinstance(image, torch.Tensor) or image.ndim not in (3, 4):
            raise TypeError(
                f"outlier transform {self.name} takes a PIL image or a tensor [C, H, W] / "
                f"[B, C, H, W], got {type(image).__name__}"
            )
        if image.ndim == 4:
            return torch.stack([self(img, rng) for img in image])
        x = image.detach().float().clamp(0, 1).permute(1, 2, 0).cpu().numpy()
        out = np.clip(self.array(x, rng), 0.0, 1.0)
        return torch.from_numpy(np.ascontiguousarray(out)).permute(2, 0, 1).to(image)


#: Synthetic-outlier transforms by name (instances; see the module docstring).
OUTLIERS: Registry[OutlierTransform] = Registry("outlier transform")


def _register(cls: type[OutlierTransform]) -> type[OutlierTransform]:
    OUTLIERS.register(cls.name)(cls())
    return cls


@_register
class GaussianBlur(OutlierTransform):
    """Gaussian blur with sigma :data:`BLUR_SIGMA` px over both spatial axes (edges reflected)."""

    name = "gaussian_blur"

    def array(self, x: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        return gaussian_filter(x, sigma=(BLUR_SIGMA, BLUR_SIGMA, 0.0), mode="reflect")


@_register
class AdditiveNoise(OutlierTransform):
    """x + N(0, :data:`ADDITIVE_STD`^2), independent per pixel and channel."""

    name = "additive_noise"

    def array(self, x: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        return x + rng.normal(0.0, ADDITIVE_STD, x.shape).astype(np.float32)


@_register
class MultiplicativeNoise(OutlierTransform):
    """x * U(0.9, 1.2), independent per pixel and channel (:data:`MULT_RANGE`)."""

    name = "multiplicative_noise"

    def array(self, x: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        return x * rng.uniform(*MULT_RANGE, x.shape).astype(np.float32)


@_register
class Rotate90Noise(OutlierTransform):
    """Rotation by +90 or -90 degrees (random) + N(0, :data:`ROTATE_NOISE_STD`^2) noise.

    A non-square image is resized (bilinear) back to its own height and width after rotating.
    """

    name = "rotate90_noise"

    def array(self, x: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        k = 1 if rng.random() < 0.5 else 3
        rot = np.rot90(x, k=k, axes=(0, 1))
        if rot.shape != x.shape:
            h, w = x.shape[:2]
            t = torch.from_numpy(np.ascontiguousarray(rot)).permute(2, 0, 1)[None]
            t = torch.nn.functional.interpolate(
                t, size=(h, w), mode="bilinear", align_corners=False
            )
            rot = t[0].permute(1, 2, 0).numpy()
        return rot + rng.normal(0.0, ROTATE_NOISE_STD, x.shape).astype(np.float32)


@_register
class Jpeg10(OutlierTransform):
    """JPEG re-encode at quality :data:`JPEG_QUALITY` (deterministic; tensors go through uint8)."""

    name = "jpeg10"

    def pil(self, img: Image.Image, rng: np.random.Generator) -> Image.Image:
        return degrade.jpeg(img.convert("RGB"), JPEG_QUALITY)

    def array(self, x: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        if x.shape[2] not in (1, 3):
            raise ValueError(f"jpeg10 needs 1 or 3 channels, got {x.shape[2]}")
        u8 = np.round(np.clip(x, 0, 1) * 255.0).astype(np.uint8)
        img = Image.fromarray(u8[..., 0] if x.shape[2] == 1 else u8)
        out = degrade.jpeg(img, JPEG_QUALITY)
        arr = np.asarray(out, dtype=np.float32) / 255.0
        return arr[..., :1] if x.shape[2] == 1 else arr


#: The thesis's five synthetic outlier kinds, in this order.
DEFAULT_KINDS: tuple[str, ...] = (
    "gaussian_blur",
    "additive_noise",
    "multiplicative_noise",
    "rotate90_noise",
    "jpeg10",
)


@dataclass
class OutlierSet:
    """Outlier images and where each came from: ``kinds[i]`` is a transform name or ``"real"``.

    ``sources[i]``: the index of the ID image it was made from (-1 for real outliers);
    ``real_paths``: the files of the real outliers, in order.
    """

    images: list[Image.Image] = field(default_factory=list)
    kinds: list[str] = field(default_factory=list)
    sources: list[int] = field(default_factory=list)
    real_paths: list[str] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.images)


def check_kinds(kinds: Sequence[str] | None) -> tuple[str, ...]:
    """Validated transform names (None = :data:`DEFAULT_KINDS`); ConfigError for unknown ones."""
    names = tuple(kinds) if kinds is not None else DEFAULT_KINDS
    if not names:
        raise ConfigError("the list of outlier transforms is empty; give at least one")
    unknown = [k for k in names if k not in OUTLIERS]
    if unknown:
        raise ConfigError(
            f"unknown outlier transform(s) {', '.join(unknown)}; choose from {', '.join(OUTLIERS.names())}"
        )
    return names


def make_outliers(
    images: Sequence[Image.Image | str | Path],
    *,
    kinds: Sequence[str] | None = None,
    seed: int = 0,
    per_image: int = 1,
    real_folders: Sequence[str | Path] = (),
    max_real: int | None = None,
) -> OutlierSet:
    """An outlier set from ID ``images`` (PIL images or file paths) plus optional real outliers.

    Outlier j of image i (j < ``per_image``) uses transform ``kinds[(i * per_image + j) %
    len(kinds)]`` with ``numpy.random.default_rng([seed, i, j])``, so the result depends only on
    the seed and the inputs (not on the order of calls). Then every image file in
    ``real_folders`` (recursive, sorted; the first ``max_real`` per folder when given) is appended
    with kind ``"real"``. An unreadable file raises :class:`~fakescope.errors.DecodeError`.
    """
    names = check_kinds(kinds)
    if per_image < 1:
        raise ConfigError(f"per_image must be >= 1, got {per_image}")
    out = OutlierSet()
    for i, item in enumerate(images):
        img = item if isinstance(item, Image.Image) else load_image(item)
        img = img.convert("RGB")
        for j in range(per_image):
            kind = names[(i * per_image + j) % len(names)]
            rng = np.random.default_rng([seed, i, j])
            out.images.append(OUTLIERS.get(kind)(img, rng))
            out.kinds.append(kind)
            out.sources.append(i)
    for folder in real_folders:
        root = Path(folder).expanduser().absolute()
        if not root.is_dir():
            raise DataError(f"real outlier folder {root} does not exist; check the path")
        files = list_images(root)
        if not files:
            raise DataError(f"real outlier folder {root} holds no images; check the path")
        for path in files[:max_real] if max_real is not None else files:
            out.images.append(load_image(path).convert("RGB"))
            out.kinds.append("real")
            out.sources.append(-1)
            out.real_paths.append(path)
    return out
