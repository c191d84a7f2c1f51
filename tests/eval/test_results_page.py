"""docs/results.md from hand-made report.json / run.json files: exactly those numbers, gaps listed."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import pandas as pd

from fakescope.eval.attribution import attribution_metrics, attribution_section
from fakescope.eval.metrics import (
    ACC_AT_VAL,
    AP,
    AUC,
    CLEAN,
    GENERATOR,
    KEY_COLUMNS,
    METRIC_COLUMNS,
    OVERALL,
    TIER,
    TRAIN,
    VALUE,
)
from fakescope.eval.report import Report
from fakescope.eval.results_page import (
    collect_runs,
    render_page,
    seen_generators,
    write_page,
)
from fakescope.eval.results_plan import ResultsPlan, parse_plan

#: As an old run.json wrote it: with a kernel string the page must not show.
MACHINE = {"cpus": 4, "torch": "9.9.9", "python": "3.11.0", "platform": "TestOS-6.1", "cuda": None}


def report(
    rows: list[tuple[str, str, float, float]],
    meta: dict[str, Any],
    attribution: dict[str, Any] | None = None,
    **tiers: Any,
) -> Report:
    """Clean rows ``(train, generator, roc_auc, ap)`` (acc at val = ap - 0.1) plus tier rows."""
    records = []
    for train, gen, auc, ap in rows:
        row: dict[str, Any] = {c: math.nan for c in METRIC_COLUMNS}
        row.update({TRAIN: train, TIER: CLEAN, VALUE: math.nan, GENERATOR: gen, AUC: auc, AP: ap})
        row[ACC_AT_VAL] = round(ap - 0.1, 6)
        records.append(row)
    for tier, (value, auc) in tiers.items():
        row = {c: math.nan for c in METRIC_COLUMNS}
        row.update({TRAIN: rows[0][0], TIER: tier, VALUE: value, GENERATOR: OVERALL, AUC: auc})
        records.append(row)
    frame = pd.DataFrame(records, columns=[*KEY_COLUMNS, *METRIC_COLUMNS])
    sections = [attribution_section(attribution)] if attribution is not None else []
    return Report(frame, meta, sections=sections)


def save(out: Path, recipe: str, protocol: str, rep: Report | None, **info: Any) -> None:
    """Write ``rep`` (when given) and a run.json with ``info`` into ``out/recipe/protocol``."""
    d = out / recipe / protocol
    if rep is not None:
        rep.write(d, html_report=False)
    d.mkdir(parents=True, exist_ok=True)
    base = {"command": "fakescope results run plan.yaml", "seconds": 12.25, "status": "ok"}
    base |= {"machine": MACHINE, "started": "2025-01-02T03:04:05+00:00", "fakescope_version": "0.1"}
    base |= {"overrides": {"data.root": "/bench/mini"}}
    (d / "run.json").write_text(json.dumps(base | info))


def plan() -> ResultsPlan:
    return parse_plan(
        {
            "title": "My results",
            "benchmark_note": "a tiny hand-made benchmark",
            "protocols": ["single-source"],
            "source": "gan",
            "recipes": {
                "alpha": {"config": "alpha.yaml"},
                "beta": {"config": "beta.yaml"},
                "gamma": {"config": "gamma.yaml"},
                "hier": {"config": "h.yaml", "protocols": ["attribution"]},
                "flat": {"config": "f.yaml", "protocols": ["attribution"]},
            },
        }
    )


def attribution_meta(levels: bool) -> dict[str, Any]:
    true = ["real"] * 10 + ["a"] * 10 + ["b"] * 10
    pred = ["real"] * 8 + ["a", "b"] + ["a"] * 5 + ["b"] * 5 + ["real"] * 2 + ["b"] * 8
    out = {"end_to_end": attribution_metrics(true, pred, ["real", "a", "b"]).to_dict()}
    if levels:
        level1 = attribution_metrics(["real", "fake"] * 5, ["real"] * 10, ["real", "fake"])
        out["level1"] = level1.to_dict()  # accuracy 0.5
        out["level2"] = {**out["end_to_end"], "accuracy": 0.8125}
    return out


def build(out: Path) -> None:
    seen = {"seen": {"gan": ["gan"]}}
    rows = [("gan", "diffusion", 0.7, 0.66), ("gan", "gan", 0.9, 0.95), ("gan", "vae", 0.6, 0.52)]
    save(out, "alpha", "single-source", report([*rows, ("gan", OVERALL, 0.8, 0.71)], seen))
    save(out, "gamma", "single-source", None, status="failed", error="ValueError: boom")
    attr = [("(all)", "a", 0.9, 0.9), ("(all)", "b", 0.8, 0.8)]
    save(out, "hier", "attribution", report(attr, {}, attribution_meta(True), jpeg=(75.0, 0.555)))
    save(out, "flat", "attribution", report(attr, {}, attribution_meta(False)), seconds=3.5)


def test_page_tables_hold_exactly_the_report_numbers(tmp_path: Path) -> None:
    build(tmp_path)
    page = write_page(tmp_path, tmp_path / "docs" / "results.md", plan=plan(), command="cmd X")
    text = page.read_text()
    lines = text.splitlines()
    # ROC-AUC row: tests sorted (diffusion, gan, vae), then (all), then the mean over unseen ones
    assert "| alpha | 0.700 | 0.900* | 0.600 | 0.800 | 0.650 |" in lines
    assert "| alpha | 0.660 | 0.950* | 0.520 | 0.710 | 0.590 |" in lines  # AP
    assert "| alpha | 0.560 | 0.850* | 0.420 | 0.610 | 0.490 |" in lines  # acc at val threshold
    # summary: status, seconds, train sources, mean unseen AUC / AP, AUC on all images
    assert "| alpha | ok | 12.2 | 1 | 0.650 | 0.590 | 0.800 |" in lines
    assert "| beta | missing | - | - | - | - | - |" in lines
    assert "| gamma | failed | 12.2 | - | - | - | - |" in lines
    # attribution: accuracy 21/30, balanced (0.8 + 0.5 + 0.8) / 3, binary 26/30
    assert "| hier | attribution | 0.700 | 0.700 | 0.867 | 3 | 30 | 0.500 | 0.812 |" in lines
    assert "| flat | attribution | 0.700 | 0.700 | 0.867 | 3 | 30 | - | - |" in lines
    assert "| real | 0.800 | 0.100 | 0.100 |" in lines  # row-normalised confusion
    assert "| b | 0.200 | 0.000 | 0.800 |" in lines
    assert text.count("### Confusion:") == 2
    # robustness: only the hierarchy has a degraded tier
    assert "| hier | - | 0.555 |" in lines and "| flat | - | - |" in lines  # no (all) row
    # missing and failed runs are listed with their reason
    missing = text.split("## Missing runs")[1]
    assert "| beta | single-source | missing | never run |" in missing
    assert "| gamma | single-source | failed | ValueError: boom |" in missing
    assert "alpha" not in missing


def test_page_header_states_commands_benchmark_date_machine(tmp_path: Path) -> None:
    build(tmp_path)
    text = render_page(collect_runs(tmp_path, plan()), plan=plan(), command="cmd X")
    assert text.startswith("# My results\n")
    assert "by**: `cmd X`" in text and "`fakescope results run plan.yaml`" in text
    assert "a tiny hand-made benchmark" in text and "- **Data**: `.../mini`" in text
    assert "- **Versions**: fakescope 0.1, torch 9.9.9, Python 3.11.0" in text
    assert "- **Hardware**: 4 CPUs, no GPU" in text and "2025-01-02T03:04:05+00:00" in text
    assert "TestOS" not in text  # no kernel / platform string
    assert "5 planned/found: 3 finished, 1 failed, 0 unfinished, 1 missing" in text


def test_page_without_plan_lists_the_folders_found(tmp_path: Path) -> None:
    build(tmp_path)
    (tmp_path / "zeta" / "all").mkdir(parents=True)
    (tmp_path / "zeta" / "all" / "run.json").write_text('{"status": "running"}')
    text = render_page(collect_runs(tmp_path, None), plan=None, command="c")
    assert text.startswith("# fakescope results")
    assert "never run" not in text  # without a plan nothing is known to be missing
    assert "| zeta | all | running | started but not finished (interrupted?) |" in text
    assert "| gamma | single-source | failed | ValueError: boom |" in text


def test_seen_rule() -> None:
    tests = ["a", "b", "c"]
    assert seen_generators({"seen": {"x": ["a"]}}, "x", tests) == {"a"}
    assert seen_generators({"held_out": {"without f": ["b"]}}, "without f", tests) == {"a", "c"}
    assert seen_generators({}, "b", tests) == {"b"}
    assert seen_generators({}, OVERALL, tests) == set(tests)


def test_unreadable_report_counts_as_failed(tmp_path: Path) -> None:
    d = tmp_path / "alpha" / "single-source"
    d.mkdir(parents=True)
    (d / "report.json").write_text("{broken")
    (record,) = collect_runs(tmp_path, None)
    assert record.status == "failed" and "unreadable report.json" in record.error


def test_page_records_portable_paths_only(tmp_path: Path) -> None:
    """Absolute paths outside the repository (temp folders) never reach the page."""
    runs = tmp_path / "runs"
    typed = f"fakescope results run {tmp_path}/plan.yaml --data {tmp_path}/bench/mini --out={runs}"
    rep = report([("gan", OVERALL, 0.8, 0.7)], {})
    save(runs, "alpha", "single-source", rep, command=typed, data=str(tmp_path / "bench" / "mini"))
    save(runs, "beta", "single-source", rep, overrides={"data.root": str(tmp_path / "b2")})
    here = Path.cwd() / "bench" / "mini"
    page_cmd = f"fakescope results page {runs} --out {here.parent / 'results.md'}"
    text = render_page(collect_runs(runs, plan()), plan=plan(), command=page_cmd)
    assert str(tmp_path) not in text and "/tmp" not in text
    assert "`fakescope results run .../plan.yaml --data .../mini --out=.../runs`" in text
    assert "- **Data**: `.../mini`" in text and "- **Data**: `.../b2`" in text
    assert "`fakescope results page .../runs --out bench/results.md`" in text  # in cwd: relative
    assert str(Path.cwd()) not in text


def test_page_reads_a_format_1_report_with_attribution_in_meta(tmp_path: Path) -> None:
    """report.json files written before sections existed keep their attribution table."""
    rep = report([("(all)", "a", 0.9, 0.9)], {})
    raw = json.loads(rep.to_json())
    raw["format"], raw["meta"]["attribution"] = 1, attribution_meta(True)
    d = tmp_path / "hier" / "attribution"
    d.mkdir(parents=True)
    (d / "report.json").write_text(json.dumps(raw))
    text = render_page(collect_runs(tmp_path, None), plan=None, command="c")
    assert "| hier | attribution | 0.700 | 0.700 | 0.867 | 3 | 30 | 0.500 | 0.812 |" in text
