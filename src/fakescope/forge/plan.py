"""Which source image goes where: the build plan (names only, saved as JSON for resume).

Rules (see issue 3):

* Every source image gets one split for the whole build. The source's own
  ``test`` folder (or, without one, a seeded held-out part of ``holdout`` of
  the images) is the test part; its ``val`` folder, or else a part carved from
  the train part, is the val part; the rest is the train part.
* Generators train only on the train part (without the val carve), at most
  ``max_train_images`` of it.
* Each generator gets ``counts[split]`` reals per split and, for a
  manipulation, as many *sources* (the reals it manipulates) from the same
  split, disjoint from its reals; donors (other identities for a face swap)
  are other sources of the same split.
* Reals and sources are disjoint across generators too, unless the preset
  sets ``share_reals`` (then each generator draws its own seeded subset).
* With the preset's ``pairs`` a manipulation's sources *are* its reals (fake i
  is made from real i: the ``aligned`` preset); with ``all_images`` every
  generator gets every usable image of each split part, in one seeded order
  shared by all generators (so reals are shared; ``counts`` are minimums), and a source without a
  val folder gives ``val_fraction`` of its train part to val.
* Corrupt files are skipped (and counted): the next image of the seeded order
  replaces them, so the plan only depends on the source, the preset and the seed.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from fakescope.data.schema import SPLITS
from fakescope.errors import DataError
from fakescope.fileio import atomic_write_text
from fakescope.forge.presets import Preset
from fakescope.forge.source import ImageSource


@dataclass
class SplitPlan:
    """The source names one generator uses in one split."""

    reals: list[str] = field(default_factory=list)
    sources: list[str] = field(default_factory=list)
    donors: list[str] = field(default_factory=list)


@dataclass
class Plan:
    """The whole build's allocation of source images (JSON-serialisable)."""

    split_mode: str
    pools: dict[str, int]
    train_images: list[str]
    generators: dict[str, dict[str, SplitPlan]]
    corrupt: list[str]

    def save(self, path: Path) -> None:
        """Write the plan as JSON atomically."""
        atomic_write_text(path, json.dumps(asdict(self), sort_keys=True))

    @classmethod
    def load(cls, path: Path) -> Plan:
        """Read a plan written by :meth:`save`."""
        raw = json.loads(path.read_text())
        gens = {
            g: {s: SplitPlan(**sp) for s, sp in splits.items()}
            for g, splits in raw.pop("generators").items()
        }
        return cls(generators=gens, **raw)


class _ShortError(Exception):
    """A pool ran out of usable images."""


class _Pool:
    """Hands out the usable images of an ordered list of names, front to back."""

    def __init__(self, names: Sequence[str], is_valid: Callable[[str], bool]) -> None:
        self.names = list(names)
        self.pos = 0
        self.is_valid = is_valid

    def take(self, n: int, *, strict: bool = True) -> list[str]:
        """The next ``n`` usable names (fewer when not ``strict`` and the pool runs out)."""
        out: list[str] = []
        while len(out) < n:
            if self.pos >= len(self.names):
                if not strict:
                    break
                raise _ShortError
            name = self.names[self.pos]
            self.pos += 1
            if self.is_valid(name):
                out.append(name)
        return out

    def rest(self) -> list[str]:
        return self.names[self.pos :]


def derive_seed(seed: int, *keys: object) -> int:
    """A 63-bit seed derived from ``seed`` and ``keys`` (stable across runs, processes, machines)."""
    text = "|".join([str(seed), *(str(k) for k in keys)])
    return int.from_bytes(hashlib.sha256(text.encode()).digest()[:8], "little") >> 1


def _shuffled(names: Sequence[str], seed: int, *keys: str) -> list[str]:
    order = np.random.default_rng(derive_seed(seed, *keys)).permutation(len(names))
    return [names[i] for i in order]


def source_parts(
    source: ImageSource, holdout: float, seed: int
) -> tuple[dict[str, list[str]], str]:
    """Split the source's names into train/val/test parts (val may be empty); and the mode."""
    parts: dict[str, list[str]] = {s: [] for s in SPLITS}
    named = {n: source.split_of(n) for n in source.names}
    if any(s == "test" for s in named.values()):
        for n, s in named.items():
            parts[s or "train"].append(n)
        return parts, "source"
    order = _shuffled(source.names, seed, "holdout")
    k = round(holdout * len(order))
    held = set(order[:k])
    for n in source.names:
        if n in held:
            parts["test"].append(n)
        else:
            parts["val" if named[n] == "val" else "train"].append(n)
    return parts, "held-out"


def needs(preset: Preset, kinds: dict[str, str]) -> dict[str, int]:
    """Source images needed per split (reals + manipulation sources) for the chosen generators."""
    out: dict[str, int] = {}
    per_real = 1 if preset.pairs else 2
    for split in SPLITS:
        per_gen = [
            preset.counts.of(split) * (per_real if k == "manipulation" else 1)
            for k in kinds.values()
        ]
        out[split] = max(per_gen) if preset.share_reals else sum(per_gen)
    return out


