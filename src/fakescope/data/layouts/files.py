"""File-system helpers shared by the folder layouts: image extensions, split names, listing.

Rules every layout follows:

* an *image file* is any file whose extension is one of :data:`IMAGE_EXTENSIONS`
  (case-insensitive); it is listed even when it is corrupt, so decoding errors
  show up later as per-file errors instead of silently shrinking the counts;
* names starting with "." (``.git``, ``.DS_Store``, macOS ``._x.jpg`` shadows)
  are skipped, files and folders alike;
* folder symlinks are followed (each real folder is visited once);
* listings are sorted, so indexing never depends on the file system's order.
"""

from __future__ import annotations

import os
from pathlib import Path

from fakescope.errors import DataError

IMAGE_EXTENSIONS: frozenset[str] = frozenset(
    {".jpg", ".jpeg", ".png", ".webp", ".bmp", ".tif", ".tiff", ".gif"}
)

#: Folder names (lower-cased) recognised as a split, and the split they mean.
SPLIT_ALIASES: dict[str, str] = {
    "train": "train",
    "training": "train",
    "val": "val",
    "valid": "val",
    "validation": "val",
    "test": "test",
    "testing": "test",
}


def is_image_name(name: str) -> bool:
    """True when ``name`` has an image extension (case-insensitive) and is not hidden."""
    dot = name.rfind(".")
    return not name.startswith(".") and dot > 0 and name[dot:].lower() in IMAGE_EXTENSIONS


def split_of(name: str) -> str | None:
    """The split a folder name stands for ("valid" -> "val"), or None when it is not one."""
    return SPLIT_ALIASES.get(name.lower())


def subdirs(folder: Path) -> list[Path]:
    """The non-hidden sub-folders of ``folder`` (symlinks followed), sorted by name."""
    try:
        with os.scandir(folder) as it:
            names = [e.name for e in it if not e.name.startswith(".") and _is_dir(e)]
    except (FileNotFoundError, NotADirectoryError, PermissionError):
        return []
    return [folder / n for n in sorted(names)]


def has_image(folder: Path) -> bool:
    """True when ``folder`` directly holds at least one image file (stops at the first)."""
    try:
        with os.scandir(folder) as it:
            return any(is_image_name(e.name) and not _is_dir(e) for e in it)
    except (FileNotFoundError, NotADirectoryError, PermissionError):
        return False


def list_images(folder: Path) -> list[str]:
    """Absolute paths of all image files under ``folder`` (recursive), sorted.

    ``folder`` should already be absolute; paths are joined, not resolved, so
    file symlinks keep their own names.
    """
    out: list[str] = []
    seen: set[str] = set()
    for top, dirs, files in os.walk(folder, followlinks=True):
        real = os.path.realpath(top)
        if real in seen:  # a symlink loop or a folder linked twice
            dirs[:] = []
            continue
        seen.add(real)
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        out.extend(f"{top}{os.sep}{f}" for f in files if is_image_name(f))
    out.sort()
    return out


def any_image_below(folder: Path) -> bool:
    """True when some image file exists anywhere under ``folder`` (stops at the first)."""
    for _top, dirs, files in os.walk(folder, followlinks=False):
        dirs[:] = [d for d in dirs if not d.startswith(".")]
        if any(is_image_name(f) for f in files):
            return True
    return False


def require_dir(root: Path) -> Path:
    """``root`` made absolute, or a one-line :class:`DataError` when it is not a folder."""
    if not root.exists():
        raise DataError(f"dataset root {root} does not exist; check the path")
    if not root.is_dir():
        raise DataError(f"{root} is a file, not a dataset folder; pass a folder or a manifest")
    return root.resolve()


def _is_dir(entry: os.DirEntry[str]) -> bool:
    try:
        return entry.is_dir()  # follows symlinks
    except OSError:
        return False
