"""The plain-words summary a report opens with: its headline numbers, read off its own tables.

Every number comes from ``Report.metrics`` (clean tier unless it says
otherwise) or ``Report.meta``; nothing is recomputed from scores. Sentences
(plain text, no markup - the renderers escape them), in order:

1. what was trained (detector, protocol, train sources; training-set size only
   when ``meta["n_train"]`` records it) and what it was tested on (images of the
   :data:`~fakescope.eval.metrics.OVERALL` row, number of test generators);
2. the whole-test-split ROC-AUC and accuracy at the chosen threshold (a mean
   over train sources when there are several);
3. seen vs unseen generators: mean ROC-AUC of each, and the weakest unseen
   generator (the weakest generator when every one was seen). "Seen" follows
   the results page's rule: ``meta["seen"][source]``, else all but
   ``meta["held_out"][source]``, else every generator for the ``(all)`` source
   and the source's own generator otherwise;
4. the hardest degradation tier (when the report has degraded tiers);
5. undecodable files (when any) and the extra sections the report holds.

Score direction: higher ROC-AUC / accuracy = better; the weakest generator is
the one with the lowest ROC-AUC.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, Protocol, cast

import numpy as np
import pandas as pd

from fakescope.eval.metrics import (
    ACC_AT_VAL,
    AUC,
    CLEAN,
    GENERATOR,
    N_ERRORS,
    N_FAKE,
    N_REAL,
    OVERALL,
    THRESHOLD,
    TIER,
    TRAIN,
    VALUE,
)

if TYPE_CHECKING:
    from fakescope.eval.sections import Section


class Report(Protocol):
    """What the summary reads of a :class:`fakescope.eval.report.Report` (which imports this
    module, so it is named here by its shape only)."""

    metrics: pd.DataFrame
    meta: dict[str, Any]
    sections: list[Section]

    @property
    def sources(self) -> list[str]:
        """Train sources, in order."""
        ...

    def select(self, tier: str = ..., value: float | None = None) -> pd.DataFrame:
        """Metrics rows of one degradation tier (and tier value)."""
        ...


#: How a threshold's origin (``meta["thresholds"][source]["chosen_on"]``) is said.
THRESHOLD_ORIGIN: dict[str, str] = {
    "val": "the threshold chosen on the validation split",
    "default": "the default threshold",
}


def summary_sentences(report: Report) -> list[str]:
    """The summary of ``report`` as a list of plain-text sentences (see the module docstring)."""
    clean = report.select(CLEAN)
    if clean.empty:
        return ["The report has no clean-image results."]
    out = [_what_ran(report, clean), _headline(report, clean)]
    out += _generalisation(report, clean)
    out += _robustness(report)
    errors = _overall(clean)[N_ERRORS].to_numpy(dtype=float)
    if len(errors) and np.nanmax(errors) > 0:
        out.append(f"{int(np.nanmax(errors)):,} test files failed to decode and are left out.")
    if report.sections:
        out.append("Also in this report: " + ", ".join(s.title for s in report.sections) + ".")
    return out


# ------------------------------------------------------------ sentences
def _what_ran(report: Report, clean: pd.DataFrame) -> str:
    detector = str(report.meta.get("detector") or "the detector")
    protocol = report.meta.get("protocol")
    how = f" with protocol {protocol}" if protocol else ""
    sources = report.sources
    n_train = report.meta.get("n_train")
    if sources == [OVERALL]:
        size = f"{int(n_train):,} images of " if isinstance(n_train, int) else ""
        trained = f"Trained {detector} on {size}the training split{how}"
    elif len(sources) == 1:
        trained = f"Trained {detector} on train source {sources[0]}{how}"
    else:
        each = f"once per train source ({_names(sources)})"
        trained = f"Trained {detector} {_times(len(sources))}{how}, {each}"
    overall = _overall(clean)
    totals = sorted({int(r + f) for r, f in zip(overall[N_REAL], overall[N_FAKE], strict=True)})
    tests = _test_generators(clean)
    of = f" of {len(tests)} generator{'s' if len(tests) != 1 else ''}" if tests else ""
    if not totals:  # no overall rows (e.g. a report of robustness tiers or sections only)
        return f"{trained}."
    if len(totals) == 1:
        row = overall.iloc[0]
        tested = (
            f"tested on {totals[0]:,} images ({int(row[N_REAL]):,} real, "
            f"{int(row[N_FAKE]):,} fake){of}"
        )
    else:
        tested = f"tested on {totals[0]:,} to {totals[-1]:,} images per train source{of}"
    return f"{trained}; {tested}."


def _headline(report: Report, clean: pd.DataFrame) -> str:
    overall = _overall(clean)
    auc = _mean(overall[AUC])
    acc = _mean(overall[ACC_AT_VAL])
    origins = {_origin(report, str(s)) for s in overall[TRAIN]}
    origin = origins.pop() if len(origins) == 1 else "each source's own threshold"
    numbers = [f"ROC-AUC {_f(auc)}"]
    if not math.isnan(acc):
        cut = ""
        thresholds = overall[THRESHOLD].to_numpy(dtype=float)
        if len(report.sources) == 1 and not math.isnan(thresholds[0]):
            cut = f" (P(fake) >= {thresholds[0]:.2f})"
        numbers.append(f"accuracy {acc:.0%} at {origin}{cut}")
    if len(report.sources) == 1:
        return "On the whole test split: " + ", ".join(numbers) + "."
    spread = overall[AUC].to_numpy(dtype=float)
    spread = spread[~np.isnan(spread)]
    rng = f"; ROC-AUC ranges {_f(spread.min())}-{_f(spread.max())}" if len(spread) > 1 else ""
    return (
        f"On the whole test split, mean over the {len(report.sources)} train sources: "
        + ", ".join(numbers)
        + rng
        + "."
    )


def _generalisation(report: Report, clean: pd.DataFrame) -> list[str]:
    rows = clean[clean[GENERATOR] != OVERALL]
    tests = _test_generators(clean)
    seen_auc: list[float] = []
    seen_names: set[str] = set()
    unseen: dict[str, list[float]] = {}
    for source in report.sources:
        seen = seen_generators(report.meta, source, tests)
        for _, row in rows[rows[TRAIN] == source].iterrows():
            value = float(row[AUC])
            if math.isnan(value):
                continue
            if str(row[GENERATOR]) in seen:
                seen_auc.append(value)
                seen_names.add(str(row[GENERATOR]))
            else:
                unseen.setdefault(str(row[GENERATOR]), []).append(value)
    if not unseen:
        per_gen = {
            str(g): _mean(part[AUC])
            for g, part in rows.groupby(GENERATOR)
            if part[AUC].notna().any()
        }
        if len(per_gen) < 2:
            return []
        name = min(per_gen, key=lambda g: per_gen[g])
        weakest = f"{name} (ROC-AUC {_f(per_gen[name])})"
        return [f"Weakest generator: {weakest}; every one was seen in training."]
    out = []
    unseen_all = [v for values in unseen.values() for v in values]
    parts = [f"unseen ones {_f(float(np.mean(unseen_all)))}"]
    if seen_auc:
        which = (
            f"the generator seen in training ({seen_names.pop()})"
            if len(seen_names) == 1
            else "generators seen in training"
        )
        parts.insert(0, f"{which} {_f(float(np.mean(seen_auc)))}")
    out.append("Mean ROC-AUC on " + ", on ".join(parts) + ".")
    means = {g: float(np.mean(v)) for g, v in unseen.items()}
    name = min(means, key=lambda g: means[g])
    over = (
        f", mean over the {len(unseen[name])} train sources that never saw it"
        if len(unseen[name]) > 1
        else ""
    )
    out.append(f"Weakest unseen generator: {name} (ROC-AUC {_f(means[name])}{over}).")
    return out


def _robustness(report: Report) -> list[str]:
    overall = report.metrics[
        (report.metrics[GENERATOR] == OVERALL) & (report.metrics[TIER] != CLEAN)
    ]
    if overall.empty or overall[AUC].isna().all():
        return []
    means: dict[tuple[str, float], float] = {}
    for key, part in overall.groupby([TIER, VALUE], sort=False):
        kind, strength = cast(tuple[str, float], key)
        if part[AUC].notna().any():
            means[(str(kind), float(strength))] = _mean(part[AUC])
    tier, value = min(means, key=lambda k: means[k])
    clean = _mean(_overall(report.select(CLEAN))[AUC])
    than = f", against {_f(clean)} on clean images" if not math.isnan(clean) else ""
    return [
        f"Hardest degradation: {tier} {value:g} "
        f"(ROC-AUC {_f(means[(tier, value)])} on the whole test split{than})."
    ]


# --------------------------------------------------------------- helpers
def seen_generators(meta: dict[str, Any], source: str, tests: Sequence[str]) -> set[str]:
    """Test generators ``source`` saw in training (the rule in the module docstring)."""
    seen, held = meta.get("seen"), meta.get("held_out")
    if isinstance(seen, dict) and isinstance(seen.get(source), list):
        return {str(g) for g in seen[source]}
    if isinstance(held, dict) and isinstance(held.get(source), list):
        return set(tests) - {str(g) for g in held[source]}
    return set(tests) if source == OVERALL else {source}


def _origin(report: Report, source: str) -> str:
    """How the threshold of ``source`` was chosen, in words."""
    thresholds = report.meta.get("thresholds")
    chosen = None
    if isinstance(thresholds, dict) and isinstance(thresholds.get(source), dict):
        chosen = thresholds[source].get("chosen_on")
    chosen = chosen or report.meta.get("threshold_from")
    return THRESHOLD_ORIGIN.get(str(chosen), "the detector's own threshold")


def _overall(clean: pd.DataFrame) -> pd.DataFrame:
    return clean[clean[GENERATOR] == OVERALL]


def _test_generators(clean: pd.DataFrame) -> list[str]:
    return sorted({str(g) for g in clean[GENERATOR]} - {OVERALL})


def _mean(values: pd.Series) -> float:
    arr = values.to_numpy(dtype=float)
    arr = arr[~np.isnan(arr)]
    return float(arr.mean()) if len(arr) else math.nan


def _f(value: float) -> str:
    return "n/a" if math.isnan(value) else f"{value:.2f}"


def _times(n: int) -> str:
    return {1: "once", 2: "twice"}.get(n, f"{n} times")


def _names(items: Sequence[str], limit: int = 4) -> str:
    shown = ", ".join(items[:limit])
    return shown + (f" and {len(items) - limit} more" if len(items) > limit else "")
