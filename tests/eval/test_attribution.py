"""Attribution metrics (hand-computed), evaluate_attribution and the ``attribution`` protocol."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from fakescope.data.schema import Sample, make_table
from fakescope.detectors.catalog import DETECTORS
from fakescope.detectors.hierarchy import HierarchyDetector
from fakescope.errors import ConfigError, DataError
from fakescope.eval.attribution import (
    AttributionResult,
    attribution_metrics,
    evaluate_attribution,
)
from fakescope.eval.catalog import PROTOCOLS, run_protocol
from fakescope.eval.metrics import GENERATOR
from fakescope.eval.report import Report
from tests.conftest import write_image
from tests.detectors.test_hierarchy import PROBE, hierarchy_table

TRUE = ["real", "real", "real", "a", "a", "b"]
PRED = ["real", "a", "real", "a", "b", "b"]


def test_metrics_by_hand() -> None:
    r = attribution_metrics(TRUE, PRED, ["real", "a", "b"])
    assert r.counts.to_numpy().tolist() == [[2, 1, 0], [0, 1, 1], [0, 0, 1]]
    assert list(r.counts.index) == list(r.counts.columns) == ["real", "a", "b"]
    assert r.accuracy == pytest.approx(4 / 6)
    assert r.per_class_tpr == pytest.approx({"real": 2 / 3, "a": 1 / 2, "b": 1.0})
    assert r.balanced_accuracy == pytest.approx((2 / 3 + 1 / 2 + 1) / 3)
    assert r.binary_accuracy == pytest.approx(5 / 6)  # only real -> a is a binary mistake
    np.testing.assert_allclose(
        r.confusion().to_numpy(), np.array([[2 / 3, 1 / 3, 0], [0, 0.5, 0.5], [0, 0, 1]])
    )
    assert r.n == 6


def test_metrics_edge_cases() -> None:
    r = attribution_metrics(["a", "a"], ["a", "c"], ["a", "c", "d"])
    assert math.isnan(r.per_class_tpr["d"]) and r.balanced_accuracy == pytest.approx(0.5)
    assert math.isnan(r.binary_accuracy)  # no real class: nothing to collapse
    assert np.isnan(r.confusion().loc["d"]).all()
    empty = attribution_metrics([], [], ["real", "a"])
    assert math.isnan(empty.accuracy) and empty.n == 0
    with pytest.raises(DataError, match=r"classes \['z'\] are not among"):
        attribution_metrics(["a"], ["z"], ["a", "b"])
    with pytest.raises(DataError, match="2 true but 1 predicted"):
        attribution_metrics(["a", "a"], ["a"], ["a"])


def test_dict_round_trip_is_strict_json() -> None:
    r = attribution_metrics(["a", "a"], ["a", "c"], ["real", "a", "c"], n_errors=2, n_unseen=1)
    text = json.dumps(r.to_dict(), allow_nan=False)
    back = AttributionResult.from_dict(json.loads(text))
    assert back.counts.equals(r.counts) and back.classes == r.classes
    assert back.accuracy == r.accuracy and (back.n_errors, back.n_unseen) == (2, 1)
    assert math.isnan(back.per_class_tpr["real"])
    with pytest.raises(DataError, match="not an attribution result"):
        AttributionResult.from_dict({"classes": ["a"]})


@pytest.fixture(scope="module")
def table(tmp_path_factory: pytest.TempPathFactory) -> pd.DataFrame:
    """The tiny hierarchy data (g_a, g_b: gan; d_a: diffusion), plus an unseen test generator."""
    root = tmp_path_factory.mktemp("attr-data")
    unseen = write_image(root / "unseen.png", 999, size=16, fake=True, fmt="PNG")
    extra = make_table([Sample(str(unseen), 1, "new_gan", "gan", "test")])
    return pd.concat([hierarchy_table(root), extra], ignore_index=True)


@pytest.fixture(scope="module")
def tree(table: pd.DataFrame) -> HierarchyDetector:
    det = HierarchyDetector({"node": PROBE, "num_workers": 0})
    return det.fit(table[table.split == "train"], table[table.split == "val"])


def test_evaluate_attribution_of_a_hierarchy(tree: HierarchyDetector, table: pd.DataFrame) -> None:
    test = table[table.split == "test"].reset_index(drop=True)
    results = evaluate_attribution(tree, test)
    assert set(results) == {"end_to_end", "level1", "level2", "level3:gan"}  # d_a is alone
    route = tree.route(test["path"].tolist())
    e2e = results["end_to_end"]
    assert e2e.classes == ["real", "d_a", "g_a", "g_b"] and e2e.n_unseen == 1
    assert e2e.n == len(test) - 1
    known = (test[GENERATOR] != "new_gan").to_numpy()
    truth = np.where(test["label"] == 1, test[GENERATOR], "real")[known]
    assert e2e.accuracy == pytest.approx(np.mean(route["predicted"].to_numpy()[known] == truth))
    level1 = results["level1"]
    assert level1.n == len(test) and level1.n_unseen == 0  # the unseen fake is still real/fake
    assert level1.accuracy == pytest.approx(np.mean(route["is_fake"].to_numpy() == test["label"]))
    verdict = tree.predict(test["path"].tolist()).p_fake >= tree.threshold_
    np.testing.assert_array_equal(route["is_fake"].to_numpy(dtype=bool), verdict)  # one rule
    assert results["level2"].classes == ["diffusion", "gan"] and results["level2"].n == 3
    assert results["level3:gan"].classes == ["g_a", "g_b"] and results["level3:gan"].n == 2


def test_evaluate_attribution_counts_failed_files(
    tree: HierarchyDetector, table: pd.DataFrame, tmp_path: Path
) -> None:
    broken = tmp_path / "broken.png"
    broken.write_bytes(b"nope")
    test = table[table.split == "test"].iloc[:3]
    test = pd.concat([test, make_table([Sample(str(broken), 1, "g_a", "gan", "test")])])
    results = evaluate_attribution(tree, test)
    assert results["end_to_end"].n_errors == 1 and results["end_to_end"].n == 3
    assert results["level1"].n_errors == 1 and results["level3:gan"].n_errors == 1


def test_evaluate_attribution_of_a_flat_detector(table: pd.DataFrame) -> None:
    params = {**PROBE["params"], "target": "generator", "num_workers": 0}
    det = DETECTORS.get("probe")(params).fit(table[table.split == "train"])
    test = table[table.split == "test"]
    results = evaluate_attribution(det, test)
    assert list(results) == ["end_to_end"]
    pred = det.predict(test["path"].tolist()).predicted_class
    truth = np.where(test["label"] == 1, test[GENERATOR], "real")
    known = truth != "new_gan"
    assert results["end_to_end"].accuracy == pytest.approx(
        np.mean(np.asarray(pred, dtype=object)[known] == truth[known])
    )


def test_attribution_protocol(table: pd.DataFrame, tmp_path: Path) -> None:
    assert "attribution" in PROTOCOLS
    report = run_protocol(
        "attribution",
        table,
        lambda: HierarchyDetector({"node": PROBE, "num_workers": 0}),
        workdir=tmp_path,
    )
    section = report.section("attribution")
    assert section is not None and "attribution" not in report.meta
    attribution = section.payload()
    assert set(attribution) == {"end_to_end", "level1", "level2", "level3:gan"}
    assert set(json.loads(report.to_json())["attribution"]) == set(attribution)
    assert report.meta["protocol"] == "attribution"
    assert {"g_a", "g_b", "d_a", "new_gan"} <= set(report.to_frame()[GENERATOR])  # binary report
    for text in (report.to_markdown(), Report.from_json(report.to_json()).to_markdown()):
        assert "## Attribution (multi-class" in text
        assert "| end_to_end |" in text and "| level3:gan |" in text
        assert "### Attribution confusion, end to end" in text
        assert '"end_to_end"' not in text  # not dumped as a meta line
    page = report.to_html()
    assert "Attribution confusion" in page and "<td>level2</td>" in page


def test_attribution_protocol_needs_an_attributing_detector(table: pd.DataFrame) -> None:
    params = {**PROBE["params"], "num_workers": 0}
    with pytest.raises(ConfigError, match="attribution needs target=generator or the hierarchy"):
        run_protocol("attribution", table, lambda: DETECTORS.get("probe")(params))
