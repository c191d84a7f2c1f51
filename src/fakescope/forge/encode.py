"""Format matching: estimate how the reals are stored and write every image the same way.

A detector must never be able to win by reading the file format, so every
real and every fake of a benchmark goes through :func:`encode_like` exactly
once, with one :class:`FormatSpec`:

* **JPEG** sources: the spec keeps the colour mode, the chroma subsampling,
  progressive or not, and the quality. The quality is estimated from the
  quantization tables: they are compared with the standard (libjpeg/Pillow)
  tables scaled for q = 1..100 and the exact match, else the nearest (sum of
  absolute differences), is taken. When the source's tables are not standard
  ones (a camera's own tables), the source's tables themselves are written, so
  reals and fakes still carry identical tables.
* **PNG** (and any other lossless or unknown format): lossless PNG in the
  source's mode.

The ``aligned`` preset's ``history: equalize`` replaces the estimate by one
fixed spec (:func:`history_spec`: JPEG q90 4:2:0) for reals and fakes alike.
No file carries metadata (EXIF, ICC profile, comments): :func:`encode_like`
drops what a decoded real still holds, so reals and fakes cannot differ there.

The image size is the benchmark's working resolution (reals are cropped and
resized to it before encoding; generators work at it). Writes are atomic: a
hidden temp file in the same folder, then :func:`os.replace`.
"""

from __future__ import annotations

import io
from collections import Counter
from collections.abc import Sequence
from functools import lru_cache
from pathlib import Path
from typing import Any, Literal

import numpy as np
import torch
from PIL import Image, JpegImagePlugin
from pydantic import BaseModel, ConfigDict

from fakescope.fileio import atomic_path

Tables = tuple[tuple[int, ...], ...]

#: Pillow's ``subsampling`` codes: 0 = 4:4:4, 1 = 4:2:2, 2 = 4:2:0.
SUBSAMPLING_NAMES: dict[int, str] = {0: "4:4:4", 1: "4:2:2", 2: "4:2:0"}


class FormatSpec(BaseModel):
    """How every image of a benchmark is written (one spec per build)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    format: Literal["JPEG", "PNG"]
    mode: Literal["RGB", "L"] = "RGB"
    #: (width, height) of every file.
    size: tuple[int, int]
    #: Estimated JPEG quality (1..100); None for PNG.
    quality: int | None = None
    #: The source's own quantization tables when they are not standard ones; None otherwise.
    qtables: Tables | None = None
    #: Chroma subsampling code (see :data:`SUBSAMPLING_NAMES`); None for PNG and grey JPEG.
    subsampling: int | None = None
    progressive: bool = False

    @property
    def extension(self) -> str:
        """File extension of this format (".jpg" or ".png")."""
        return ".jpg" if self.format == "JPEG" else ".png"

    def save_kwargs(self) -> dict[str, Any]:
        """Keyword arguments of :meth:`PIL.Image.Image.save` that realise this spec."""
        if self.format == "PNG":
            return {"format": "PNG"}
        kwargs: dict[str, Any] = {"format": "JPEG", "progressive": self.progressive}
        if self.qtables is not None:
            kwargs["qtables"] = [list(t) for t in self.qtables]
        else:
            kwargs["quality"] = self.quality
        if self.mode == "RGB" and self.subsampling is not None:
            kwargs["subsampling"] = self.subsampling
        return kwargs

    def describe(self) -> str:
        """One line, e.g. ``JPEG q=75 4:2:0 RGB 32x32``."""
        w, h = self.size
        if self.format == "PNG":
            return f"PNG {self.mode} {w}x{h}"
        sub = SUBSAMPLING_NAMES.get(self.subsampling or 0, "") if self.mode == "RGB" else ""
        tables = " (source tables)" if self.qtables is not None else ""
        prog = " progressive" if self.progressive else ""
        return f"JPEG q={self.quality}{tables} {sub}{prog} {self.mode} {w}x{h}".replace("  ", " ")


class FileFormat(BaseModel):
    """What one file's header says (no pixel decoding)."""

    model_config = ConfigDict(frozen=True)

    format: str
    mode: str
    size: tuple[int, int]
    qtables: Tables | None = None
    subsampling: int | None = None
    progressive: bool = False


