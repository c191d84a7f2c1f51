"""The results page of a plan with studies: one section per study, audit table, best/highlight."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import numpy as np

from fakescope.eval.report import SCORES_FILE
from fakescope.eval.results_page import collect_runs, render_page
from fakescope.eval.results_plan import PLAN_FILE, ResultsPlan, parse_plan, read_plan_copy
from fakescope.eval.results_sections import (
    AUDIT_TITLE,
    audit_lines,
    bold_best,
    highlight_lines,
)
from tests.eval.test_bootstrap import scores
from tests.eval.test_results_page import report, save

SHORTCUT = "shortcut (header AUC 0.94: container, size)"
AUDIT = {"x": "pass", "y": SHORTCUT}


def study_plan(highlight: str | None = "general") -> ResultsPlan:
    loo = {
        "name": "realgen-loo",
        "protocol": "leave-one-out",
        "data": "realgen",
        "title": "Leave one source out, normalised",
        "note": "Formats made identical first.",
        "set": {"eval.group": "generator", "data.normalize.crop": 176},
    }
    zoo = {"name": "zoo-to-realgen", "protocol": "cross-dataset", "data": "mini"}
    return parse_plan(
        {
            "title": "Real generators",
            "highlight": highlight,
            "datasets": {"realgen": {"note": "real-generator images"}, "mini": {}},
            "protocols": [loo, zoo | {"test_data": "realgen"}, "single-source"],
            "recipes": {
                "general": {"config": "g.yaml", "protocols": ["realgen-loo", "zoo-to-realgen"]},
                "alpha": {"config": "a.yaml"},
                "beta": {"config": "b.yaml"},
            },
        }
    )


def loo_report(unseen_x: float, unseen_y: float) -> Any:
    """A leave-one-out report: each held-out generator scored ``unseen_*``, the seen one 0.99."""
    rows = [
        ("without x", "x", unseen_x, 0.5),
        ("without x", "y", 0.99, 0.5),
        ("without y", "x", 0.99, 0.5),
        ("without y", "y", unseen_y, 0.5),
    ]
    held = {"without x": ["x"], "without y": ["y"]}
    return report(rows, {"held_out": held, "audit": AUDIT})


def zoo_report(auc: float) -> Any:
    rows = [("mini", "x", auc, 0.5), ("mini", "y", auc, 0.5)]
    return report(rows, {"held_out": {"mini": ["x", "y"]}, "audit": AUDIT})


def save_run(out: Path, recipe: str, rep: Any, ids: dict[str, Any]) -> None:
    """``save`` into ``out/recipe/<ids['study']>`` with the run.json identity ``ids``."""
    save(out, recipe, ids["study"], rep)
    path = out / recipe / ids["study"] / "run.json"
    path.write_text(json.dumps(json.loads(path.read_text()) | ids))


def build(out: Path) -> None:
    def ids(study: str, protocol: str, data: str, **extra: Any) -> dict[str, Any]:
        return {
            "study": study,
            "protocol": protocol,
            "dataset": data,
            "data": f".../{data}",
        } | extra

    loo = ids("realgen-loo", "leave-one-out", "realgen")
    zoo = ids("zoo-to-realgen", "cross-dataset", "mini", test_dataset="realgen")
    zoo["test_data"] = ".../realgen"
    for recipe, (ux, uy) in {
        "general": (0.8, 0.9),
        "alpha": (0.7, 0.6),
        "beta": (0.75, 0.75),
    }.items():
        save_run(out, recipe, loo_report(ux, uy), loo)
    save_run(out, "general", zoo_report(0.6), zoo)
    save_run(out, "alpha", zoo_report(0.75), zoo)  # beta: missing
    rows = [("gan", "gan", 0.9, 0.9), ("gan", "vae", 0.65, 0.6)]
    save(out, "alpha", "single-source", report(rows, {}))


def section(text: str, heading: str) -> str:
    """The part of ``text`` from ``heading`` to the next level-2 heading."""
    start = text.index(heading)
    end = text.find("\n## ", start + len(heading))
    return text[start : end if end >= 0 else len(text)]


def test_one_section_per_study_with_heading_data_and_note(tmp_path: Path) -> None:
    build(tmp_path)
    plan = study_plan()
    text = render_page(collect_runs(tmp_path, plan), plan=plan, command="c")
    assert text.count("\n## Study `realgen-loo`") == 1 and text.count("## Study `zoo") == 1
    loo = section(text, "## Study `realgen-loo`: Leave one source out, normalised")
    assert (
        "Protocol `leave-one-out` on dataset `realgen` (`.../realgen`); overrides "
        "`eval.group=generator`, `data.normalize.crop=176`." in loo
    )
    assert "\nFormats made identical first.\n" in loo
    zoo = section(text, "## Study `zoo-to-realgen`\n")
    assert (
        "Protocol `cross-dataset` on dataset `mini` (`.../mini`), tested on dataset `realgen` "
        "(`.../realgen`)." in zoo
    )
    assert "| beta | missing | - | - | - | - | - |" in zoo
    plain = section(text, "## Protocol `single-source`\n")  # a bare protocol keeps its heading
    assert "| alpha | ok | 12.2 | 1 | 0.650 |" in plain and "general" not in plain
    assert "- **Data `realgen`**: `.../realgen` - real-generator images" in text
    assert "- **Data `mini`**: `.../mini`" in text
    assert (
        "- **Studies**: realgen-loo (leave-one-out on realgen), zoo-to-realgen (cross-dataset "
        "on mini -> realgen), single-source" in text
    )
    missing = section(text, "## Missing runs")
    assert "| recipe | study | status | reason |" in missing
    assert "| beta | zoo-to-realgen | missing | never run |" in missing


def test_audit_table_best_in_bold_and_highlight_line(tmp_path: Path) -> None:
    build(tmp_path)
    plan = study_plan()
    text = render_page(collect_runs(tmp_path, plan), plan=plan, command="c")
    loo = section(text, "## Study `realgen-loo`")
    # mean unseen ROC-AUC: general (0.8 + 0.9) / 2, alpha 0.65, beta 0.75; seen 0.99 left out
    assert "| general | ok | 12.2 | 2 | **0.850** | 0.500 |" in loo
    assert "| alpha | ok | 12.2 | 2 | 0.650 | 0.500 |" in loo
    assert "best: general (0.850); general: 0.850 (+0.100 vs the best other recipe)" in loo
    assert f"### {AUDIT_TITLE}" in loo
    assert "| x | pass |" in loo and f"| y | {SHORTCUT} |" in loo
    assert loo.index("### Summary") < loo.index(AUDIT_TITLE) < loo.index("### ROC-AUC")
    zoo = section(text, "## Study `zoo-to-realgen`")
    assert (
        "| alpha | ok | 12.2 | 1 | **0.750** |" in zoo
        and "| general | ok | 12.2 | 1 | 0.600 |" in zoo
    )
    assert "best: alpha (0.750); general: 0.600 (-0.150 vs the best other recipe)" in zoo
    plain = section(text, "## Protocol `single-source`")
    assert "best:" not in plain and AUDIT_TITLE not in plain  # no general, no audit meta
    assert "**" not in plain  # one recipe with a number: nothing to bold
    no_highlight = study_plan(highlight=None)
    text2 = render_page(collect_runs(tmp_path, no_highlight), plan=no_highlight, command="c")
    assert "best:" not in text2 and "**0.850**" in text2


def test_highlight_line_carries_a_paired_bootstrap_interval(tmp_path: Path) -> None:
    build(tmp_path)
    rng = np.random.default_rng(0)
    y = np.repeat([0, 1], 100)
    for recipe, signal in (("general", 2.0), ("beta", 0.2)):  # beta: the best other recipe
        cells = {(f"without {g}", g): (y, y * signal + rng.normal(size=200)) for g in "xy"}
        scores(cells).to_csv(tmp_path / recipe / "realgen-loo" / SCORES_FILE, index=False)
    plan = study_plan()
    loo = section(render_page(collect_runs(tmp_path, plan), plan=plan, command="c"), "## Study `r")
    line = next(t for t in loo.splitlines() if t.startswith("best:"))
    assert line.startswith("best: general (0.850); general: 0.850 (+0.100 vs the best other")
    low, high = (float(v) for v in re.findall(r"CI \[([-+.\d]+), ([-+.\d]+)\]", line)[0])
    assert 0 < low < high and line.endswith("paired bootstrap over 400 test images)")
    (tmp_path / "beta" / "realgen-loo" / SCORES_FILE).unlink()  # no scores: no interval
    loo = section(render_page(collect_runs(tmp_path, plan), plan=plan, command="c"), "## Study `r")
    assert "(+0.100 vs the best other recipe)" in loo


def test_page_from_saved_plan_or_folders_alone(tmp_path: Path) -> None:
    build(tmp_path)
    plan = study_plan()
    (tmp_path / PLAN_FILE).write_text(plan.model_dump_json())
    saved = read_plan_copy(tmp_path)
    expected = render_page(collect_runs(tmp_path, plan), plan=plan, command="c")
    assert render_page(collect_runs(tmp_path, saved), plan=saved, command="c") == expected
    bare = render_page(collect_runs(tmp_path, None), plan=None, command="c")  # run.json only
    assert "## Study `realgen-loo`\n" in bare and "## Protocol `single-source`" in bare
    assert "Protocol `leave-one-out` on dataset `realgen` (`.../realgen`)." in bare
    assert "- **Data `realgen`**: `.../realgen`" in bare and f"| y | {SHORTCUT} |" in bare


def test_section_helpers() -> None:
    nan = float("nan")
    assert bold_best([0.5, 0.9, nan, 0.9]) == ["0.500", "**0.900**", "-", "**0.900**"]
    assert bold_best([0.5, nan]) == ["0.500", "-"]
    assert highlight_lines({"a": 0.9, "g": 0.9}, "g") == [
        "best: a (0.900); g: 0.900 (+0.000 vs the best other recipe)",
        "",
    ]
    assert highlight_lines({"a": 0.9, "g": nan}, "g")[0] == "best: a (0.900); g: no result"
    assert (
        highlight_lines({"g": 0.7}, "g")[0]
        == "best: g (0.700); g: 0.700 (no other recipe to compare)"
    )
    assert highlight_lines({"a": 0.9}, "g") == [] and highlight_lines({"a": 0.9}, None) == []
    lines = audit_lines([{"x": "pass"}, {"x": "FLAGGED: size"}, None, "junk"])
    assert "| x | pass / FLAGGED: size |" in lines and audit_lines([None, {}]) == []


def test_studies_line_lists_recipe_level_studies_too(tmp_path: Path) -> None:
    own = {"name": "indist", "protocol": "single-source", "data": "realgen"}
    plan = parse_plan(
        {
            "title": "t",
            "datasets": {"realgen": {}},
            "protocols": ["leave-one-family-out"],
            "recipes": {
                "alpha": {"config": "a.yaml"},
                "defaults": {"config": "d.yaml", "protocols": [own]},
            },
        }
    )
    text = render_page(collect_runs(tmp_path, plan), plan=plan, command="c")
    assert "- **Studies**: leave-one-family-out, indist (single-source on realgen)" in text
