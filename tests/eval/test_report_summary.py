"""The report's plain-words summary: the right numbers, read off hand-made metrics tables."""

from __future__ import annotations

import math

import pandas as pd

from fakescope.eval.metrics import (
    ACC_AT_VAL,
    AUC,
    CLEAN,
    GENERATOR,
    KEY_COLUMNS,
    METRIC_COLUMNS,
    N_ERRORS,
    N_FAKE,
    N_REAL,
    OVERALL,
    THRESHOLD,
    TIER,
    TRAIN,
    VALUE,
)
from fakescope.eval.report import Report
from fakescope.eval.report_summary import summary_sentences

#: Clean ROC-AUC per (train source, tested generator); "(all)" = the whole test split.
CROSS = {
    "gan": {"gan": 0.99, "vae": 0.70, "upsampler": 0.52, OVERALL: 0.74},
    "vae": {"gan": 0.80, "vae": 0.95, "upsampler": 0.48, OVERALL: 0.71},
    "upsampler": {"gan": 0.60, "vae": 0.66, "upsampler": 0.58, OVERALL: 0.61},
}


def _row(
    train: str, gen: str, auc: float, *, tier: str = CLEAN, value: float = math.nan
) -> dict[str, object]:
    row: dict[str, object] = dict.fromkeys(METRIC_COLUMNS, math.nan)
    n = 300 if gen == OVERALL else 100
    row |= {TRAIN: train, TIER: tier, VALUE: value, GENERATOR: gen, N_REAL: n, N_FAKE: n}
    row |= {N_ERRORS: 0, AUC: auc, ACC_AT_VAL: auc - 0.1, THRESHOLD: 0.625}
    return row


def _cross_report() -> Report:
    rows = [_row(s, g, v) for s, gens in CROSS.items() for g, v in gens.items()]
    meta: dict[str, object] = {"detector": "cnn", "protocol": "cross-generator"}
    meta["thresholds"] = {s: {"value": 0.625, "chosen_on": "val"} for s in CROSS}
    return Report(pd.DataFrame(rows)[[*KEY_COLUMNS, *METRIC_COLUMNS]], meta)


def test_cross_generator_summary_names_the_weakest_unseen_generator() -> None:
    text = " ".join(summary_sentences(_cross_report()))
    assert "Trained cnn 3 times with protocol cross-generator" in text
    assert "tested on 600 images (300 real, 300 fake) of 3 generators" in text
    # whole split: mean of 0.74, 0.71, 0.61; accuracy = AUC - 0.1 in this table
    assert (
        "ROC-AUC 0.69" in text and "accuracy 59% at the threshold chosen on the validation" in text
    )
    assert "ranges 0.61-0.74" in text
    # seen = the diagonal (0.99, 0.95, 0.58); unseen = the other six cells
    assert "seen in training 0.84, on unseen ones 0.63" in text
    # unseen means: gan (0.80+0.60)/2 = 0.70, vae (0.70+0.66)/2 = 0.68, upsampler (0.52+0.48)/2
    assert "Weakest unseen generator: upsampler (ROC-AUC 0.50, mean over the 2 train" in text


def test_held_out_meta_decides_what_is_unseen() -> None:
    report = _cross_report()
    report.meta["held_out"] = {s: ["vae"] for s in CROSS}  # every source "never saw" vae only
    text = " ".join(summary_sentences(report))
    assert "Weakest unseen generator: vae (ROC-AUC 0.77, mean over the 3 train" in text


def test_single_run_summary_gives_threshold_degradation_and_sections() -> None:
    rows = [_row(OVERALL, g, v) for g, v in {"gan": 0.97, "vae": 0.88, OVERALL: 0.93}.items()]
    rows += [_row(OVERALL, OVERALL, v, tier="jpeg", value=q) for q, v in ((90, 0.9), (50, 0.8))]
    rows[2][N_ERRORS] = 4
    meta = {"detector": "probe", "protocol": "all", "n_train": 1200, "threshold_from": "default"}
    report = Report(pd.DataFrame(rows), meta)
    text = " ".join(summary_sentences(report))
    assert "Trained probe on 1,200 images of the training split with protocol all" in text
    assert "On the whole test split: ROC-AUC 0.93, accuracy 83% at the default threshold" in text
    assert "(P(fake) >= 0.62)" in text
    assert "Weakest generator: vae (ROC-AUC 0.88); every one was seen" in text
    assert (
        "Hardest degradation: jpeg 50 (ROC-AUC 0.80 on the whole test split, against 0.93" in text
    )
    assert "4 test files failed to decode" in text
