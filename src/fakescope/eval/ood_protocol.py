"""``eval --protocol ood``: out-of-distribution detection scenarios over any deepfake benchmark (S1).

Settings come from the config's ``ood`` section (:class:`~fakescope.config.OODEvalConfig`):

* ``id_generators`` / ``ood_generators``: generator or family names (a family = all of its
  generators in the data); the two sets may not overlap.
* **ID rows** (per split) = fakes of the ID generators + reals that are untagged or not
  tagged with an OOD generator. **OOD sets** (test split) = the fakes of each OOD
  generator, one set per generator, plus ``ood_generators`` (all of them together) when
  there are several, plus each ``ood_folders`` entry ``NAME: PATH`` (every image under
  PATH). Reals tagged with an OOD generator and fakes of generators in neither list are
  not used.

Steps: train the configured detector on the ID train rows (threshold from the ID val
rows); report its real/fake metrics on the ID test rows (the usual ``metrics`` table,
train source ``id``); fit every scorer of ``ood.scorers`` on the ID train features
(``fit(features, labels)``; scorers with ``fit_detector`` - the abnormality module - get
``fit_detector(detector, id_train_paths, ...)`` with the ``ood.outliers`` synthetic
outliers and ``ood.real_outliers``); score the ID test rows and every OOD set (higher =
more OOD) and compute :func:`fakescope.ood.metrics.ood_metrics` per (scorer, OOD set).

The result is the report section ``ood``: in ``report.json`` a list of rows
``{scorer, ood_set, auroc, aupr_in, aupr_out, fpr95, detection_error, threshold95,
n_id, n_ood}``; the scenario settings are in ``meta["ood"]``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from fakescope.config import OODEvalConfig, RobustnessConfig
from fakescope.data.schema import FAMILY, GENERATOR, LABEL, PATH, encode_targets
from fakescope.errors import ConfigError, DataError, FakescopeError
from fakescope.eval.protocols import (
    PROTOCOLS,
    DetectorFactory,
    evaluate_detector,
    merge_meta,
    split_table,
)
from fakescope.eval.report import Report
from fakescope.eval.robustness import tiers_from_config
from fakescope.eval.sections import SECTIONS, TableSection

#: report.json key of the OOD rows, and the ``options`` key of the settings.
OOD = "ood"
#: Train-source name of the ID detector's metrics rows.
ID_SOURCE = "id"
#: Name of the OOD set that joins every OOD generator.
ALL_GENERATORS = "ood_generators"
#: The keys every row of the ``ood`` section has (documented contract).
ROW_KEYS: tuple[str, ...] = ("scorer", "ood_set", "auroc", "aupr_in", "aupr_out", "fpr95")
TITLE = "Out-of-distribution detection"
NOTE = (
    "OOD score: higher = more out-of-distribution; AUROC / AUPR-out with OOD positive, "
    "AUPR-in with ID positive, FPR95 = share of OOD images kept at 95% ID recall."
)


# ------------------------------------------------------------------ settings
def ood_settings(options: Mapping[str, Any] | None) -> OODEvalConfig:
    """The ``ood`` settings from protocol ``options`` (an OODEvalConfig or a plain dict)."""
    raw = (options or {}).get(OOD)
    if isinstance(raw, OODEvalConfig):
        return raw
    if raw is None:
        return OODEvalConfig()
    try:
        return OODEvalConfig.model_validate(raw)
    except ValueError as exc:
        first = str(exc).splitlines()[0]
        raise ConfigError(
            f"invalid ood settings ({first}); see the ood section of the config"
        ) from None


def create_ood_scorer(name: str, params: Mapping[str, Any] | None = None) -> Any:
    """A new scorer ``name``: a registered one, or the abnormality module (one-line errors)."""
    from fakescope.ood.abnormality import SCORER_NAME, AbnormalityScorer
    from fakescope.ood.catalog import SCORERS, create_scorer

    settings = dict(params or {})
    if name == SCORER_NAME and name not in SCORERS:
        return AbnormalityScorer(**settings)
    if name not in SCORERS:
        valid = sorted({*SCORERS.names(), SCORER_NAME})
        raise ConfigError(
            f"unknown ood scorer {name!r} in ood.scorers; choose from: {', '.join(valid)}"
        )
    return create_scorer(name, **settings)


def resolve_generators(names: Sequence[str], table: pd.DataFrame, what: str) -> list[str]:
    """Generators named by ``names`` (generator or family names) among the fakes of ``table``."""
    fakes = table[table[LABEL] == 1]
    by_family: dict[str, set[str]] = {}
    for fam, gen in zip(fakes[FAMILY].astype(str), fakes[GENERATOR].astype(str), strict=True):
        if gen:
            by_family.setdefault(fam, set()).add(gen)
    generators = sorted({g for g in fakes[GENERATOR].astype(str) if g})
    out: list[str] = []
    for name in names:
        if name in generators:
            found = [name]
        elif name in by_family:
            found = sorted(by_family[name])
        else:
            fams = sorted(set(by_family) - {"unknown"})
            raise DataError(
                f"unknown generator or family {name!r} in {what}; this dataset has generators: "
                f"{', '.join(generators) or 'none'}"
                + (f"; families: {', '.join(fams)}" if fams else "")
            )
        out += [g for g in found if g not in out]
    return out


def id_rows(part: pd.DataFrame, id_gens: Sequence[str], ood_gens: Sequence[str]) -> pd.DataFrame:
    """ID rows of ``part``: fakes of ``id_gens`` + reals not tagged with an OOD generator."""
    gen = part[GENERATOR].astype(str)
    keep = ((part[LABEL] == 1) & gen.isin(id_gens)) | ((part[LABEL] == 0) & ~gen.isin(ood_gens))
    return part[keep].reset_index(drop=True)


def _sample(paths: list[str], n: int | None, seed: int, salt: int) -> list[str]:
    if n is None or len(paths) <= n:
        return paths
    rng = np.random.default_rng([seed, salt])
    return [paths[i] for i in sorted(rng.choice(len(paths), n, replace=False))]


def ood_sets(
    test: pd.DataFrame, ood_gens: Sequence[str], folders: Mapping[str, Path]
) -> dict[str, list[str]]:
    """``{set name: image paths}``: one set per OOD generator (+ all of them), then the folders."""
    from fakescope.data.layouts.files import list_images

    sets: dict[str, list[str]] = {}
    fakes = test[test[LABEL] == 1]
    for g in ood_gens:
        paths = fakes.loc[fakes[GENERATOR].astype(str) == g, PATH].tolist()
        if not paths:
            raise DataError(
                f"OOD generator {g!r} has no fakes in the test split; drop it from ood.ood_generators"
            )
        sets[g] = paths
    if len(ood_gens) > 1:
        sets[ALL_GENERATORS] = [p for g in ood_gens for p in sets[g]]
    for name, folder in folders.items():
        if name in sets:
            raise ConfigError(f"ood.ood_folders name {name!r} is already an OOD set; rename it")
        path = Path(folder).expanduser()
        if not path.is_dir():
            raise DataError(f"ood.ood_folders {name}: {path} is not a folder; check the path")
        images = list_images(path.resolve())
        if not images:
            raise DataError(f"ood.ood_folders {name}: no images under {path}; check the path")
        sets[name] = images
    return sets


# ------------------------------------------------------------------ section
def ood_section(rows: list[dict[str, Any]]) -> TableSection:
    """The report section of the OOD rows (one table, every column)."""
    frame = pd.DataFrame(rows, columns=list(rows[0]) if rows else list(ROW_KEYS))
    return TableSection(OOD, TITLE, rows, [("Scores per scorer and OOD set", frame)], note=NOTE)


@SECTIONS.register(OOD)
def load_ood_section(payload: Any) -> TableSection:
    """Rebuild the ``ood`` section from its report.json payload."""
    return ood_section(list(payload or []))


# ------------------------------------------------------------------ protocol
@PROTOCOLS.register("ood")
def protocol_ood(
    table: pd.DataFrame,
    factory: DetectorFactory,
    *,
    workdir: Path | None = None,
    robustness: RobustnessConfig | None = None,
    progress: bool = False,
    options: Mapping[str, Any] | None = None,
) -> Report:
    """Train on the ID generators, score ID test vs each OOD set with every scorer (module docstring)."""
    from fakescope.ood.base import InputScorer

    tiers_from_config(robustness)
    cfg = ood_settings(options)
    if not cfg.id_generators or (not cfg.ood_generators and not cfg.ood_folders):
        raise ConfigError(
            "the ood protocol needs ood.id_generators and ood.ood_generators (or ood.ood_folders); "
            "set them in the config's ood section"
        )
    if not cfg.scorers:
        raise ConfigError("ood.scorers is empty; name at least one scorer (e.g. msp, knn)")
    scorers = {n: create_ood_scorer(n, cfg.scorer_params.get(n)) for n in cfg.scorers}
    train, val, test = split_table(table)
    everything = pd.concat([train, val, test], ignore_index=True)
    id_gens = resolve_generators(cfg.id_generators, everything, "ood.id_generators")
    ood_gens = resolve_generators(cfg.ood_generators, everything, "ood.ood_generators")
    both = sorted(set(id_gens) & set(ood_gens))
    if both:
        raise ConfigError(f"generators {both} are both ID and OOD; list each in one of the two")
    id_train, id_val, id_test = (id_rows(p, id_gens, ood_gens) for p in (train, val, test))
    for name, part in (("train", id_train), ("test", id_test)):
        if not (part[LABEL] == 1).any():
            raise DataError(
                f"the ID {name} rows have no fakes of {', '.join(id_gens)}; check ood.id_generators"
            )
    sets = ood_sets(test, ood_gens, cfg.ood_folders)

    detector = factory()
    detector.fit(
        id_train, id_val if len(id_val) else None, workdir=workdir / "ood-id" if workdir else None
    )
    report = evaluate_detector(
        detector, id_test, robustness=robustness, progress=progress, source=ID_SOURCE
    )
    report.meta["threshold_from"] = (
        "val" if len(id_val) and id_val[LABEL].nunique() == 2 else "default"
    )

    train_paths = id_train[PATH].tolist()
    f_train = detector.features(
        train_paths, progress="ood: ID train features" if progress else None
    )
    if "confidence" in scorers and f_train.confidence is None:
        raise ConfigError(
            f"ood scorer confidence needs a detector with a confidence branch (unet with "
            f"confidence: true); the {detector.name} detector has none: remove it from ood.scorers"
        )
    labels = encode_targets(id_train, detector.params.target, detector.check_fitted())[0]
    inputs = [s for s in scorers.values() if isinstance(s, InputScorer)]

    def feats(paths: list[str], what: str) -> Any:
        return detector.features(paths, progress=what if progress else None, input_scorers=inputs)

    test_paths = _sample(id_test[PATH].tolist(), cfg.max_per_set, cfg.seed, 0)
    f_id = feats(test_paths, "ood: ID test features")
    f_ood = {
        name: feats(_sample(paths, cfg.max_per_set, cfg.seed, i + 1), f"ood: {name} features")
        for i, (name, paths) in enumerate(sets.items())
    }
    rows: list[dict[str, Any]] = []
    for name, scorer in scorers.items():
        if hasattr(scorer, "fit_detector"):
            scorer.fit_detector(
                detector,
                train_paths,
                kinds=cfg.outliers.kinds,
                per_image=cfg.outliers.per_image,
                real_folders=[str(p) for p in cfg.real_outliers],
            )
        else:
            scorer.fit(f_train, labels)
        rows += score_rows(name, scorer, f_id, f_ood)
    report.meta = merge_meta([report], [ID_SOURCE])
    report.meta[OOD] = {
        "scenario": cfg.scenario,
        "id_generators": id_gens,
        "ood_generators": ood_gens,
        "ood_folders": {k: str(v) for k, v in cfg.ood_folders.items()},
        "scorers": list(scorers),
        "n_id_train": len(id_train),
        "n_id_test": len(f_id),
        "n_ood": {k: len(v) for k, v in f_ood.items()},
    }
    report.add_section(ood_section(rows))
    return report


def score_rows(name: str, scorer: Any, f_id: Any, f_ood: Mapping[str, Any]) -> list[dict[str, Any]]:
    """One row per OOD set: :func:`~fakescope.ood.metrics.ood_metrics` of ``scorer``'s scores."""
    from fakescope.ood.metrics import ood_metrics

    try:
        s_id = scorer.score(f_id)
        return [
            {"scorer": name, "ood_set": set_name, **ood_metrics(s_id, scorer.score(f)).as_dict()}
            for set_name, f in f_ood.items()
        ]
    except FakescopeError as exc:
        raise FakescopeError(f"ood scorer {name}: {exc}") from None
