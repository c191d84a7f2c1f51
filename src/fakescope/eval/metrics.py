"""Binary real-vs-fake metrics, per generator and overall.

Scores are P(fake) in [0, 1] (higher = more likely fake); a sample is called
fake when ``p_fake >= threshold``. Labels: 0 = real, 1 = fake.

Metric and key names are the constants below; a metrics table is tidy (one
row per train source x degradation tier x evaluated generator, one column per
metric), see :mod:`fakescope.eval.report`.

Per-generator groups (the rule every protocol uses)
---------------------------------------------------
The ``generator`` column of a sample table tags both the reals and the fakes
of a generator folder. The group of generator ``g`` is every row tagged ``g``
(its reals + its fakes). When ``g`` has fakes but **no reals of its own**
(e.g. a manifest whose reals have generator ""), its fakes are evaluated
against **all reals** of the evaluated table. Rows with generator "" belong to
no named group, only to the :data:`OVERALL` group (every row). Groups with
only reals or only fakes get NaN for ROC-AUC and AP (never an error).

Files that failed to decode (NaN P(fake)) are left out of every metric and
counted in :data:`N_ERRORS`.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
from sklearn.metrics import average_precision_score, roc_auc_score

from fakescope.data.schema import GENERATOR as SAMPLE_GENERATOR
from fakescope.data.schema import LABEL as SAMPLE_LABEL

# ------------------------------------------------------------------ keys
#: Column: where the detector was trained ("(all)" or a generator name).
TRAIN = "train"
#: Column: the degradation tier ("clean", "jpeg", "blur", "downscale").
TIER = "tier"
#: Column: the tier's parameter (JPEG quality, blur sigma, scale factor); NaN for clean.
VALUE = "value"
#: Column: the evaluated group (a generator name, or :data:`OVERALL`).
GENERATOR = "generator"
#: Group / train-source name meaning "every row".
OVERALL = "(all)"
#: Tier name of the undegraded images.
CLEAN = "clean"

# --------------------------------------------------------------- metrics
N_REAL = "n_real"
N_FAKE = "n_fake"
N_ERRORS = "n_errors"
ACCURACY = "accuracy"
REAL_ACCURACY = "real_accuracy"
FAKE_ACCURACY = "fake_accuracy"
AUC = "roc_auc"
AP = "ap"
THRESHOLD = "threshold"
ACC_AT_VAL = "acc_at_val_threshold"

KEY_COLUMNS: tuple[str, ...] = (TRAIN, TIER, VALUE, GENERATOR)
COUNT_COLUMNS: tuple[str, ...] = (N_REAL, N_FAKE, N_ERRORS)
METRIC_COLUMNS: tuple[str, ...] = (
    N_REAL,
    N_FAKE,
    N_ERRORS,
    ACCURACY,
    REAL_ACCURACY,
    FAKE_ACCURACY,
    AUC,
    AP,
    THRESHOLD,
    ACC_AT_VAL,
)
#: Human-readable names for reports.
DESCRIPTIONS: dict[str, str] = {
    N_REAL: "real images scored",
    N_FAKE: "fake images scored",
    N_ERRORS: "files that failed to decode (left out of every metric)",
    ACCURACY: "accuracy at P(fake) >= 0.5",
    REAL_ACCURACY: "share of reals called real at 0.5",
    FAKE_ACCURACY: "share of fakes called fake at 0.5",
    AUC: "ROC-AUC (fake = positive)",
    AP: "average precision (fake = positive)",
    THRESHOLD: "P(fake) cut chosen on the validation split",
    ACC_AT_VAL: "accuracy at the validation threshold",
}


def _share(hits: np.ndarray) -> float:
    return float(hits.mean()) if len(hits) else math.nan


def binary_metrics(
    y_true: np.ndarray, p_fake: np.ndarray, threshold: float | None = None
) -> dict[str, float]:
    """All :data:`METRIC_COLUMNS` for labels ``y_true`` [N] and scores ``p_fake`` [N].

    NaN scores count as errors and are excluded. ``threshold`` is the cut
    chosen on validation data (None: :data:`ACC_AT_VAL` and :data:`THRESHOLD`
    are NaN). Metrics that are undefined (no samples, one class) are NaN.
    """
    y = np.asarray(y_true).astype(int).ravel()
    p = np.asarray(p_fake, dtype=float).ravel()
    if y.shape != p.shape:
        raise ValueError(f"y_true and p_fake differ in length: {y.shape[0]} vs {p.shape[0]}")
    ok = ~np.isnan(p)
    n_errors = int((~ok).sum())
    y, p = y[ok], p[ok]
    real, fake = y == 0, y == 1
    called_fake = p >= 0.5
    two_classes = bool(real.any() and fake.any())
    out: dict[str, float] = {
        N_REAL: int(real.sum()),
        N_FAKE: int(fake.sum()),
        N_ERRORS: n_errors,
        ACCURACY: _share(called_fake == fake),
        REAL_ACCURACY: _share(~called_fake[real]),
        FAKE_ACCURACY: _share(called_fake[fake]),
        AUC: float(roc_auc_score(y, p)) if two_classes else math.nan,
        AP: float(average_precision_score(y, p)) if two_classes else math.nan,
        THRESHOLD: math.nan if threshold is None else float(threshold),
        ACC_AT_VAL: math.nan if threshold is None else _share((p >= threshold) == fake),
    }
    return out


def group_masks(labels: np.ndarray, generators: np.ndarray) -> dict[str, np.ndarray]:
    """Boolean row masks [N] of :data:`OVERALL` and of every named generator.

    ``labels`` [N] in {0, 1}; ``generators`` [N] str. See the module docstring
    for the rule (a generator without reals of its own is scored against all
    reals). Order: :data:`OVERALL` first, then generators sorted by name.
    """
    y = np.asarray(labels).astype(int)
    gen = np.asarray(generators).astype(str)
    masks: dict[str, np.ndarray] = {OVERALL: np.ones(len(y), dtype=bool)}
    for g in sorted(set(gen.tolist()) - {""}):
        own = gen == g
        if not (own & (y == 0)).any():
            own = own | (y == 0)
        masks[g] = own
    return masks


def group_metrics(
    table: pd.DataFrame, p_fake: np.ndarray, threshold: float | None = None
) -> pd.DataFrame:
    """Per-group metrics of a scored sample table.

    ``table``: sample table (columns ``label`` and ``generator``) of N rows;
    ``p_fake`` [N]: P(fake) per row (NaN = failed file). Returns one row per
    group (:func:`group_masks`) with columns :data:`GENERATOR` + :data:`METRIC_COLUMNS`.
    """
    p = np.asarray(p_fake, dtype=float)
    if len(p) != len(table):
        raise ValueError(f"{len(p)} scores for {len(table)} rows")
    y = table[SAMPLE_LABEL].to_numpy()
    gen = (
        table[SAMPLE_GENERATOR].fillna("").astype(str).to_numpy()
        if SAMPLE_GENERATOR in table.columns
        else np.full(len(table), "")
    )
    rows = [
        {GENERATOR: name, **binary_metrics(y[mask], p[mask], threshold)}
        for name, mask in group_masks(y, gen).items()
    ]
    return normalise_frame(pd.DataFrame(rows, columns=[GENERATOR, *METRIC_COLUMNS]))


def normalise_frame(frame: pd.DataFrame) -> pd.DataFrame:
    """Fix the dtypes of a metrics table: counts int64, metrics/value float64, keys str."""
    out = frame.copy()
    for col in out.columns:
        if col in COUNT_COLUMNS:
            out[col] = pd.to_numeric(out[col]).fillna(0).astype("int64")
        elif col in METRIC_COLUMNS or col == VALUE:
            out[col] = pd.to_numeric(out[col], errors="coerce").astype("float64")
        elif col in KEY_COLUMNS:
            out[col] = out[col].astype(str)
    return out.reset_index(drop=True)
