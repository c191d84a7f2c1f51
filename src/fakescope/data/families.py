"""Generator -> family maps (gan, diffusion, faceswap, ...) read from YAML.

Two YAML shapes are accepted::

    # generator: family
    progan: gan
    stable_diffusion_v1_4: diffusion

    # family: [generators]
    gan: [progan, stylegan2, biggan]
    diffusion: [stable_diffusion_v1_4, glide]

Generator names match exactly first, then case-insensitively. Fakes whose
generator the map does not name get family "unknown"; reals always get "real".
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pandas as pd
import yaml

from fakescope.data.schema import FAMILY, GENERATOR, LABEL, REAL, UNKNOWN_FAMILY
from fakescope.errors import DataError


def load_family_map(path: str | Path) -> dict[str, str]:
    """Read a generator -> family map from YAML (either shape above).

    Raises a one-line :class:`DataError` for a missing file, malformed YAML,
    a non-mapping, non-string names, or a generator listed in two families.
    """
    p = Path(path).expanduser()
    if not p.is_file():
        raise DataError(f"family map {p} does not exist; check the path")
    try:
        raw = yaml.safe_load(p.read_text())
    except (yaml.YAMLError, UnicodeDecodeError) as exc:
        first = (str(exc).splitlines() or ["parse error"])[0]
        raise DataError(f"family map {p} is not valid YAML ({first}); fix the file") from None
    return parse_family_map(raw, str(p))


def parse_family_map(raw: Any, where: str = "family map") -> dict[str, str]:
    """Validate an already-parsed map (either shape) into ``{generator: family}``."""
    if raw is None:
        return {}
    if not isinstance(raw, Mapping):
        raise DataError(
            f"{where} must be a mapping generator: family (or family: [generators]), "
            f"not {type(raw).__name__}"
        )
    out: dict[str, str] = {}
    for key, value in raw.items():
        if isinstance(value, list):
            family, generators = key, value
        else:
            family, generators = value, [key]
        if not isinstance(family, str) or not all(isinstance(g, str) for g in generators):
            raise DataError(f"{where}: entry {key!r}: {value!r} must use text names; quote them")
        for gen in generators:
            if out.get(gen, family) != family:
                raise DataError(
                    f"{where}: generator {gen!r} is in two families "
                    f"({out[gen]}, {family}); keep one"
                )
            out[gen] = family
    return out


def family_of(generator: str, mapping: Mapping[str, str]) -> str:
    """The family of ``generator`` (exact, then case-insensitive match), else "unknown"."""
    if generator in mapping:
        return mapping[generator]
    lower = {k.lower(): v for k, v in mapping.items()}
    return lower.get(generator.lower(), UNKNOWN_FAMILY)


def apply_families(table: pd.DataFrame, mapping: Mapping[str, str]) -> pd.DataFrame:
    """Return a copy of ``table`` with ``family`` filled from ``mapping``.

    Fakes of generators missing from the map get "unknown"; reals get "real".
    """
    out = table.copy()
    exact = dict(mapping)
    lower = {k.lower(): v for k, v in mapping.items()}
    gens = out[GENERATOR].fillna("").astype(str)
    families = [exact.get(g, lower.get(g.lower(), UNKNOWN_FAMILY)) for g in gens]
    out[FAMILY] = families
    out.loc[out[LABEL] == 0, FAMILY] = REAL
    return out
