"""Fit a whole :class:`~fakescope.bundle.Bundle`: detector, calibration and OOD abstainer.

What ``fakescope train`` runs (the command only parses options and prints).

**Which data sets what.** The validation split is divided, per label, by a
seeded shuffle into two disjoint parts:

* ``val`` (``1 - cal_fraction`` of it): the detector's own use of validation
  data - early stopping / model selection and the P(fake) ``threshold_``;
* ``calibration`` (``cal_fraction``, default half): the Platt map, the
  split-conformal unsure band and the OOD abstainer's threshold.

Why: the band's guarantee (per-class coverage >= 1 - alpha) needs calibration
images the fitted model did not depend on; with one split, early stopping and
the threshold are chosen on the very images that then set the band, and a
model selected on them looks more confident there than on new images. Why a
split and not cross-fitting: cross-fitting needs one detector fit per fold (the
expensive part), and its conformal variants only promise ``1 - 2 alpha``; a split
keeps the exact finite-sample promise at the price of fewer images for each
use. The training split sets the weights (and the abstainer's reference
features). :data:`Bundle.data_use <fakescope.bundle.Bundle>` records every step,
its data set and row count in ``meta.json`` (``fakescope bundle info`` shows it).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from fakescope.errors import ConfigError, DataError
from fakescope.inference.calibration import DEFAULT_ALPHA, Calibrator

if TYPE_CHECKING:
    import pandas as pd

    from fakescope.bundle import Bundle
    from fakescope.detectors.base import Detector
    from fakescope.ood.abstain import Abstainer

#: Default share of the validation split held out for calibration, band and OOD threshold.
DEFAULT_CAL_FRACTION = 0.5
#: Data set names in ``data_use``.
TRAIN, VAL, CALIBRATION = "train", "val", "calibration"


def split_calibration(
    val: pd.DataFrame, fraction: float = DEFAULT_CAL_FRACTION, seed: int = 0
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """``(val_part, calibration_part)``: disjoint rows of ``val``, split per label.

    Each label's rows are shuffled with ``seed`` and ``round(n * fraction)`` of them
    go to calibration, keeping at least one row on each side when the label has
    two or more. Row order inside each part follows ``val``.
    """
    from fakescope.data.schema import LABEL

    if not 0.0 < fraction < 1.0:
        raise ConfigError(f"the calibration fraction must be in (0, 1), got {fraction}")
    rng = np.random.default_rng(seed)
    take: list[Any] = []
    for _, rows in val.groupby(LABEL, sort=True):
        n = len(rows)
        k = round(n * fraction)
        if n >= 2:
            k = min(max(k, 1), n - 1)
        take.extend(rows.index[rng.permutation(n)[:k]])
    mask = val.index.isin(take)
    return val[~mask], val[mask]


@dataclass
class FitReport:
    """What :func:`fit_bundle` did: the bundle, one-line notes and warnings for people."""

    bundle: Bundle
    notes: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)


def fit_bundle(
    detector: Detector,
    train: pd.DataFrame,
    val: pd.DataFrame,
    *,
    workdir: str | Path | None = None,
    calibrate: bool = True,
    alpha: float = DEFAULT_ALPHA,
    ood: bool = True,
    cal_fraction: float = DEFAULT_CAL_FRACTION,
    seed: int = 0,
    progress: bool = True,
    on_trained: Callable[[Detector], None] | None = None,
) -> FitReport:
    """Train ``detector`` and fit its calibrator and abstainer on split-off data (module docstring).

    ``val`` is split by :func:`split_calibration` when calibration or OOD is asked
    for; a calibrator or abstainer that cannot be fitted is a warning (the bundle
    works without it). ``on_trained`` is called once the detector is fitted.
    """
    if not 0.0 < alpha < 1.0:
        raise ConfigError(f"alpha must be between 0 and 1 (exclusive), got {alpha}")
    from fakescope.bundle import Bundle

    extras = calibrate or ood
    val_part, cal = (val, val.iloc[:0])
    if extras and len(val):
        val_part, cal = split_calibration(val, cal_fraction, seed)
    detector.fit(train, val_part if len(val_part) else None, workdir=workdir)
    if on_trained is not None:
        on_trained(detector)
    bundle = Bundle(detector, data_use=_data_use(train, val_part))
    report = FitReport(bundle)
    if ood:
        bundle.abstainer = _fit_abstainer(detector, train, cal, report, progress)
    if calibrate:
        bundle.calibrator = _fit_calibrator(bundle, cal, alpha, report, progress)
    if bundle.abstainer is not None:
        bundle.data_use += [
            _use("ood reference features", TRAIN, train),
            _use("ood threshold", CALIBRATION, cal),
        ]
    if bundle.calibrator is not None:
        bundle.data_use += [_use("platt calibration", CALIBRATION, cal)]
        if bundle.calibrator.band is not None:
            bundle.data_use += [_use("unsure band", CALIBRATION, cal)]
    return report


def _use(step: str, data: str, rows: pd.DataFrame) -> dict[str, Any]:
    return {"step": step, "data": data, "rows": len(rows)}


def _data_use(train: pd.DataFrame, val_part: pd.DataFrame) -> list[dict[str, Any]]:
    uses = [_use("weights", TRAIN, train)]
    if len(val_part):
        uses += [_use("early stopping / threshold", VAL, val_part)]
    return uses


def _fit_abstainer(
    detector: Detector,
    train: pd.DataFrame,
    cal: pd.DataFrame,
    report: FitReport,
    progress: bool,
) -> Abstainer | None:
    """The default OOD abstainer fit on ``train``, thresholded on ``cal`` (None + a warning on failure)."""
    from fakescope.ood.abstain import Abstainer

    if cal.empty:
        report.warnings.append("no OOD abstainer: the validation split is empty")
        return None
    try:
        ab = Abstainer.fit(detector, train, cal, progress=progress)
    except DataError as exc:
        report.warnings.append(f"no OOD abstainer: {exc}")
        return None
    report.notes.append(
        f"OOD abstainer ({ab.scorer}): threshold {ab.threshold_:.4g} keeps {ab.keep:.0%} of "
        f"the {len(cal)} calibration images"
    )
    return ab


def calibrate_detector(
    detector: Detector,
    val_table: pd.DataFrame,
    *,
    method: str = "platt",
    alpha: float | None = DEFAULT_ALPHA,
    progress: str | None = None,
    abstainer: Abstainer | None = None,
) -> Calibrator:
    """Fit a :class:`Calibrator` for a fitted ``detector`` on calibration rows ``val_table``.

    Scores every image (column ``path``; labels from ``label``, 0 real / 1 fake)
    exactly as verdicts will be scored (:meth:`VerdictModel.score_paths
    <fakescope.inference.verdict.VerdictModel.score_paths>` with the bundle's
    ``abstainer``: the model's logits when that pass gives them); files that
    fail to decode are skipped.
    """
    from fakescope.data.schema import LABEL, PATH
    from fakescope.inference.verdict import VerdictModel

    if len(val_table) == 0:
        raise DataError("cannot calibrate: the calibration split is empty")
    model = VerdictModel(detector, None, abstainer)
    scores, _ = model.score_paths(val_table[PATH].tolist(), progress=progress)
    labels = val_table[LABEL].to_numpy()
    return Calibrator.fit(scores.p_fake, labels, method=method, alpha=alpha, logit=scores.logit)


def _fit_calibrator(
    bundle: Bundle, cal: pd.DataFrame, alpha: float, report: FitReport, progress: bool
) -> Calibrator | None:
    """Platt + band on the ``cal`` rows, scored exactly as verdicts will be (None + a warning)."""
    try:
        cal_model = calibrate_detector(
            bundle.detector,
            cal,
            alpha=alpha,
            abstainer=bundle.abstainer,
            progress="calibrating" if progress else None,
        )
    except DataError as exc:
        report.warnings.append(f"not calibrated: {exc}")
        return None
    report.notes.append(cal_model.describe())
    return cal_model