def _too_few(
    source: ImageSource, preset: Preset, counts: dict[str, tuple[int, int]], corrupt: int
) -> DataError:
    """The one-line error: ``counts`` = {part: (needed, found)}."""
    total_need = sum(n for n, _ in counts.values())
    total_have = sum(h for _, h in counts.values())
    detail = ", ".join(f"{part}: {n} needed / {h} found" for part, (n, h) in counts.items())
    skipped = f" ({corrupt} corrupt skipped)" if corrupt else ""
    return DataError(
        f"{source.path} has too few usable images for the {preset.name} preset: {total_need} "
        f"needed, {total_have} found{skipped} ({detail}); add images, pick fewer --generators "
        "or a smaller preset"
    )


def _counts(
    parts: dict[str, list[str]], need: dict[str, int], usable: Callable[[str], bool]
) -> dict[str, tuple[int, int]]:
    """{part: (needed, found)}; val is counted with train when the source has no val part."""
    found = {s: sum(usable(n) for n in parts[s]) for s in SPLITS}
    if parts["val"]:
        return {s: (need[s], found[s]) for s in SPLITS}
    return {
        "train+val": (need["train"] + need["val"], found["train"]),
        "test": (need["test"], found["test"]),
    }


def make_plan(
    source: ImageSource,
    preset: Preset,
    kinds: dict[str, str],
    seed: int,
    *,
    advance: Callable[[int], None] = lambda n: None,
) -> Plan:
    """Allocate source images to the generators ``kinds`` ({name: "sampler"|"manipulation"}).

    Raises a one-line :class:`DataError` saying how many images are needed and
    found when the source is too small (before decoding, and again when corrupt
    files make it too small).
    """
    parts, mode = source_parts(source, preset.holdout, seed)
    need = needs(preset, kinds)
    val_from_train = not parts["val"]
    if preset.all_images and val_from_train:
        need["val"] = max(need["val"], round(preset.val_fraction * len(parts["train"])))
    counts = _counts(parts, need, lambda n: True)
    if any(h < n for n, h in counts.values()):
        raise _too_few(source, preset, counts, 0)

    checked: dict[str, bool] = {}

    def is_valid(name: str) -> bool:
        if name not in checked:
            checked[name] = source.is_valid(name)
            advance(1)
        return checked[name]

    def corrupt() -> int:
        return sum(not ok for ok in checked.values())

    pools = {s: _Pool(_shuffled(parts[s], seed, "pool", s), is_valid) for s in SPLITS}
    try:
        if val_from_train:
            pools["val"] = _Pool(pools["train"].take(need["val"]), is_valid)
    except _ShortError:
        counts = _counts(parts, need, lambda n: checked.get(n, True))
        raise _too_few(source, preset, counts, corrupt()) from None
    train_images = _Pool(pools["train"].rest(), is_valid).take(
        preset.max_train_images, strict=False
    )
    plans: dict[str, dict[str, SplitPlan]] = {}
    try:
        for gen, kind in sorted(kinds.items()):
            plans[gen] = {}
            for split in SPLITS:
                plans[gen][split] = _allocate(pools[split], preset, gen, kind, split, seed)
    except _ShortError:
        counts = _counts(parts, need, lambda n: checked.get(n, True))
        raise _too_few(source, preset, counts, corrupt()) from None
    if not train_images and any(preset.steps_for(g) > 0 for g in kinds):
        raise DataError(f"{source.path} has no usable train images for the generators to train on")
    return Plan(
        split_mode=mode,
        pools={s: len(parts[s]) for s in SPLITS},
        train_images=train_images,
        generators=plans,
        corrupt=sorted(n for n, ok in checked.items() if not ok),
    )


def _allocate(pool: _Pool, preset: Preset, gen: str, kind: str, split: str, seed: int) -> SplitPlan:
    """One generator's reals / sources / donors of one split (see the module docstring)."""
    n = preset.counts.of(split)
    if preset.all_images:  # every usable image, same order for every generator
        pool = _Pool(pool.rest(), pool.is_valid)
        reals = pool.take(len(pool.names), strict=False)
        if len(reals) < n:
            raise _ShortError
    else:
        if preset.share_reals:
            pool = _Pool(_shuffled(pool.rest(), seed, gen, split), pool.is_valid)
        reals = pool.take(n)
    if kind != "manipulation":
        sources: list[str] = []
    elif preset.pairs:
        sources = list(reals)
    else:
        sources = pool.take(n)
    return SplitPlan(reals=reals, sources=sources, donors=_donors(sources))


def _donors(sources: list[str]) -> list[str]:
    """For each source, another source of the list from another folder (identity) when possible."""
    n = len(sources)
    out: list[str] = []
    for i, name in enumerate(sources):
        folder = name.rsplit("/", 1)[0] if "/" in name else ""
        pick = sources[(i + 1) % n] if n > 1 else name
        for k in range(1, n):
            other = sources[(i + k) % n]
            if (other.rsplit("/", 1)[0] if "/" in other else "") != folder or not folder:
                pick = other
                break
        out.append(pick)
    return out
