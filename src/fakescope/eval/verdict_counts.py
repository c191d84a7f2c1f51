"""The ``verdicts`` report section: what the verdict function says on the test split.

``fakescope eval --model B`` adds it when bundle ``B`` has a calibration
(unsure band) or an OOD abstainer: every test image goes through the same
decision path as ``scan`` / ``check`` / the server
(:func:`fakescope.inference.decision.decide`), and the section counts verdicts
(real / fake / unsure / error) per true label (0 real, 1 fake), with:

* ``unsure_rate``: share of scored images called "unsure" (by the band or OOD);
* ``ood_rate``: share of scored images the abstainer flagged as out of distribution;
* ``decided_accuracy``: accuracy on the images that got "real" or "fake".

The metrics table of the report scores raw P(fake); this section is the only
place where evaluation sees the unsure verdicts users see.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from fakescope.errors import DataError
from fakescope.eval.sections import SECTIONS, TableSection

if TYPE_CHECKING:
    from fakescope.inference.types import Verdict

#: Top-level ``report.json`` key of the section.
KEY = "verdicts"
#: Columns of the counts table, in order ("error" = the file could not be scored).
OUTCOMES = ("real", "fake", "unsure", "error")
TRUTH = ("real", "fake")


def count_verdicts(
    verdicts: Sequence[Verdict], labels: Sequence[int] | np.ndarray
) -> dict[str, Any]:
    """The section payload from verdicts [N] and true labels [N] (0 real, 1 fake)."""
    y = np.asarray(labels).astype(int).ravel()
    if len(y) != len(verdicts):
        raise DataError(f"{len(verdicts)} verdicts for {len(y)} labels")
    counts = {t: dict.fromkeys(OUTCOMES, 0) for t in TRUTH}
    n_ood = 0
    for v, label in zip(verdicts, y, strict=True):
        outcome = v.verdict if v.verdict is not None else "error"
        counts[TRUTH[label]][outcome] += 1
        n_ood += int(v.ood)
    scored = sum(counts[t][o] for t in TRUTH for o in OUTCOMES[:3])
    unsure = counts["real"]["unsure"] + counts["fake"]["unsure"]
    right = counts["real"]["real"] + counts["fake"]["fake"]
    decided = scored - unsure
    return {
        "counts": counts,
        "n": len(y),
        "unsure_rate": unsure / scored if scored else None,
        "ood_rate": n_ood / scored if scored else None,
        "decided_accuracy": right / decided if decided else None,
    }


def _rate(value: Any) -> float:
    return float("nan") if value is None else float(value)


@SECTIONS.register(KEY)
def verdict_section(payload: Mapping[str, Any]) -> TableSection:
    """The section of a :func:`count_verdicts` payload (also how ``Report.from_json`` rebuilds it)."""
    try:
        counts = payload["counts"]
        frame = pd.DataFrame(
            {"true label": list(TRUTH), **{o: [int(counts[t][o]) for t in TRUTH] for o in OUTCOMES}}
        )
        rates = pd.DataFrame(
            {
                "unsure rate": [_rate(payload["unsure_rate"])],
                "ood rate": [_rate(payload["ood_rate"])],
                "accuracy when decided": [_rate(payload["decided_accuracy"])],
            }
        )
    except (KeyError, TypeError, ValueError) as exc:
        raise DataError(
            f"not a verdicts section ({exc}); re-run 'fakescope eval --model'"
        ) from None
    return TableSection(
        key=KEY,
        title="Verdicts (real / fake / unsure)",
        data=dict(payload),
        tables=[("verdict x true label (test images)", frame), ("rates", rates)],
        note=(
            "What scan, check and the server say for each test image: the bundle's threshold, "
            "calibration, conformal unsure band and OOD abstainer together. Rates are over the "
            "scored images; accuracy counts only images called real or fake."
        ),
    )
