"""Attribution metrics (which generator made this image?) and the ``attribution`` protocol.

:func:`attribution_metrics` scores predicted class names against true ones
(the test output of DmyT, S3): accuracy, balanced accuracy (mean per-class
TPR over the classes present), per-class TPR, binary-collapsed accuracy (real
vs any fake; NaN when "real" is not a class) and the confusion matrix (rows =
true, columns = predicted; :meth:`AttributionResult.confusion` row-normalises).

:func:`evaluate_attribution` runs a trained detector on test rows:
``end_to_end`` compares its decided class (``Prediction.predicted_class``: the
routing rule of :class:`~fakescope.detectors.base.Prediction` - "real" below
the detector's validation threshold, else its routed fake class; the same
class ``scan`` writes) with the true class of the detector's target. It never
asks what kind of detector it has: when the prediction carries per-level
results (``Prediction.levels``, e.g. the hierarchy's ``level2`` family and
``level3:<family>`` generator-within-family), it also scores ``level1`` (the
real/fake verdict, every decoded row) and each level on the rows whose true
class the level judges (fakes of known generators; a generator level given
the true family). Files that failed to decode are left out and counted
(``n_errors``); rows whose true class the detector does not know (a generator
unseen in training) are left out and counted (``n_unseen``).

The ``attribution`` protocol trains one detector on train (threshold on val),
returns the binary :class:`~fakescope.eval.report.Report` of ``evaluate_detector``
on test and adds the ``attribution`` section (:func:`attribution_section`;
``report.json`` key ``attribution`` = ``{name: AttributionResult.to_dict()}``).
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
from fakescope.data.schema import FAKE, LABEL, PATH, REAL, encode_targets, validate_table
from fakescope.detectors.base import Detector, Prediction
from fakescope.errors import ConfigError, DataError
from fakescope.eval.metrics import OVERALL
from fakescope.eval.protocols import (
    PROTOCOLS,
    DetectorFactory,
    merge_meta,
    split_table,
    train_and_evaluate,
)
from fakescope.eval.report import Report
from fakescope.eval.robustness import tiers_from_config
from fakescope.eval.sections import SECTIONS, TableSection

#: Key of the end-to-end result in :func:`evaluate_attribution`'s output.
END_TO_END = "end_to_end"
#: Key of the real/fake level (reported when the prediction has levels).
LEVEL1 = "level1"
#: Key of the attribution section in reports (and in report.json).
ATTRIBUTION = "attribution"


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
    pred = detector.predict(test[PATH].tolist(), progress="attribution" if progress else None)
    ok = np.array([e == "" for e in pred.errors], dtype=bool) & ~pred.failed
    true = _true_names(test, detector.params.target)
    predicted = np.asarray(pred.predicted_class, dtype=object)
    out = {END_TO_END: _score(true, predicted, ok, classes)}
    if pred.levels:
        out.update(_level_results(pred, test, true, ok))
    return out


def _level_results(
    pred: Prediction, test: pd.DataFrame, true: np.ndarray, ok: np.ndarray
) -> dict[str, AttributionResult]:
    """``level1`` (the verdict, every decoded row) and one result per ``pred.levels`` entry."""
    is_fake = test[LABEL].to_numpy() == 1
    verdict = np.asarray([v or REAL for v in pred.verdict()], dtype=object)
    out = {LEVEL1: _score(np.where(is_fake, FAKE, REAL), verdict, ok, [REAL, FAKE])}
    for name, level in pred.levels.items():
        level_true = np.array([level.truth.get(str(t)) for t in true], dtype=object)
        rows = np.array([t is not None for t in level_true], dtype=bool)
        level_pred = np.asarray([p or level.classes[0] for p in level.predicted], dtype=object)
        out[name] = _score(level_true[rows], level_pred[rows], ok[rows], level.classes)
    return out


def attribution_tables(results: Mapping[str, Mapping[str, Any]]) -> list[tuple[str, pd.DataFrame]]:
    """``(title, table)`` pairs from ``{name: AttributionResult.to_dict()}``.

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
    out = [("Summary (binary_accuracy = real vs any fake)", summary)]
    if END_TO_END in parsed:
        confusion = parsed[END_TO_END].confusion()
        confusion.insert(0, "true \\ predicted", confusion.index)
        title = "Attribution confusion, end to end (row-normalised; rows = true class)"
        out.append((title, confusion.reset_index(drop=True)))
    return out


@SECTIONS.register(ATTRIBUTION)
def attribution_section(payload: Mapping[str, Any]) -> TableSection:
    """The report section of attribution results ``{name: AttributionResult.to_dict()}``."""
    if not isinstance(payload, Mapping):
        raise DataError("the attribution section must map result names to results; re-run eval")
    return TableSection(
        key=ATTRIBUTION,
        title="Attribution (multi-class)",
        data={str(k): dict(v) for k, v in payload.items()},
        tables=attribution_tables(payload),
        note=(
            "Class per file: real when P(fake) < the validation threshold, else the detector's "
            "routed fake class (the class scan writes)."
        ),
    )


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
        if detector.params.target == "label":
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
    report.add_section(attribution_section({name: r.to_dict() for name, r in results.items()}))
    return report
