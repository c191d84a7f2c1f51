"""Image sets of the CIFAR-10 OOD benchmark: parsing ``--ood``, opening folders / zips,
seeded subsamples, and synthetic-outlier sets written as PNG files.

Every image a set lists is a file on disk (members of a zip are copied under a scratch
folder), so the detector reads all sets the same way.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from fakescope.errors import DataError, FakescopeError
from fakescope.fileio import atomic_write_bytes
from fakescope.forge.source import ImageSource


@dataclass
class ImageSet:
    """Image files of one set (materialised from a zip when needed) and their class names."""

    name: str
    paths: list[str]
    classes: list[str] = field(default_factory=list)


def parse_ood(specs: Sequence[str]) -> dict[str, str]:
    """``["NAME=PATH", ...]`` -> ``{NAME: PATH}`` (one-line errors for bad or duplicate specs)."""
    out: dict[str, str] = {}
    for spec in specs:
        name, sep, path = spec.partition("=")
        if not sep or not name.strip() or not path.strip():
            raise DataError(f"--ood {spec!r}: write it as NAME=PATH (a folder or .zip of images)")
        if name in out or name == "id":
            raise DataError(
                f"--ood name {name!r} is used twice or reserved; give each set its own name"
            )
        out[name.strip()] = path.strip()
    if not out:
        raise DataError("give at least one OOD set with --ood NAME=PATH")
    return out


def open_source(path: str) -> tuple[ImageSource, str]:
    """An :class:`ImageSource` and a name prefix: ``a.zip/sub/dir`` reads ``sub/dir/`` inside ``a.zip``."""
    p = Path(path).expanduser()
    if p.exists():
        return ImageSource(p), ""
    parts = p.parts
    for i in range(len(parts) - 1, 0, -1):
        head = Path(*parts[:i])
        if head.suffix.lower() == ".zip" and head.is_file():
            return ImageSource(head), "/".join(parts[i:]).strip("/") + "/"
    raise DataError(f"{path} does not exist; pass a folder, a .zip, or a folder inside a .zip")


def names_under(src: ImageSource, prefix: str, what: str) -> list[str]:
    """The member names of ``src`` under ``prefix``; a one-line error when there are none."""
    names = [n for n in src.names if n.startswith(prefix)]
    if not names:
        raise DataError(f"{what}: no image files under {src.path}/{prefix}; check the path")
    return names


def subsample(items: list[Any], n: int, rng: np.random.Generator) -> list[Any]:
    """``n`` of ``items`` drawn with ``rng`` (all of them when there are at most ``n``), in order."""
    if len(items) <= n:
        return list(items)
    return [items[i] for i in sorted(rng.choice(len(items), n, replace=False))]


def materialise(src: ImageSource, names: list[str], dest: Path) -> list[str]:
    """Paths of ``names``: the files themselves for a folder, copies under ``dest`` for a zip."""
    if src.path.is_dir():
        return [str(src.path / n) for n in names]
    out = []
    for n in names:
        target = dest / n
        try:
            atomic_write_bytes(target, src.read(n), fsync=False)
        except FakescopeError:
            target.parent.mkdir(parents=True, exist_ok=True)
            atomic_write_bytes(target, b"", fsync=False)  # unreadable: an empty file fails decoding
        out.append(str(target))
    return out


def id_split(
    src: ImageSource, split: str, per_class: int, rng: np.random.Generator, dest: Path
) -> ImageSet:
    """A class-balanced subsample of ``split`` (class = the parent folder's name)."""
    by_class: dict[str, list[str]] = {}
    for n in src.names:
        parts = n.split("/")
        if len(parts) >= 2 and src.split_of(n) == split:
            by_class.setdefault(parts[-2], []).append(n)
    if not by_class:
        raise DataError(
            f"ID source {src.path} has no {split}/<class>/ images; use the CIFAR-10 layout"
        )
    if len(by_class) < 2:
        raise DataError(
            f"ID source {src.path} {split} split has one class ({next(iter(by_class))}); it needs at least two"
        )
    names: list[str] = []
    classes: list[str] = []
    for cls in sorted(by_class):
        chosen = subsample(by_class[cls], per_class, rng)
        names += chosen
        classes += [cls] * len(chosen)
    return ImageSet(split, materialise(src, names, dest / split), classes)


def subset(s: ImageSet, n: int, rng: np.random.Generator) -> ImageSet:
    """Up to ``n`` images of ``s`` (with their classes) drawn with ``rng``."""
    idx = subsample(list(range(len(s.paths))), n, rng)
    return ImageSet(
        s.name, [s.paths[i] for i in idx], [s.classes[i] for i in idx] if s.classes else []
    )


def synthetic_set(
    base_set: ImageSet,
    n: int,
    seed: int,
    dest: Path,
    *,
    stream: int = 7,
    name: str = "synthetic",
) -> ImageSet:
    """Synthetic outliers (blur, noise, rotation, JPEG q10) made from up to ``n`` images of
    ``base_set`` (drawn with the seed stream ``[seed, stream]``), as PNG files under ``dest``."""
    from fakescope.data.outliers import make_outliers

    rng = np.random.default_rng([seed, stream])
    base = subsample(base_set.paths, n, rng)
    made = make_outliers(base, seed=seed)
    paths = []
    for i, img in enumerate(made.images):
        buf = io.BytesIO()
        img.save(buf, format="PNG")
        paths.append(
            str(
                atomic_write_bytes(
                    dest / f"{i:05d}_{made.kinds[i]}.png", buf.getvalue(), fsync=False
                )
            )
        )
    return ImageSet(name, paths)
