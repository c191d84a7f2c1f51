"""The ``verdicts`` section: counts of the one decision path per true label, and its round trip."""

from __future__ import annotations

import numpy as np
import pytest

from fakescope.errors import DataError
from fakescope.eval.sections import load_section
from fakescope.eval.verdict_counts import KEY, count_verdicts, verdict_section
from fakescope.inference.decision import error_verdict
from fakescope.inference.types import Verdict


def v(verdict: str, ood: bool = False) -> Verdict:
    return Verdict("x", 0.5, 0.5, verdict, "", None, verdict, "", ood=ood)


def test_counts_cross_verdicts_with_true_labels() -> None:
    verdicts = [
        v("real"),
        v("fake"),
        v("unsure"),
        error_verdict("bad", "boom"),
        v("fake"),
        v("fake"),
        v("unsure", ood=True),
        v("real"),
    ]
    labels = np.array([0, 0, 0, 0, 1, 1, 1, 1])
    d = count_verdicts(verdicts, labels)
    assert d["counts"]["real"] == {"real": 1, "fake": 1, "unsure": 1, "error": 1}
    assert d["counts"]["fake"] == {"real": 1, "fake": 2, "unsure": 1, "error": 0}
    assert d["unsure_rate"] == pytest.approx(2 / 7) and d["ood_rate"] == pytest.approx(1 / 7)
    assert d["decided_accuracy"] == pytest.approx(3 / 5)  # real->real, fake->fake x2 of 5 decided
    with pytest.raises(DataError, match="labels"):
        count_verdicts(verdicts, labels[:3])


def test_section_renders_and_comes_back_from_its_payload() -> None:
    payload = count_verdicts([v("real"), v("unsure")], [0, 1])
    section = verdict_section(payload)
    md = "\n".join(section.markdown())
    assert "| real | 1 | 0 | 0 | 0 |" in md and "| fake | 0 | 0 | 1 | 0 |" in md
    again = load_section(KEY, section.payload())  # registered in SECTIONS
    assert again.markdown() == section.markdown()
    with pytest.raises(DataError, match="verdicts"):
        verdict_section({"counts": {}})
