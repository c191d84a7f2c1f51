"""One routing rule: scan's class, attribution's class and the verdict never disagree.

A hierarchy whose tree probabilities are fixed by hand (no model) is built so
that the class with the highest path probability differs from the greedy
route (row 0) and from the verdict (rows 1 and 3); every caller must still
give the greedy route, and "real" exactly when the verdict is real.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image

from fakescope.data.schema import Sample, make_table
from fakescope.detectors.base import Prediction
from fakescope.detectors.hierarchy import HierarchyDetector
from fakescope.detectors.hierarchy_tree import TreeProba
from fakescope.eval.attribution import evaluate_attribution
from fakescope.inference.scan import scan_paths

CLASSES = ["real", "d1", "g1", "g2"]
#: True class of each row; with one row per class the confusion counts reveal every prediction.
TRUTH = ["g1", "g2", "real", "d1"]
#: Greedy route below "fake" of each row: family argmax, then generator argmax.
GREEDY = ["g1", "g1", "g1", "d1"]


def fixed_tree() -> TreeProba:
    return TreeProba(
        p_real=np.array([0.1, 0.4, 0.7, 0.45]),
        families=["diffusion", "gan"],
        p_family=np.array([[0.4, 0.6], [0.45, 0.55], [0.3, 0.7], [0.9, 0.1]]),
        generators={"diffusion": ["d1"], "gan": ["g1", "g2"]},
        p_generator={
            "diffusion": np.ones((4, 1)),
            "gan": np.array([[0.55, 0.45], [0.6, 0.4], [0.8, 0.2], [0.3, 0.7]]),
        },
        errors=["", "", "", ""],
    )


class FixedHierarchy(HierarchyDetector):
    """A fitted-looking hierarchy whose per-level probabilities are :func:`fixed_tree`."""

    def tree_proba(
        self,
        paths: Sequence[str | Path],
        *,
        image_fn: Callable[[Image.Image], Image.Image] | None = None,
        progress: str | None = None,
        **options: Any,
    ) -> TreeProba:
        assert len(paths) == 4
        return fixed_tree()


def detector(threshold: float) -> FixedHierarchy:
    det = FixedHierarchy({"node": {"name": "probe"}})
    det.classes_ = list(CLASSES)
    det.family_map_ = {"d1": "diffusion", "g1": "gan", "g2": "gan"}
    det.families_ = {"diffusion": ["d1"], "gan": ["g1", "g2"]}
    det.level3_ = {"gan": "level3-gan"}
    det.threshold_ = threshold
    return det


def test_the_situation_has_disagreeing_argmax_paths() -> None:
    """Guard: the old rule (argmax of path probabilities) differs from the route and the verdict."""
    pred = detector(0.5).predict(["x"] * 4)
    argmax = [CLASSES[int(i)] for i in np.argmax(pred.proba, axis=1)]
    assert argmax == [
        "d1",
        "real",
        "real",
        "d1",
    ]  # row 0: not the greedy g1; row 1: real, p_fake 0.6
    assert pred.fake_class == GREEDY


@pytest.mark.parametrize(
    ("threshold", "expected"),
    [(0.5, ["g1", "g1", "real", "d1"]), (0.65, ["g1", "real", "real", "real"])],
)
def test_scan_attribution_and_verdict_agree(
    threshold: float, expected: list[str], tmp_path: Path
) -> None:
    det = detector(threshold)
    paths = [str(tmp_path / f"{i}.png") for i in range(4)]
    assert det.predict(paths).predicted_class == expected

    scanned = scan_paths(det, paths)
    assert scanned["class"].tolist() == expected
    assert scanned["verdict"].tolist() == ["real" if c == "real" else "fake" for c in expected]

    route = det.route(paths)
    assert route["predicted"].tolist() == expected
    assert route["is_fake"].tolist() == [c != "real" for c in expected]

    samples = [
        Sample(p, int(t != "real"), "" if t == "real" else t, "", "test")
        for p, t in zip(paths, TRUTH, strict=True)
    ]
    result = evaluate_attribution(det, make_table(samples))["end_to_end"]
    got = result.counts.idxmax(axis=1)  # one row per true class: its only prediction
    assert [got[t] for t in TRUTH] == expected
    assert result.accuracy == pytest.approx(np.mean(np.array(expected) == np.array(TRUTH)))


def test_attribution_levels_come_from_the_prediction(tmp_path: Path) -> None:
    paths = [str(tmp_path / f"{i}.png") for i in range(4)]
    samples = [
        Sample(p, int(t != "real"), "" if t == "real" else t, "", "test")
        for p, t in zip(paths, TRUTH, strict=True)
    ]
    results = evaluate_attribution(detector(0.65), make_table(samples))
    assert set(results) == {"end_to_end", "level1", "level2", "level3:gan"}
    # level1 = the verdict at 0.65: fake, real, real, real vs truth fake, fake, real, fake
    assert results["level1"].accuracy == pytest.approx(2 / 4)
    # level2 on the three fakes: gan (ok), gan (ok), diffusion (ok)
    assert results["level2"].n == 3 and results["level2"].accuracy == pytest.approx(1.0)
    # level3:gan on the gan fakes g1, g2: both routed to g1
    assert results["level3:gan"].n == 2 and results["level3:gan"].accuracy == pytest.approx(0.5)


def test_flat_prediction_routes_among_fake_classes() -> None:
    proba = np.array([[0.45, 0.3, 0.25], [0.7, 0.1, 0.2], [np.nan] * 3])
    pred = Prediction(proba, ["", "", "bad"], ["real", "a", "b"], threshold=0.5)
    assert pred.predicted_class == ["a", "real", None]  # row 0: argmax is real, verdict fake
    assert pred.decide(0.6) == ["real", "real", None]
    assert pred.decide(0.25) == ["a", "b", None]
    assert pred.verdict(0.25) == ["fake", "fake", None]
    routed = Prediction(proba, ["", "", "bad"], ["real", "a", "b"], fake_route=np.array([2, 1, 1]))
    assert routed.predicted_class == ["b", "real", None]


def test_hierarchy_levels_mirror_the_tree() -> None:
    levels = fixed_tree().levels()
    assert list(levels) == ["level2", "level3:gan"]
    assert levels["level2"].truth == {"d1": "diffusion", "g1": "gan", "g2": "gan"}
    assert levels["level2"].predicted == ["gan", "gan", "gan", "diffusion"]
    assert levels["level3:gan"].predicted == ["g1", "g1", "g1", "g2"]
