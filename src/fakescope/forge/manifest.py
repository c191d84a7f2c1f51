"""The benchmark's file names and its ``manifest.parquet`` (deterministic: sorted rows, no timestamps).

Layout: ``<out>/<generator>/<split>/{0_real,1_fake}/<index:05d><ext>``.

Manifest columns (one row per file, sorted by ``path``):

==========  =====  ===============================================================
``path``    str    relative to the benchmark folder ("/"-separated)
``label``   int    0 = real, 1 = fake
generator   str    the generator the row belongs to (its reals carry its name too)
family      str    the generator's family; "real" for reals
split       str    train / val / test
source      str    the source image (name inside the source folder or zip) a real
                   was decoded from, or a manipulation fake was made from; "" for
                   a sampler's fakes
donor       str    the other real a manipulation pasted in (face swap); "" otherwise
seed        int    the build's seed
pair_id     str    paired builds (the ``aligned`` preset): the id of the source image
                   shared by a real and every fake made from it (across decoders);
                   "" otherwise
decoder     str    a decoder fake's latent-diffusion decoder (``sd``, ``sdxl``, ``sd3``,
                   ``flux1``, ``flux2``); "" for reals and other generators
==========  =====  ===============================================================
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from fakescope.data.schema import REAL, SPLITS
from fakescope.fileio import atomic_path
from fakescope.forge.plan import Plan

MANIFEST = "manifest.parquet"
LABEL_DIRS = ("0_real", "1_fake")
COLUMNS = (
    "path",
    "label",
    "generator",
    "family",
    "split",
    "source",
    "donor",
    "seed",
    "pair_id",
    "decoder",
)


def file_name(generator: str, split: str, label: int, index: int, ext: str) -> str:
    """Relative path of the ``index``-th real (label 0) or fake (label 1) of a generator's split."""
    return f"{generator}/{split}/{LABEL_DIRS[label]}/{index:05d}{ext}"


@dataclass(frozen=True)
class GeneratorInfo:
    """What the manifest needs to know about a generator."""

    family: str
    manipulation: bool
    uses_donors: bool
    #: Fake i is made from real i (the preset's ``pairs``).
    paired: bool = False
    #: The decoder of a latent-diffusion decoder generator; "" for others.
    decoder: str = ""


def pair_id(source: str) -> str:
    """The id of a pair: 16 hex digits of the sha256 of the source image's name."""
    return hashlib.sha256(source.encode()).hexdigest()[:16]


def manifest_frame(
    plan: Plan, infos: dict[str, GeneratorInfo], ext: str, seed: int
) -> pd.DataFrame:
    """The manifest of a build (see the module docstring), sorted by path."""
    rows: list[tuple[str, int, str, str, str, str, str, int, str, str]] = []
    for gen in sorted(plan.generators):
        info = infos[gen]
        for split in SPLITS:
            part = plan.generators[gen][split]
            for i, name in enumerate(part.reals):
                pid = pair_id(name) if info.paired else ""
                rows.append(
                    (file_name(gen, split, 0, i, ext), 0, gen, REAL, split, name, "", seed, pid, "")
                )
            for i in range(len(part.reals)):
                source = part.sources[i] if info.manipulation else ""
                donor = part.donors[i] if info.manipulation and info.uses_donors else ""
                pid = pair_id(source) if info.paired and source else ""
                rows.append(
                    (
                        file_name(gen, split, 1, i, ext),
                        1,
                        gen,
                        info.family,
                        split,
                        source,
                        donor,
                        seed,
                        pid,
                        info.decoder,
                    )
                )
    frame = pd.DataFrame(rows, columns=list(COLUMNS))
    frame["label"] = frame["label"].astype("int64")
    frame["seed"] = frame["seed"].astype("int64")
    return frame.sort_values("path", kind="stable").reset_index(drop=True)


def write_manifest(frame: pd.DataFrame, root: Path) -> Path:
    """Write ``frame`` to ``<root>/manifest.parquet`` atomically; same frame -> same bytes."""
    target = root / MANIFEST
    table = pa.Table.from_pandas(frame, preserve_index=False)
    with atomic_path(target) as tmp:
        pq.write_table(table, tmp)
    return target


def read_manifest(root: Path) -> pd.DataFrame:
    """The manifest of the benchmark at ``root`` (relative paths, as written)."""
    return pd.read_parquet(root / MANIFEST)