class FormatEstimate(BaseModel):
    """The spec estimated from a sample of source files, and how well the sample agreed."""

    spec: FormatSpec
    sampled: int
    #: Fraction of the sampled files whose format equals the chosen (most common) one.
    agreement: float
    #: Most common (width, height) of the sampled source files (before crop/resize).
    source_size: tuple[int, int]
    #: True when the quality's standard tables match the source's tables exactly.
    exact_quality: bool
    note: str = ""


# ----------------------------------------------------------------- quality
@lru_cache(maxsize=1)
def standard_tables() -> dict[int, Tables]:
    """Pillow/libjpeg's standard (luminance, chrominance) tables for q = 1..100, row order."""
    probe = Image.new("RGB", (16, 16), (128, 64, 32))
    out: dict[int, Tables] = {}
    for q in range(1, 101):
        buf = io.BytesIO()
        probe.save(buf, format="JPEG", quality=q)
        buf.seek(0)
        with Image.open(buf) as img:
            tables = img.quantization  # type: ignore[attr-defined]
            out[q] = tuple(tuple(int(v) for v in tables[k]) for k in sorted(tables))
    return out


def estimate_quality(tables: Tables) -> tuple[int, bool]:
    """The JPEG quality whose standard tables are nearest ``tables``; (quality, exact match).

    ``tables``: the file's quantization tables (luminance first, 64 values each,
    row order as Pillow reports them). Only as many tables as the file has are compared.
    """
    best_q, best_d = 0, -1
    for q, std in standard_tables().items():
        d = sum(
            abs(a - b)
            for t, s in zip(tables, std, strict=False)
            for a, b in zip(t, s, strict=False)
        )
        if best_d < 0 or d < best_d:
            best_q, best_d = q, d
    return best_q, best_d == 0


def inspect_format(source: str | Path | bytes) -> FileFormat:
    """Read the header of one image file (a path or its bytes); raises OSError when unreadable."""
    fp: Any = io.BytesIO(source) if isinstance(source, bytes) else Path(source)
    with Image.open(fp) as img:
        qtables: Tables | None = None
        subsampling: int | None = None
        progressive = False
        if img.format == "JPEG":
            raw = img.quantization  # type: ignore[attr-defined]
            qtables = tuple(tuple(int(v) for v in raw[k]) for k in sorted(raw))
            code = JpegImagePlugin.get_sampling(img)
            subsampling = None if code < 0 else int(code)
            progressive = bool(img.info.get("progressive") or img.info.get("progression"))
        return FileFormat(
            format=str(img.format),
            mode=img.mode,
            size=img.size,
            qtables=qtables,
            subsampling=subsampling,
            progressive=progressive,
        )


def _spec_mode(mode: str) -> Literal["RGB", "L"]:
    """Grey sources stay grey (L); every other mode becomes RGB (alpha composited on white)."""
    return "L" if mode in ("L", "1", "I", "I;16", "I;16B", "I;16L", "LA") else "RGB"


