"""A training-free stand-in benchmark: fakes made by resampling real images.

Until the generator zoo lands, the demo needs fakes that carry a real,
generator-like trace. Each "generator" here downsamples a real image by 2 and
up-samples it back with one interpolation kernel - the up-sampling trace NPR and
ForenSynths' SAN/SITD analogue look for - so a detector trained on one kernel
may or may not transfer to another (a small cross-generator experiment).

Honesty rules kept: every real and every fake passes the same final encode
exactly once (decode -> [manipulate] -> JPEG at the reals' quality, same size
and mode), reals are disjoint across generators and splits, and each fake is
made from a real image that is not itself in the benchmark.
"""

from __future__ import annotations

import zipfile
from collections.abc import Iterable
from pathlib import Path

import numpy as np
from PIL import Image

from fakescope.data.decode import load_image
from fakescope.data.schema import SPLITS
from fakescope.errors import DataError
from fakescope.forge.encode import FormatSpec, encode_like
from fakescope.progress import progress_bar

#: generator name -> PIL up-sampling kernel used to restore the size.
KERNELS: dict[str, Image.Resampling] = {
    "upsample-nearest": Image.Resampling.NEAREST,
    "upsample-bilinear": Image.Resampling.BILINEAR,
    "upsample-bicubic": Image.Resampling.BICUBIC,
}
FAMILY = "upsampler"
SPLIT_FRACTIONS = {"train": 0.6, "val": 0.1, "test": 0.3}


def resample_fake(img: Image.Image, kernel: Image.Resampling) -> Image.Image:
    """Downscale an RGB image by 2 (box filter) and restore its size with ``kernel``."""
    w, h = img.size
    small = img.resize((max(1, w // 2), max(1, h // 2)), Image.Resampling.BOX)
    return small.resize((w, h), kernel)


def list_sources(source: Path) -> list[str]:
    """Sorted image member names of a zip, or sorted image paths under a folder."""
    exts = (".jpg", ".jpeg", ".png")
    if source.is_file() and source.suffix == ".zip":
        with zipfile.ZipFile(source) as zf:
            return sorted(n for n in zf.namelist() if n.lower().endswith(exts))
    if source.is_dir():
        return sorted(str(p) for p in source.rglob("*") if p.suffix.lower() in exts)
    raise DataError(f"source {source} is neither a folder nor a .zip of images; pass one")


def build_resample_benchmark(
    source: Path,
    out: Path,
    *,
    per_generator: int = 1000,
    generators: Iterable[str] = tuple(KERNELS),
    quality: int = 75,
    seed: int = 0,
    progress: bool = True,
) -> Path:
    """Write ``<out>/<gen>/{train,val,test}/{0_real,1_fake}/*.jpg`` from real images.

    Each generator takes ``per_generator`` distinct source images: half stay
    real, half become fakes. Returns ``out``. Deterministic for a given
    ``seed`` and source.
    """
    gens = list(generators)
    unknown = [g for g in gens if g not in KERNELS]
    if unknown:
        raise DataError(f"unknown resampling generator(s) {unknown}; choose from {list(KERNELS)}")
    names = list_sources(source)
    need = per_generator * len(gens)
    if len(names) < need:
        raise DataError(
            f"{source} has {len(names)} images; {need} are needed ({per_generator} per generator)"
        )
    order = np.random.default_rng(seed).permutation(len(names))[:need]
    zf = zipfile.ZipFile(source) if source.is_file() else None
    try:
        with progress_bar(need, "building stand-in benchmark" if progress else None) as advance:
            for g, gen in enumerate(gens):
                chunk = [names[i] for i in order[g * per_generator : (g + 1) * per_generator]]
                for j, name in enumerate(chunk):
                    img = load_image(zf.read(name) if zf else name)
                    fake = j % 2 == 1
                    split = _split_of(j // 2, per_generator // 2)
                    if fake:
                        img = resample_fake(img, KERNELS[gen])
                    folder = out / gen / split / ("1_fake" if fake else "0_real")
                    spec = FormatSpec(format="JPEG", size=img.size, quality=quality)
                    encode_like(img, spec, folder / f"{j // 2:05d}.jpg")
                    advance(1)
    finally:
        if zf is not None:
            zf.close()
    return out


def _split_of(k: int, n: int) -> str:
    """Split of the k-th of n pairs: the first 60% train, the next 10% val, the rest test."""
    edges = np.cumsum([SPLIT_FRACTIONS[s] for s in SPLITS]) * n
    return SPLITS[int(np.searchsorted(edges, k, side="right"))]
