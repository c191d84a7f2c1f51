"""The build's quality step: per-generator Frechet distances and sample grids (cached under .work).

Uses :mod:`fakescope.forge.quality` (imported lazily: it loads EfficientNet-Lite0).
For each generator, from its **test** split: ``n = min(fd_images, reals // 2,
fakes)``; two disjoint random sets A, B of n test reals; the distance of n
fakes to A, next to the distance of B to A (the real-vs-real floor at the same n).
"""

from __future__ import annotations

from itertools import zip_longest
from pathlib import Path
from typing import Any

import pandas as pd
from PIL import Image

from fakescope.fileio import atomic_write_bytes
from fakescope.forge.plan import derive_seed
from fakescope.forge.presets import Preset
from fakescope.forge.workspace import Workspace, read_json, write_json

GRIDS = "grids"


def _test_paths(ws: Workspace, frame: pd.DataFrame, name: str, label: int) -> list[Path]:
    rows = frame[
        (frame["generator"] == name) & (frame["split"] == "test") & (frame["label"] == label)
    ]
    return [ws.root / p for p in sorted(rows["path"])]


def quality_for(
    ws: Workspace,
    frame: pd.DataFrame,
    name: str,
    preset: Preset,
    seed: int,
    device: str,
    progress: bool,
) -> dict[str, Any] | None:
    """Frechet distances of one generator (None when the preset skips them or too few images)."""
    if preset.fd_images == 0:
        return None
    cache = ws.gen_dir(name) / "quality.json"
    cached = read_json(cache)
    if cached is not None:
        return dict(cached)
    from fakescope.forge import quality

    reals = _test_paths(ws, frame, name, 0)
    fakes = _test_paths(ws, frame, name, 1)
    n = min(preset.fd_images, len(reals) // 2, len(fakes))
    if n < 2:
        return None
    idx_a, idx_b = quality.disjoint_subsets(len(reals), n, derive_seed(seed, "fd", name) % 2**32)
    picked = [reals[i] for i in idx_a] + [reals[i] for i in idx_b]
    bar = f"{name}: features for FD" if progress else None
    feats_real = quality.embed_for_fd(picked, progress=bar, device=device)
    feats_fake = quality.embed_for_fd(fakes[:n], progress=bar, device=device)
    result = {
        "n": n,
        "fd": quality.frechet_distance(feats_fake, feats_real[:n]),
        "fd_real_vs_real": quality.frechet_distance(feats_real[n:], feats_real[:n]),
        "features": quality.FD_BACKBONE,
    }
    write_json(cache, result)
    return result


def _open(paths: list[Path]) -> list[Image.Image]:
    images = []
    for p in paths:
        with Image.open(p) as img:
            images.append(img.convert("RGB"))
    return images


def grids_for(
    ws: Workspace, frame: pd.DataFrame, preset: Preset, progress: bool
) -> dict[str, bytes]:
    """Write ``<out>/grids/<generator>.png`` (test fakes) and ``real.png``; returns their PNG bytes.

    Empty when the quality module is not available.
    """
    try:
        from fakescope.forge.quality import grid_png_bytes
    except ImportError:  # pragma: no cover - the module ships with fakescope
        return {}
    k = preset.grid_images
    upscale = 64 if preset.resolution < 64 else None
    out: dict[str, bytes] = {}
    names = sorted(frame["generator"].unique())
    per_gen = [_test_paths(ws, frame, n, 0)[:k] for n in names]
    reals = [p for row in zip_longest(*per_gen) for p in row if p is not None][:k]
    groups = {"real": reals, **{n: _test_paths(ws, frame, n, 1)[:k] for n in names}}
    folder = ws.root / GRIDS
    folder.mkdir(exist_ok=True)
    for key, paths in groups.items():
        if not paths:
            continue
        data = grid_png_bytes(_open(paths), nrow=8, upscale_to=upscale)
        atomic_write_bytes(folder / f"{key}.png", data, fsync=False)
        out[key] = data
    return out
