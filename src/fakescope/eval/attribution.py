"""Attribution metrics (which generator made this image?) and the ``attribution`` protocol.

:func:`attribution_metrics` scores predicted class names against true ones
(the test output of DmyT, S3): accuracy, balanced accuracy (mean per-class
TPR over the classes present), per-class TPR, binary-collapsed accuracy (real
vs any fake; NaN when "real" is not a class) and the confusion matrix (rows =
true, columns = predicted; :meth:`AttributionResult.confusion` row-normalises).

:func:`evaluate_attribution` runs a trained detector on test rows:
``end_to_end`` compares its predicted class (the argmax of ``predict``; the
greedy route for a :class:`~fakescope.detectors.hierarchy.HierarchyDetector`)
with the true class of the detector's target (real + one per generator for a
hierarchy). A hierarchy also gets ``level1`` (real/fake, every row),
``level2`` (family, fake rows; when it has >= 2 families) and
``level3:<family>`` (generator among that family's fakes given the true
family; families with >= 2 generators). Files that failed to decode are left
out and counted (``n_errors``); rows whose true class the detector does not
know (a generator unseen in training) are left out and counted (``n_unseen``).

The ``attribution`` protocol trains one detector on train (threshold on val),
returns the binary :class:`~fakescope.eval.report.Report` of ``evaluate_detector``
on test and adds ``meta["attribution"] = {name: AttributionResult.to_dict()}``.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from fakescope.config import RobustnessConfig
from fakescope.data.schema import FAKE, GENERATOR, LABEL, PATH, REAL, encode_targets, validate_table
from fakescope.detectors.base import Detector
from fakescope.detectors.hierarchy import HierarchyDetector
from fakescope.detectors.hierarchy_tree import TreeProba
from fakescope.errors import ConfigError, DataError
from fakescope.eval.metrics import OVERALL
from fakescope.eval.protocols import (
    PROTOCOLS,
    DetectorFactory,
    merge_meta,
    split_table,
    train_and_evaluate,
)
from fakescope.eval.report import ATTRIBUTION, Report
from fakescope.eval.robustness import tiers_from_config

#: Key of the end-to-end result in :func:`evaluate_attribution`'s output.
END_TO_END = "end_to_end"


def _nan(value: float | None) -> float:
    return math.nan if value is None else float(value)


def _json_float(value: float) -> float | None:
    return None if not math.isfinite(value) else float(value)


@dataclass
class AttributionResult:
    """Multi-class attribution scores of one comparison.

    ``counts`` [C, C]: confusion counts, rows = true class, columns = predicted
    (both in ``classes`` order). ``per_class_tpr``: recall of each class (NaN
    without true samples). ``binary_accuracy``: real vs any fake, collapsed
    (NaN when "real" is not a class). ``n_errors`` / ``n_unseen``: rows left out.
    """

    classes: list[str]
    counts: pd.DataFrame
    accuracy: float
    balanced_accuracy: float
    per_class_tpr: dict[str, float]
    binary_accuracy: float
    n_errors: int = 0
    n_unseen: int = 0

    @property
    def n(self) -> int:
        """Rows scored (the sum of ``counts``)."""
        return int(self.counts.to_numpy().sum())

    def confusion(self) -> pd.DataFrame:
        """Row-normalised confusion [C, C] (each true class's row sums to 1; NaN rows without samples)."""
        counts = self.counts.astype(float)
        return counts.div(counts.sum(axis=1).replace(0, np.nan), axis=0)

    def to_dict(self) -> dict[str, Any]:
        """JSON-able dict (NaN -> None); :meth:`from_dict` inverts it."""
        return {
            "classes": list(self.classes),
            "counts": self.counts.to_numpy().astype(int).tolist(),
            "accuracy": _json_float(self.accuracy),
            "balanced_accuracy": _json_float(self.balanced_accuracy),
            "per_class_tpr": {k: _json_float(v) for k, v in self.per_class_tpr.items()},
            "binary_accuracy": _json_float(self.binary_accuracy),
            "n_errors": int(self.n_errors),
            "n_unseen": int(self.n_unseen),
        }

    @classmethod
    def from_dict(cls, raw: Mapping[str, Any]) -> AttributionResult:
        """Rebuild a result from :meth:`to_dict`'s output (one-line DataError when malformed)."""
        try:
            classes = [str(c) for c in raw["classes"]]
            counts = pd.DataFrame(
                np.asarray(raw["counts"], dtype=np.int64).reshape(len(classes), -1)
            )
            counts.index, counts.columns = list(classes), list(classes)
            return cls(
                classes=classes,
                counts=counts,
                accuracy=_nan(raw["accuracy"]),
                balanced_accuracy=_nan(raw["balanced_accuracy"]),
                per_class_tpr={str(k): _nan(v) for k, v in raw["per_class_tpr"].items()},
                binary_accuracy=_nan(raw["binary_accuracy"]),
                n_errors=int(raw.get("n_errors", 0)),
                n_unseen=int(raw.get("n_unseen", 0)),
            )
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise DataError(
                f"not an attribution result ({type(exc).__name__}: {exc}); pass AttributionResult.to_dict() output"
            ) from None


def attribution_metrics(
    true: Sequence[str],
    pred: Sequence[str],
    classes: Sequence[str],
    *,
    n_errors: int = 0,
    n_unseen: int = 0,
) -> AttributionResult:
    """Score predicted class names ``pred`` [N] against ``true`` [N] over ``classes`` [C].

    Every name must be one of ``classes`` (else a one-line DataError). Metrics
    of an empty input are NaN.
    """
    names = [str(c) for c in classes]
    if len(true) != len(pred):
        raise DataError(f"{len(true)} true but {len(pred)} predicted classes; pass one per row")
    index = {c: i for i, c in enumerate(names)}
    unknown = sorted({str(c) for c in [*true, *pred]} - set(index))
    if unknown:
        raise DataError(f"classes {unknown} are not among {names}; pass every class in classes")
    t = np.array([index[str(c)] for c in true], dtype=np.int64)
    p = np.array([index[str(c)] for c in pred], dtype=np.int64)
    counts = np.zeros((len(names), len(names)), dtype=np.int64)
    np.add.at(counts, (t, p), 1)
    support = counts.sum(axis=1)
    tpr = {c: counts[i, i] / support[i] if support[i] else math.nan for i, c in enumerate(names)}
    present = [v for c, v in tpr.items() if support[index[c]]]
    binary = math.nan
    if REAL in index and len(t):
        real = index[REAL]
        binary = float(np.mean((t == real) == (p == real)))
    return AttributionResult(
        classes=names,
        counts=pd.DataFrame(counts, index=names, columns=names),
        accuracy=float(np.trace(counts) / len(t)) if len(t) else math.nan,
        balanced_accuracy=float(np.mean(present)) if present else math.nan,
        per_class_tpr={c: float(v) for c, v in tpr.items()},
        binary_accuracy=binary,
        n_errors=n_errors,
        n_unseen=n_unseen,
    )


def _score(
    true: np.ndarray, pred: np.ndarray, ok: np.ndarray, classes: list[str]
) -> AttributionResult:
    """Metrics over rows ``ok`` (decoded); rows whose true class is not in ``classes`` are counted."""
    known = np.isin(true.astype(str), classes)
    keep = ok & known
    return attribution_metrics(
        true[keep].tolist(),
        pred[keep].tolist(),
        classes,
        n_errors=int((~ok).sum()),
        n_unseen=int((ok & ~known).sum()),
    )


def _true_names(table: pd.DataFrame, target: str) -> np.ndarray:
    """The true class name of each row for ``target`` ("real" for reals; see encode_targets)."""
    y, classes = encode_targets(table, target)
    return np.asarray(classes, dtype=object)[y]


def evaluate_attribution(
    detector: Detector, test: pd.DataFrame, *, progress: bool = False
) -> dict[str, AttributionResult]:
    """Attribution results of a trained ``detector`` on the rows of ``test`` (see the module docstring)."""
    classes = detector.check_fitted()
    test = validate_table(test)
    if len(test) == 0:
        raise DataError(
            "nothing to evaluate: the test table is empty; check the data root and split"
        )
    paths = test[PATH].tolist()
    desc = "attribution" if progress else None
    if not isinstance(detector, HierarchyDetector):
        pred = detector.predict(paths, progress=desc)
        ok = np.array([e == "" for e in pred.errors]) & ~np.isnan(pred.proba).any(axis=1)
        predicted = np.asarray(pred.predicted_class, dtype=object)
        true = _true_names(test, detector.params.target)
        return {END_TO_END: _score(true, predicted, ok, classes)}
    return _hierarchy_results(detector, test, detector.tree_proba(paths, progress=desc))


def _argmax_names(proba: np.ndarray, names: list[str]) -> np.ndarray:
    """Argmax class name per row of ``proba`` [N, len(names)] (NaN rows -> the first name)."""
    return np.asarray(names, dtype=object)[np.argmax(np.nan_to_num(proba, nan=-1.0), axis=1)]


def _hierarchy_results(
    detector: HierarchyDetector, test: pd.DataFrame, tree: TreeProba
) -> dict[str, AttributionResult]:
    """End-to-end (greedy route) and per-level results of a hierarchy on ``test``."""
    route = tree.route()
    ok = ~np.isnan(tree.p_real)
    true = _true_names(test, "generator")
    out = {END_TO_END: _score(true, route["predicted"].to_numpy(), ok, detector.check_fitted())}
    is_fake = test[LABEL].to_numpy() == 1
    level1 = np.where(route["is_fake"].fillna(False).to_numpy(dtype=bool), FAKE, REAL)
    out["level1"] = _score(np.where(is_fake, FAKE, REAL), level1, ok, [REAL, FAKE])
    gens = test[GENERATOR].to_numpy(dtype=object)
    known = is_fake & np.isin(gens.astype(str), list(detector.family_map_))
    true_family = np.array([detector.family_map_.get(str(g), "") for g in gens], dtype=object)
    if len(tree.families) >= 2:
        pred_family = _argmax_names(tree.p_family, tree.families)
        out["level2"] = _score(true_family[known], pred_family[known], ok[known], tree.families)
    for fam, members in tree.generators.items():
        if fam in detector.level3_:
            rows = known & (true_family == fam)
            pred_gen = _argmax_names(tree.p_generator[fam], members)
            out[f"level3:{fam}"] = _score(gens[rows], pred_gen[rows], ok[rows], members)
    return out


def attribution_tables(results: Mapping[str, Mapping[str, Any]]) -> list[tuple[str, pd.DataFrame]]:
    """``(title, table)`` pairs for reports, from ``meta["attribution"]`` (dicts of :meth:`AttributionResult.to_dict`).

    A summary (one row per result) and the row-normalised end-to-end confusion.
    """
    parsed = {name: AttributionResult.from_dict(raw) for name, raw in results.items()}
    summary = pd.DataFrame(
        [
            {
                "result": name,
                "n": r.n,
                "n_errors": r.n_errors,
                "n_unseen": r.n_unseen,
                "accuracy": r.accuracy,
                "balanced_accuracy": r.balanced_accuracy,
                "binary_accuracy": r.binary_accuracy,
            }
            for name, r in parsed.items()
        ]
    )
    out = [("Attribution (multi-class; binary_accuracy = real vs any fake)", summary)]
    if END_TO_END in parsed:
        confusion = parsed[END_TO_END].confusion()
        confusion.insert(0, "true \\ predicted", confusion.index)
        title = "Attribution confusion, end to end (row-normalised; rows = true class)"
        out.append((title, confusion.reset_index(drop=True)))
    return out


@PROTOCOLS.register("attribution")
def protocol_attribution(
    table: pd.DataFrame,
    factory: DetectorFactory,
    *,
    workdir: Path | None = None,
    robustness: RobustnessConfig | None = None,
    progress: bool = False,
    options: Mapping[str, Any] | None = None,
) -> Report:
    """Train once (target generator/family/cls, or the hierarchy); binary report + attribution meta.

    ``options`` is not used (no protocol-specific settings).
    """
    tiers_from_config(robustness)
    train, val, test = split_table(table)
    made: list[Detector] = []

    def make() -> Detector:
        detector = factory()
        if detector.params.target == "label" and not isinstance(detector, HierarchyDetector):
            raise ConfigError("attribution needs target=generator or the hierarchy detector")
        made.append(detector)
        return detector

    report = train_and_evaluate(
        make,
        train,
        val,
        test,
        source=OVERALL,
        workdir=workdir,
        robustness=robustness,
        progress=progress,
    )
    report.meta = merge_meta([report], [OVERALL])
    results = evaluate_attribution(made[0], test, progress=progress)
    report.meta[ATTRIBUTION] = {name: r.to_dict() for name, r in results.items()}
    return report
