"""Remove format shortcuts: give every image of a dataset the same file format.

:func:`normalize_table` centre-crops every image to one size and re-encodes
it with one JPEG quality (or lossless PNG), reals and fakes alike, and
returns the sample table pointing at the normalised copies (the original path
is kept in the ``source_path`` column). After it, the header of a file says
nothing about its class (:mod:`fakescope.data.audit` passes); what a detector
can still use is in the pixels. A trace of the original compression can
survive re-encoding (double-JPEG statistics), so the audit's verdict speaks
about the header only.

Copies are cached by (original path, size, modification time, settings), so a
second run re-uses them; each is written atomically.
"""

from __future__ import annotations

import hashlib
import io
import os
from pathlib import Path

import pandas as pd
from PIL import Image

from fakescope.config import NormalizeConfig
from fakescope.data.decode import load_image
from fakescope.data.schema import PATH
from fakescope.errors import DataError, DecodeError
from fakescope.fileio import atomic_write_bytes
from fakescope.progress import progress_bar

SOURCE_PATH = "source_path"


def default_cache() -> Path:
    """``$XDG_CACHE_HOME/fakescope/normalized`` (``~/.cache/...`` without the variable)."""
    base = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return base / "fakescope" / "normalized"


def centre_crop(img: Image.Image, size: int, name: str = "image") -> Image.Image:
    """The central ``size`` x ``size`` pixels of ``img``; :class:`DataError` when it is smaller."""
    w, h = img.size
    if w < size or h < size:
        raise DataError(
            f"{name} is {w}x{h}, smaller than data.normalize.crop={size}; "
            "lower the crop size or remove the small images"
        )
    left, top = (w - size) // 2, (h - size) // 2
    return img.crop((left, top, left + size, top + size))


def downscale(img: Image.Image, scale: float) -> Image.Image:
    """``img`` resized by ``scale`` (< 1) with Lanczos antialiasing: an earlier JPEG's 8x8 grid
    does not survive it, so reals and fakes re-encoded afterwards share one compression history."""
    w, h = img.size
    size = (max(1, round(w * scale)), max(1, round(h * scale)))
    return img.resize(size, Image.Resampling.LANCZOS)


def encode(img: Image.Image, jpeg_quality: int | None) -> tuple[bytes, str]:
    """RGB bytes of ``img`` as JPEG at ``jpeg_quality`` (4:2:0, no metadata) or PNG; (data, suffix)."""
    buf = io.BytesIO()
    rgb = img.convert("RGB")
    if jpeg_quality is None:
        rgb.save(buf, format="PNG")
        return buf.getvalue(), ".png"
    rgb.save(buf, format="JPEG", quality=jpeg_quality, subsampling=2)
    return buf.getvalue(), ".jpg"


def _key(path: Path, cfg: NormalizeConfig) -> str:
    st = path.stat()
    raw = f"{path.resolve()}|{st.st_size}|{st.st_mtime_ns}|{cfg.crop}|{cfg.jpeg_quality}"
    if cfg.scale is not None:  # keeps the keys of copies made without a scale
        raw += f"|scale={cfg.scale}"
    return hashlib.sha1(raw.encode()).hexdigest()


def normalize_file(path: str | Path, cfg: NormalizeConfig, cache: Path) -> Path:
    """The normalised copy of one file (made once, then reused from ``cache``)."""
    path = Path(path)
    suffix = ".png" if cfg.jpeg_quality is None else ".jpg"
    key = _key(path, cfg)
    target = cache / key[:2] / f"{key}{suffix}"
    if target.is_file():
        return target
    data, _ = normalized_bytes(path, cfg)
    atomic_write_bytes(target, data, fsync=False)
    return target


def normalized_bytes(path: Path, cfg: NormalizeConfig) -> tuple[bytes, str]:
    """The file ``path`` after ``cfg`` (scale, then crop, then encode): (data, suffix)."""
    img = load_image(path)
    if cfg.scale is not None:
        img = downscale(img, cfg.scale)
    if cfg.crop is not None:
        img = centre_crop(img, cfg.crop, str(path))
    return encode(img, cfg.jpeg_quality)


def normalize_folder(
    src: str | Path, dst: str | Path, cfg: NormalizeConfig, *, progress: bool = True
) -> int:
    """Write every image under ``src`` to the same relative place under ``dst``, normalised.

    The folder layout (and so labels, generators and splits) is kept; only the
    suffix follows the new format. Undecodable files are skipped and counted.
    Returns the number of images written. ``dst`` must not exist yet or be empty,
    and must not lie inside ``src`` (one-line :class:`DataError` otherwise).
    """
    from fakescope.data.layouts.files import list_images

    src, dst = Path(src).expanduser().resolve(), Path(dst).expanduser().resolve()
    if not src.is_dir():
        raise DataError(f"{src} is not a folder; give the dataset's root folder")
    if dst == src or src in dst.parents:
        raise DataError(f"{dst} lies inside {src}; write the normalised copy somewhere else")
    if dst.exists() and any(dst.iterdir()):
        raise DataError(f"{dst} is not empty; choose a new folder or remove it first")
    paths = list_images(src)
    if not paths:
        raise DataError(f"no images under {src}")
    written = 0
    with progress_bar(len(paths), "normalizing" if progress else None) as advance:
        for p in paths:
            try:
                data, suffix = normalized_bytes(Path(p), cfg)
            except DecodeError:
                advance(1)
                continue
            target = (dst / Path(p).relative_to(src)).with_suffix(suffix)
            atomic_write_bytes(target, data, fsync=False)
            written += 1
            advance(1)
    return written


def normalize_table(
    table: pd.DataFrame, cfg: NormalizeConfig, *, progress: bool = True
) -> pd.DataFrame:
    """``table`` with every ``path`` replaced by its normalised copy (``source_path`` = original).

    Files that cannot be decoded keep their original path (they stay per-file
    errors downstream). Raises :class:`DataError` when an image is smaller than
    ``cfg.crop``.
    """
    if cfg.crop is None and cfg.jpeg_quality is None and cfg.scale is None:
        raise DataError(
            "data.normalize needs scale, crop and/or jpeg_quality "
            "(e.g. scale: 0.5, crop: 128, jpeg_quality: 90)"
        )
    cache = Path(cfg.cache).expanduser() if cfg.cache else default_cache()
    out = table.copy()
    new_paths = []
    paths = table[PATH].tolist()
    with progress_bar(len(paths), "normalizing" if progress else None) as advance:
        for p in paths:
            try:
                new_paths.append(str(normalize_file(p, cfg, cache)))
            except DecodeError:
                new_paths.append(str(p))
            advance(1)
    out[SOURCE_PATH] = paths
    out[PATH] = new_paths
    return out