def estimate_format(
    files: Sequence[str | Path | bytes], size: tuple[int, int] | None = None
) -> FormatEstimate:
    """Estimate the reals' :class:`FormatSpec` from a sample of source files.

    The most common (format, mode, tables, subsampling, progressive) among the
    readable files wins. ``size``: the benchmark's (width, height); None keeps
    the most common source size. Non-JPEG sources are written as lossless PNG.
    Raises ValueError when none of ``files`` can be read.
    """
    formats: list[FileFormat] = []
    for f in files:
        try:
            formats.append(inspect_format(f))
        except (OSError, ValueError, SyntaxError):
            continue
    if not formats:
        raise ValueError("none of the sampled source files is a readable image")

    def key(f: FileFormat) -> tuple[object, ...]:
        return (f.format, _spec_mode(f.mode), f.qtables, f.subsampling, f.progressive)

    counts = Counter(key(f) for f in formats)
    top, n_top = counts.most_common(1)[0]
    chosen = next(f for f in formats if key(f) == top)
    source_size = Counter(f.size for f in formats).most_common(1)[0][0]
    mode = _spec_mode(chosen.mode)
    note = ""
    if chosen.format == "JPEG" and chosen.qtables is not None:
        quality, exact = estimate_quality(chosen.qtables)
        std = standard_tables()[quality][: len(chosen.qtables)]
        spec = FormatSpec(
            format="JPEG",
            mode=mode,
            size=size or source_size,
            quality=quality,
            qtables=None if exact and std == chosen.qtables else chosen.qtables,
            # 4:2:0 (Pillow's default) when the source's sampling has no Pillow code
            subsampling=(2 if chosen.subsampling is None else chosen.subsampling)
            if mode == "RGB"
            else None,
            progressive=chosen.progressive,
        )
        if not exact:
            note = f"non-standard JPEG tables (nearest quality {quality}); the source's tables are reused"
    else:
        spec = FormatSpec(format="PNG", mode=mode, size=size or source_size)
        exact = True
        if chosen.format != "PNG":
            note = f"{chosen.format} sources are written as lossless PNG"
    return FormatEstimate(
        spec=spec,
        sampled=len(formats),
        agreement=n_top / len(formats),
        source_size=source_size,
        exact_quality=exact,
        note=note,
    )


def history_spec(resolution: int, quality: int = 90, subsampling: int = 2) -> FormatSpec:
    """The one spec of an equalized-history build: RGB JPEG ``quality``, ``subsampling``, square."""
    return FormatSpec(
        format="JPEG",
        mode="RGB",
        size=(resolution, resolution),
        quality=quality,
        subsampling=subsampling,
    )


# ----------------------------------------------------------------- encoding
def to_pil(image: Image.Image | torch.Tensor | np.ndarray) -> Image.Image:
    """An 8-bit PIL image from a PIL image, a tensor or an array.

    Tensors: [3, H, W] (or [1, H, W]) float in [0, 1] (rounded to 1/255 steps)
    or uint8. Arrays: [H, W, 3] / [H, W] uint8 or float in [0, 1].
    """
    if isinstance(image, Image.Image):
        return image
    if isinstance(image, torch.Tensor):
        t = image.detach().cpu()
        if t.ndim != 3 or t.shape[0] not in (1, 3):
            raise ValueError(f"expected an image tensor [3, H, W], got shape {tuple(t.shape)}")
        if t.dtype != torch.uint8:
            if not torch.isfinite(t).all():
                raise ValueError("image tensor holds NaN or infinite values")
            t = (t.float().clamp(0, 1) * 255).round().to(torch.uint8)
        arr = t.permute(1, 2, 0).numpy()
    else:
        arr = image
        if arr.dtype != np.uint8:
            arr = (np.clip(arr.astype(np.float64), 0, 1) * 255).round().astype(np.uint8)
    if arr.ndim == 3 and arr.shape[2] == 1:
        arr = arr[:, :, 0]
    return Image.fromarray(np.ascontiguousarray(arr))


def encode_like(
    image: Image.Image | torch.Tensor | np.ndarray, spec: FormatSpec, path: str | Path
) -> Path:
    """Write ``image`` to ``path`` exactly as ``spec`` says (atomically); returns ``path``.

    The single final encode path of a benchmark: every real and every fake goes
    through it once. ``image`` must already have ``spec.size``; its mode is
    converted to ``spec.mode``. An OSError (a full disk) leaves no file behind.
    """
    img = to_pil(image)
    if img.size != tuple(spec.size):
        raise ValueError(f"image is {img.size[0]}x{img.size[1]}, the spec says {spec.size}")
    if img.mode != spec.mode:
        img = img.convert(spec.mode)
    if img.info:  # no metadata (EXIF, ICC, JPEG comment) may ride along from a decoded real
        img = img.copy()
        img.info = {}
    target = Path(path)
    # No fsync per image: a build writes thousands and can redo an unfinished split.
    with atomic_path(target, fsync=False) as tmp:
        img.save(tmp, **spec.save_kwargs())
    return target
