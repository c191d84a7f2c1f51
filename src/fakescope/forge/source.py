"""Real images a benchmark is built from: a folder or a zip, its splits, and the final crop/resize.

* Images are listed in sorted name order (names are relative, "/"-separated;
  hidden files and folders are skipped), so a source always lists the same way.
* A path component naming a split (``train``, ``val``/``valid``, ``test``, see
  :data:`fakescope.data.layouts.files.SPLIT_ALIASES`) gives the image's source
  split; CIFAR-10's zip has ``train/`` and ``test/``.
* Corrupt files are skipped (and counted by the caller): :meth:`ImageSource.load`
  returns None for them.
* :func:`prepare` is the one crop/resize every real goes through, both the
  reals written to the benchmark and the images the generators train on:
  the centred square of side ``crop`` x the shorter side, resized to
  ``resolution`` (bicubic, antialiased) when it differs. The faces preset uses
  ``crop = 0.6``: LFW deep-funneled's 250x250 aligned faces -> the central
  150x150 box (x, y from 50 to 200: eyebrows to chin, cheek to cheek, the
  region the face manipulations assume) -> 128x128. With ``prescale`` < 1
  (the ``aligned`` preset's ``history: equalize``) the whole decoded image is
  first down-scaled by that factor (Lanczos, antialiased), which averages away
  the 8x8 grid of the source's JPEG history, before the crop.
"""

from __future__ import annotations

import hashlib
import os
import zipfile
from pathlib import Path
from types import TracebackType

import numpy as np
import torch
from PIL import Image

from fakescope.data.decode import load_image
from fakescope.data.layouts.files import is_image_name, list_images, split_of
from fakescope.data.normalize import downscale
from fakescope.errors import DataError, DecodeError


def prepare(
    img: Image.Image, resolution: int, crop: float = 1.0, prescale: float = 1.0
) -> Image.Image:
    """Centre-crop ``img`` to a square of side ``crop`` x its shorter side, resize to ``resolution``.

    ``prescale`` < 1 first down-scales the whole image by that factor (antialiased).
    """
    if prescale != 1.0:
        img = downscale(img, prescale)
    w, h = img.size
    side = max(1, min(w, h, round(crop * min(w, h))))
    left, top = (w - side) // 2, (h - side) // 2
    if (side, side) != (w, h):
        img = img.crop((left, top, left + side, top + side))
    if side != resolution:
        img = img.resize((resolution, resolution), Image.Resampling.BICUBIC)
    return img


def to_tensor(images: list[Image.Image]) -> torch.Tensor:
    """Stack RGB images into a float tensor [N, 3, H, W] in [0, 1]."""
    arr = np.stack([np.asarray(im.convert("RGB"), dtype=np.uint8) for im in images])
    return torch.from_numpy(arr).permute(0, 3, 1, 2).float().div_(255.0)


class ImageSource:
    """A folder or ``.zip`` of real images (see the module docstring). Use as a context manager."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path).expanduser().resolve()
        self._zip: zipfile.ZipFile | None = None
        if self.path.is_dir():
            self.names = sorted(
                Path(os.path.relpath(p, self.path)).as_posix() for p in list_images(self.path)
            )
        elif self.path.is_file() and self.path.suffix.lower() == ".zip":
            try:
                self._zip = zipfile.ZipFile(self.path)
            except (OSError, zipfile.BadZipFile) as exc:
                raise DataError(
                    f"cannot open {self.path} as a zip ({exc}); check the file"
                ) from None
            self.names = sorted(n for n in self._zip.namelist() if _is_zip_image(n))
        elif not self.path.exists():
            raise DataError(f"source {self.path} does not exist; pass a folder or .zip of images")
        else:
            raise DataError(f"source {self.path} is neither a folder nor a .zip; pass one of those")
        if not self.names:
            raise DataError(f"source {self.path} holds no image files; check the path")

    # ------------------------------------------------------------ reading
    def read(self, name: str) -> bytes:
        """The encoded bytes of image ``name``; raises DecodeError when it cannot be read."""
        try:
            if self._zip is not None:
                return self._zip.read(name)
            return (self.path / name).read_bytes()
        except (OSError, zipfile.BadZipFile, KeyError, NotImplementedError, ValueError) as exc:
            raise DecodeError(f"{name}: cannot be read ({exc})") from None

    def load(
        self, name: str, resolution: int, crop: float = 1.0, prescale: float = 1.0
    ) -> Image.Image | None:
        """Decode image ``name`` and :func:`prepare` it; None when the file is corrupt."""
        try:
            img = load_image(self.read(name))
        except DecodeError:
            return None
        return prepare(img, resolution, crop, prescale)

    def is_valid(self, name: str) -> bool:
        """True when ``name`` decodes (the check that decides which files are skipped)."""
        try:
            load_image(self.read(name))
        except DecodeError:
            return False
        return True

    # ------------------------------------------------------------ metadata
    def split_of(self, name: str) -> str | None:
        """The split a folder of ``name`` names (the last one), or None."""
        splits = [s for s in (split_of(p) for p in name.split("/")[:-1]) if s is not None]
        return splits[-1] if splits else None

    def fingerprint(self) -> dict[str, object]:
        """Identity of the source (path, image count, hash of the names) for resume checks."""
        digest = hashlib.sha256("\n".join(self.names).encode()).hexdigest()[:16]
        return {"path": str(self.path), "images": len(self.names), "names_sha256": digest}

    def close(self) -> None:
        """Close the zip file, if any."""
        if self._zip is not None:
            self._zip.close()
            self._zip = None

    def __enter__(self) -> ImageSource:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


def _is_zip_image(name: str) -> bool:
    parts = name.split("/")
    if name.endswith("/") or any(p.startswith(".") or p == "__MACOSX" for p in parts):
        return False
    return is_image_name(parts[-1])
