"""The one real/fake cut and the Verdict's JSON form."""

from __future__ import annotations

import numpy as np

from fakescope.data.schema import FAKE, REAL
from fakescope.inference.types import FAKE as T_FAKE
from fakescope.inference.types import REAL as T_REAL
from fakescope.inference.types import Verdict, cut, fake_mask


def test_names_match_the_sample_table() -> None:
    assert (T_REAL, T_FAKE) == (REAL, FAKE)


def test_cut_is_fake_at_or_above_the_threshold_and_none_for_nan() -> None:
    p = np.array([0.2, 0.5, 0.50001, np.nan, 1.0, 0.0])
    assert cut(p, 0.5) == ["real", "fake", "fake", None, "fake", "real"]
    assert fake_mask(p, 0.5).tolist() == [False, True, True, False, True, False]
    assert cut(p, 1.0)[:3] == ["real", "real", "real"] and fake_mask([0.0], 0.0).tolist() == [True]


def test_verdict_dict_keeps_the_published_columns() -> None:
    v = Verdict("a/b.png", 0.9, 0.8, "unsure", "out of distribution", 3.0, "fake", "", ood=True)
    d = v.to_dict()
    assert d["class"] == "fake" and d["verdict"] == "unsure" and v.ood
    assert set(d) == {
        "path",
        "p_fake",
        "p_fake_raw",
        "verdict",
        "reason",
        "ood_score",
        "class",
        "error",
    }
    assert v.filename == "b.png" and "faces" not in d
