"""The math of the ``hierarchy`` detector, without any model: families, level and path probabilities.

* :func:`resolve_families` - generator -> family of the training fakes (from a
  ``family_map`` or the table's ``family`` column), with one-line errors;
* :func:`renormalise` - a child node's probabilities over its non-real classes
  (children are trained on fakes only, so their "real" class 0 is empty);
* :class:`TreeProba` - per-level probabilities of N files, turned into path
  probabilities (:meth:`TreeProba.path_proba`) or the greedy route
  (:meth:`TreeProba.route`);
* :func:`adapt_batch` - re-preprocess a tensor batch for a node with another input config.

Score direction everywhere: P(fake) in [0, 1], higher = more likely fake; class 0 is "real".
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import pandas as pd
import torch

from fakescope.data.schema import FAMILY, GENERATOR, REAL, UNKNOWN_FAMILY
from fakescope.data.transforms import InputConfig
from fakescope.detectors.base import LevelPrediction, Prediction
from fakescope.errors import ConfigError, DataError
from fakescope.inference.types import fake_mask

#: Columns of :meth:`TreeProba.route` (after ``path``, which ``HierarchyDetector.route`` adds).
ROUTE_COLUMNS: tuple[str, ...] = (
    "is_fake",
    "p_fake",
    "family",
    "p_family",
    "generator",
    "p_generator",
    "path_proba",
    "predicted",
    "error",
)


def resolve_families(fakes: pd.DataFrame, family_map: Mapping[str, str] | None) -> dict[str, str]:
    """generator -> family for the fake rows ``fakes`` (exact, then case-insensitive map lookup).

    ``family_map`` None = the rows' ``family`` column. Raises a one-line
    :class:`DataError`/:class:`ConfigError` for fakes without a generator name, a map
    that misses a generator, empty/"unknown" families, or a generator in two families.
    """
    gens = sorted(set(fakes[GENERATOR]))
    if "" in gens:
        raise DataError(
            f"{int((fakes[GENERATOR] == '').sum())} training fake(s) have no generator name; "
            "the hierarchy attributes generators - use a generator-folder layout or a generator column"
        )
    if REAL in gens:
        raise DataError("a generator is named 'real', which is the real class; rename it")
    if family_map is not None:
        lower = {k.lower(): v for k, v in family_map.items()}
        found = {g: family_map.get(g, lower.get(g.lower())) for g in gens}
        missing = [g for g, f in found.items() if f is None]
        if missing:
            raise ConfigError(f"family_map has no family for generator(s) {missing}; add them")
        mapping = {g: str(f) for g, f in found.items()}
    else:
        per_gen = fakes.groupby(GENERATOR)[FAMILY].agg(lambda s: sorted(set(s)))
        empty = [g for g, fams in per_gen.items() if {"", UNKNOWN_FAMILY} & set(fams)]
        if empty:
            raise DataError(
                f"fakes of generator(s) {empty} have no family and no family_map is set; "
                "set the hierarchy's family_map or data.family_map"
            )
        mixed = {g: fams for g, fams in per_gen.items() if len(fams) > 1}
        if mixed:
            raise DataError(
                f"generator(s) have fakes in several families {mixed}; fix the family column or set family_map"
            )
        mapping = {str(g): str(fams[0]) for g, fams in per_gen.items()}
    bad = sorted({f for f in mapping.values() if f in ("", REAL, UNKNOWN_FAMILY)})
    if bad:
        raise ConfigError(f"family names {bad} are not allowed; give those generators a family")
    return mapping


def group_families(mapping: Mapping[str, str]) -> dict[str, list[str]]:
    """family -> sorted generators, families sorted."""
    out: dict[str, list[str]] = {}
    for gen, fam in sorted(mapping.items()):
        out.setdefault(fam, []).append(gen)
    return dict(sorted(out.items()))


def level3_names(families: Mapping[str, list[str]]) -> dict[str, str]:
    """family -> unique node name ``level3-<family>`` for families with >= 2 generators."""
    out: dict[str, str] = {}
    for fam, gens in families.items():
        if len(gens) >= 2:
            key = "level3-" + (re.sub(r"[^A-Za-z0-9._-]+", "_", fam).strip("._") or "family")
            while key in out.values():
                key += "_"
            out[fam] = key
    return out


def renormalise(pred: Prediction, names: list[str]) -> np.ndarray:
    """[N, len(names)] float64 probabilities of ``names`` from a child, rescaled to sum 1.

    Drops the child's empty "real" class; NaN rows (failed files) stay NaN.
    """
    block = pred.proba[:, [pred.classes.index(n) for n in names]].astype(np.float64)
    total = block.sum(axis=1, keepdims=True)
    with np.errstate(invalid="ignore", divide="ignore"):
        out = np.where(total > 0, block / total, 1.0 / len(names))
    out[np.isnan(total[:, 0])] = np.nan
    return out


def adapt_batch(x: torch.Tensor, src: InputConfig, dst: InputConfig) -> torch.Tensor:
    """A batch ``x`` [B, 3, H, W] preprocessed for ``src``, re-normalised and resized for ``dst``.

    Approximate (it resizes the tensor, not the image); identical configs return ``x``.
    """
    if src == dst:
        return x
    mean, std = (torch.tensor(v).view(1, 3, 1, 1) for v in (src.mean, src.std))
    pixels = x * std + mean
    if src.size != dst.size:
        pixels = torch.nn.functional.interpolate(
            pixels, size=(dst.size, dst.size), mode="bilinear", antialias=True
        )
    mean, std = (torch.tensor(v).view(1, 3, 1, 1) for v in (dst.mean, dst.std))
    return (pixels - mean) / std


@dataclass
class TreeProba:
    """Per-level probabilities for N files (all NaN in rows of failed files).

    ``p_real`` [N]: level 1's P(real) (P(fake) = 1 - P(real), higher = more fake);
    ``p_family`` [N, F]: P(family | fake) over ``families`` (rows sum to 1);
    ``p_generator[f]`` [N, G_f]: P(generator | f) over ``generators[f]``;
    ``errors`` [N]: "" or the one-line decode error.
    """

    p_real: np.ndarray
    families: list[str]
    p_family: np.ndarray
    generators: dict[str, list[str]]
    p_generator: dict[str, np.ndarray]
    errors: list[str]

    @property
    def p_fake(self) -> np.ndarray:
        """Level 1's P(fake) [N] in [0, 1]."""
        return 1.0 - self.p_real

    def path_proba(self, classes: list[str]) -> np.ndarray:
        """Path probabilities [N, C] float32 over ``classes`` ("real" + every generator).

        P(real) = ``p_real`` (exactly), P(g) = P(fake) x P(fam(g) | fake) x P(g | fam(g));
        rows sum to 1.
        """
        column = {c: i for i, c in enumerate(classes)}
        proba = np.empty((len(self.p_real), len(classes)), dtype=np.float32)
        proba[:, column[REAL]] = self.p_real
        p_fake = 1.0 - self.p_real.astype(np.float64)
        for fi, fam in enumerate(self.families):
            for gi, gen in enumerate(self.generators[fam]):
                proba[:, column[gen]] = p_fake * self.p_family[:, fi] * self.p_generator[fam][:, gi]
        return proba

    def _greedy(self) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """Greedy branch below "fake" per row: family index [N], generator names [N], their probabilities."""
        n = len(self.p_real)
        fam_idx = np.argmax(np.nan_to_num(self.p_family, nan=-1.0), axis=1)
        p_family = self.p_family[np.arange(n), fam_idx]
        generator = np.full(n, None, dtype=object)
        p_generator = np.full(n, np.nan)
        for fi, fam in enumerate(self.families):
            rows = np.flatnonzero(fam_idx == fi)
            gen_idx = np.argmax(np.nan_to_num(self.p_generator[fam][rows], nan=-1.0), axis=1)
            generator[rows] = np.asarray(self.generators[fam], dtype=object)[gen_idx]
            p_generator[rows] = self.p_generator[fam][rows, gen_idx]
        return fam_idx, generator, p_family, p_generator

    def fake_route(self, classes: list[str]) -> np.ndarray:
        """[N] column of ``classes`` holding the greedy generator (most probable family, then
        most probable generator in it); the fake class of :class:`Prediction`'s routing rule."""
        column = {c: i for i, c in enumerate(classes)}
        _, generator, _, _ = self._greedy()
        return np.array([column.get(str(g), 1) for g in generator], dtype=np.int64)

    def levels(self) -> dict[str, LevelPrediction]:
        """Per-level predictions below real/fake: ``level2`` (family; with >= 2 families) and
        ``level3:<family>`` (generator within that family; families with >= 2 generators)."""
        out: dict[str, LevelPrediction] = {}
        if len(self.families) >= 2:
            truth = {g: fam for fam, gens in self.generators.items() for g in gens}
            out["level2"] = LevelPrediction(list(self.families), self.p_family, truth)
        for fam, gens in self.generators.items():
            if len(gens) >= 2:
                out[f"level3:{fam}"] = LevelPrediction(
                    list(gens), self.p_generator[fam], {g: g for g in gens}
                )
        return out

    def route(self, threshold: float = 0.5) -> pd.DataFrame:
        """The greedy path per file under :class:`Prediction`'s routing rule, columns :data:`ROUTE_COLUMNS`.

        ``is_fake``: ``p_fake >= threshold`` (:func:`fakescope.inference.types.fake_mask`, the
        one real/fake cut; the detector passes its ``threshold_``);
        ``family``/``generator`` (and their probabilities): the argmax branch below
        "fake", given for every decodable file (also those routed to real);
        ``predicted``: the path's end ("real" or a generator); ``path_proba``: its
        probability. Failed files: missing values (``is_fake`` NA, names missing,
        probabilities NaN).
        """
        ok = ~np.isnan(self.p_real)
        p_fake = self.p_fake.astype(np.float64)
        fam_idx, generator, p_family, p_generator = self._greedy()
        is_fake = fake_mask(p_fake, threshold)  # THE cut; NaN (failed) -> False
        family = np.asarray(self.families, dtype=object)[fam_idx]
        predicted = np.where(is_fake, generator, REAL).astype(object)
        for column in (family, generator, predicted):
            column[~ok] = None
        out = pd.DataFrame(
            {
                "is_fake": pd.arrays.BooleanArray(is_fake, ~ok),  # mask: NA for failed files
                "p_fake": p_fake,
                "family": family,
                "p_family": p_family,
                "generator": generator,
                "p_generator": p_generator,
                "path_proba": np.where(is_fake, p_fake * p_family * p_generator, self.p_real),
                "predicted": predicted,
                "error": list(self.errors),
            }
        )
        out.loc[~ok, ["p_fake", "p_family", "p_generator", "path_proba"]] = np.nan
        return out
