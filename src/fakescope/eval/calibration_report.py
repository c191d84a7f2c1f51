"""The ``calibration`` report section: ECE and a reliability diagram, raw vs calibrated P(fake).

``fakescope eval --model B`` adds it when bundle ``B`` has a ``calibration.json``
(:class:`~fakescope.inference.calibration.Calibrator`, fitted on the bundle's
validation split, never on the test images scored here). Both rows are computed
by :mod:`fakescope.eval.calibration` on the same clean-tier test scores:

* ``raw``: the detector's own P(fake) (``p_fake_raw``);
* ``calibrated``: the calibrator's map of it (the ``p_fake`` users see).

Higher P(fake) = more likely fake; ECE uses :data:`~fakescope.eval.calibration.N_BINS`
equal-width bins (lower = better calibrated). Files that failed (NaN score) are left out.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from fakescope.eval.calibration import N_BINS, reliability, reliability_figure
from fakescope.eval.plots import to_png
from fakescope.eval.sections import TableSection

if TYPE_CHECKING:
    from fakescope.inference.calibration import Calibrator

#: Top-level ``report.json`` key of the section.
KEY = "calibration"
#: The reliability diagram written next to the report.
RELIABILITY_PNG = "reliability.png"


def calibration_section(
    y_true: np.ndarray,
    p_raw: np.ndarray,
    calibrator: Calibrator,
    *,
    n_bins: int = N_BINS,
) -> tuple[TableSection, bytes]:
    """The section and its reliability-diagram PNG for test labels ``y_true`` [N] in {0, 1}
    (1 = fake) and raw detector scores ``p_raw`` [N] (NaN = failed file)."""
    y = np.asarray(y_true).astype(np.int64).ravel()
    raw = np.asarray(p_raw, dtype=np.float64).ravel()
    cal = calibrator.transform(raw)
    curves = {"raw": reliability(y, raw, n_bins), "calibrated": reliability(y, cal, n_bins)}
    n = int((~np.isnan(raw)).sum())
    table = pd.DataFrame(
        {
            "p_fake": list(curves),
            "ece": [c.ece for c in curves.values()],
            "n_test": [n, n],
        }
    )
    png = to_png(reliability_figure(curves, title=f"Reliability ({calibrator.method})"))
    data = {
        "method": calibrator.method,
        "n_val": calibrator.n_val,
        "n_bins": n_bins,
        "n_test": n,
        "ece_raw": curves["raw"].ece,
        "ece_calibrated": curves["calibrated"].ece,
        "reliability": {name: c.to_dict() for name, c in curves.items()},
        "figure": RELIABILITY_PNG,
    }
    note = (
        f"{calibrator.method} calibration fitted on {calibrator.n_val} validation images; "
        f"expected calibration error of P(fake) on the {n} test images, {n_bins} equal-width "
        f"bins (lower = better). Reliability diagram: {RELIABILITY_PNG}."
    )
    section = TableSection(
        key=KEY,
        title="Calibration",
        data=data,
        tables=[(f"ECE ({n_bins} bins)", table)],
        note=note,
        plots=[("reliability diagram", png)],
    )
    return section, png
