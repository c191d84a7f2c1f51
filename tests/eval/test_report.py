"""Report: tidy table, JSON round trip, Markdown, self-contained HTML, atomic files."""

from __future__ import annotations

import base64
import json
import math
import os
import re
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from fakescope.data.schema import Sample, make_table
from fakescope.errors import DataError
from fakescope.eval.metrics import (
    ACCURACY,
    AP,
    AUC,
    CLEAN,
    GENERATOR,
    KEY_COLUMNS,
    METRIC_COLUMNS,
    N_REAL,
    OVERALL,
    TIER,
    TRAIN,
    VALUE,
    group_metrics,
)
from fakescope.eval.report import P_FAKE, Report
from fakescope.eval.sections import SECTIONS, RawSection, TableSection


def _report(sources: tuple[str, ...] = ("a", "b"), degraded: bool = True) -> Report:
    """A hand-made report: sources x {clean, jpeg=50} x {overall, a, b}; 'b' has no reals (NaN AUC)."""
    table = make_table(
        [Sample("/r0.png", 0, "a"), Sample("/f0.png", 1, "a"), Sample("/f1.png", 1, "b")]
    )
    frames, scores = [], []
    for k, source in enumerate(sources):
        tiers = [(CLEAN, math.nan), ("jpeg", 50.0)] if degraded else [(CLEAN, math.nan)]
        for tier, value in tiers:
            p = np.array([0.2, 0.9 - 0.1 * k, 0.6]) - (0.1 if tier == "jpeg" else 0.0)
            frame = group_metrics(table, p, threshold=0.4)
            frame.insert(0, VALUE, value)
            frame.insert(0, TIER, tier)
            frame.insert(0, TRAIN, source)
            frames.append(frame)
        scores.append(
            pd.DataFrame(
                {
                    TRAIN: source,
                    "path": table["path"],
                    "label": table["label"],
                    GENERATOR: table["generator"],
                    P_FAKE: [0.2, 0.9, 0.6],
                    "error": "",
                }
            )
        )
    metrics = pd.concat(frames, ignore_index=True)
    metrics.loc[metrics[GENERATOR] == "b", AUC] = math.nan  # as if 'b' had only fakes
    return Report(metrics, {"protocol": "cross-generator", "note": "x|y"}, pd.concat(scores))


def test_columns_and_dtypes() -> None:
    frame = _report().to_frame()
    assert list(frame.columns) == [*KEY_COLUMNS, *METRIC_COLUMNS]
    assert frame[N_REAL].dtype == np.int64 and frame[VALUE].dtype == np.float64
    assert len(frame) == 2 * 2 * 3  # sources x tiers x {overall, a, b}


def test_matrix_index_and_columns() -> None:
    report = _report(("a", "b", "c"))
    auc = report.matrix(AUC)
    assert list(auc.index) == ["a", "b", "c"] and list(auc.columns) == ["a", "b"]
    assert auc.shape == (3, 2)
    assert report.matrix(ACCURACY, tier="jpeg", value=50).shape == (3, 2)
    with pytest.raises(DataError, match="unknown metric"):
        report.matrix("f1")


def test_json_round_trip_nan_is_null() -> None:
    report = _report()
    text = report.to_json()
    assert "NaN" not in text
    raw = json.loads(text)
    row = next(r for r in raw["metrics"] if r[GENERATOR] == "b")
    assert row[AUC] is None
    clean_row = next(r for r in raw["metrics"] if r[TIER] == CLEAN)
    assert clean_row[VALUE] is None
    back = Report.from_json(text)
    pd.testing.assert_frame_equal(back.to_frame(), report.to_frame())
    assert back.meta == report.meta


def test_from_json_rejects_other_json() -> None:
    with pytest.raises(DataError, match="not a fakescope report"):
        Report.from_json('{"x": 1}')


def test_markdown_tables() -> None:
    md = _report().to_markdown()
    lines = md.splitlines()
    header = next(
        i for i, line in enumerate(lines) if line.startswith("| train | generator | n_real")
    )
    assert re.fullmatch(r"\| --- (\| --- )+\|", lines[header + 1])
    assert "| train \\ test | a | b |" in md  # the matrix of a multi-source report
    b_row = next(line for line in lines[header:] if line.startswith("| a | b |"))
    assert "| - |" in b_row  # NaN AUC shown as "-"
    assert "- **note**: x|y" in md
    single = _report(("a",), degraded=False).to_markdown()
    assert "train \\ test" not in single and "| generator | n_real |" in single
    assert "Robustness" not in single


def test_html_is_self_contained() -> None:
    page = _report().to_html()
    assert page.startswith("<!DOCTYPE html>")
    uris = re.findall(r'src="(data:image/png;base64,[^"]+)"', page)
    assert len(uris) >= 4 + 2 + 1  # 4 heatmaps, 2 ROC plots, 1 robustness plot
    assert all(base64.b64decode(u.split(",", 1)[1])[:8] == b"\x89PNG\r\n\x1a\n" for u in uris)
    text = re.sub(r"data:image/png;base64,[A-Za-z0-9+/=]+", "DATA", page)
    assert re.findall(r"src\s*=\s*[\"']([^\"']*)", text) == ["DATA"] * len(uris)
    assert not re.search(r"href\s*=|url\(|@import|https?:|<script|<link", text)


def test_html_without_scores_has_no_roc() -> None:
    report = Report.from_json(_report(("a",)).to_json())
    page = report.to_html()
    assert "ROC curves" not in page and "data:image/png;base64," in page  # robustness plot only


def test_write_files(tmp_path: Path) -> None:
    files = _report().write(tmp_path / "out")
    assert set(files) == {"json", "markdown", "html", "scores"}
    assert json.loads(files["json"].read_text())["meta"]["protocol"] == "cross-generator"
    assert pd.read_csv(files["scores"])[P_FAKE].tolist() == [0.2, 0.9, 0.6] * 2
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == [
        "report.html",
        "report.json",
        "report.md",
        "scores.csv",
    ]


def test_write_keeps_old_files_on_failure(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Report files go through fakescope.fileio: a failed rename leaves the old file, no temp."""
    out = tmp_path / "out"
    old = _report().write(out, html_report=False)["json"].read_text()

    def boom(src: str, dst: str) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", boom)
    with pytest.raises(OSError, match="disk full"):
        _report(("c",)).write(out, html_report=False)
    assert (out / "report.json").read_text() == old
    assert sorted(p.name for p in out.iterdir()) == ["report.json", "report.md", "scores.csv"]


def _section(key: str = "toy", value: float = 0.25) -> TableSection:
    frame = pd.DataFrame({"name": ["x|y"], "score": [value]})
    return TableSection(key, f"Toy {key}", {"score": value}, [("Toy table", frame)], note="a note")


def test_sections_render_everywhere_and_round_trip() -> None:
    report = _report(("a",))
    report.add_section(_section())
    md = report.to_markdown()
    assert "## Toy toy" in md and "a note" in md and "| x\\|y | 0.250 |" in md
    assert md.index("## Toy toy") < md.index("## Definitions")
    assert "<h2>Toy toy</h2>" in report.to_html() and "<td>x|y</td>" in report.to_html()
    raw = json.loads(report.to_json())
    assert raw["toy"] == {"score": 0.25} and raw["format"] == 2 and "toy" not in raw["meta"]
    back = Report.from_json(report.to_json())  # no loader registered: kept as raw JSON
    assert isinstance(back.sections[0], RawSection) and back.sections[0].payload() == raw["toy"]
    assert '"score": 0.25' in back.to_markdown()
    SECTIONS.register("toy")(lambda payload: _section(value=payload["score"]))
    try:
        loaded = Report.from_json(report.to_json()).section("toy")
        assert isinstance(loaded, TableSection) and loaded.markdown() == _section().markdown()
    finally:
        SECTIONS.unregister("toy")


def test_section_keys_are_unique_and_not_reserved() -> None:
    report = _report(("a",))
    report.add_section(_section())
    with pytest.raises(DataError, match=r"\['toy'\] are duplicated or reserved"):
        report.add_section(_section())
    with pytest.raises(DataError, match="reserved"):
        report.add_section(_section("meta"))
    both = Report.concat(
        [_report(("a",)), Report(_report(("b",)).metrics, sections=[_section("o")])]
    )
    assert [s.key for s in both.sections] == ["o"]


def test_missing_columns_are_rejected() -> None:
    with pytest.raises(DataError, match="needs column"):
        Report(pd.DataFrame({TRAIN: ["a"], GENERATOR: [OVERALL]}))


def test_concat_and_tiers() -> None:
    a, b = _report(("a",)), _report(("b",))
    both = Report.concat([a, b], meta={"k": 1})
    assert both.sources == ["a", "b"] and both.meta == {"k": 1}
    assert len(both.to_frame()) == len(a.to_frame()) + len(b.to_frame())
    assert both.scores is not None and len(both.scores) == 6
    assert [t for t, _ in both.tiers] == [CLEAN, "jpeg"]
    assert both.select("jpeg", 50)[AP].notna().any()


class _Tags(HTMLParser):
    """Start tags inside <body>, in order, as ``(tag, attrs, depth)``; text inside <details>."""

    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict[str, str | None], int]] = []
        self.depth, self.in_body, self.details, self.details_text = 0, False, 0, ""

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "body":
            self.in_body = True
            return
        if self.in_body:
            self.tags.append((tag, dict(attrs), self.depth))
            self.depth += tag not in ("img", "br", "meta")
            self.details += tag == "details"

    def handle_endtag(self, tag: str) -> None:
        if self.in_body and tag != "body":
            self.depth -= 1
            self.details -= tag == "details"

    def handle_data(self, data: str) -> None:
        if self.details:
            self.details_text += data


def test_html_opens_with_the_summary_and_folds_the_params() -> None:
    report = _report()
    report.meta |= {"params": {"arch": "resnet18", "lr": 0.0005}, "thresholds": {"a": 0.4}}
    page = report.to_html()
    tags = _Tags()
    tags.feed(page)
    first = [(t, a) for t, a, depth in tags.tags if depth == 0]
    assert first[0] == ("section", {"id": "summary"})  # the first thing on the page
    assert first[1][0] == "details"  # then the raw parameters, folded
    summary = page[page.index("<section id='summary'>") : page.index("</section>")]
    assert "Trained the detector twice" in summary and "ROC-AUC" in summary
    assert "resnet18" not in summary and "{" not in summary  # no raw JSON up top
    assert '"arch": "resnet18"' in tags.details_text and '"lr": 0.0005' in tags.details_text
    assert page.count("resnet18") == 1  # params are shown only inside <details>
    md = report.to_markdown()
    assert md.index("## Summary") < md.index("<details>") < md.index("**params**")
    assert md.index("**params**") < md.index("</details>") < md.index("## roc_auc")


def test_written_reports_have_no_absolute_paths(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    out = tmp_path / "runs" / "eval"
    report = _report()
    report.meta |= {
        "bundle": str(tmp_path / "models" / "cnn"),  # under the cwd
        "params": {"cache_dir": "/root/.cache/fakescope", "data": "/home/ann/bench/mini"},
        "workdir": str(out / "work"),  # under the output folder
        "note": f"embeddings cached in /tmp/emb-cache/x.sqlite; see {out}/report.md",
    }
    section = _section()
    section.note = f"read from {tmp_path}/models/cnn/calibration.json"
    section.data = {"file": "/home/ann/cal.json", "n/a": "TPR/FPR"}
    report.add_section(section)
    files = report.write(out)
    for kind in ("json", "markdown", "html"):
        text = files[kind].read_text()
        for bad in (str(tmp_path), "/home", "/tmp", "/root", "/work"):
            assert bad not in text, (kind, bad)
    meta = json.loads(files["json"].read_text())["meta"]
    assert meta["bundle"] == "models/cnn" and meta["workdir"] == "work"
    assert meta["params"] == {"cache_dir": "fakescope", "data": "mini"}
    assert meta["note"] == "embeddings cached in x.sqlite; see report.md"
    raw = json.loads(files["json"].read_text())
    assert raw["toy"] == {"file": "cal.json", "n/a": "TPR/FPR"}
    page = files["html"].read_text()
    assert "read from models/cnn/calibration.json" in page
    uris = re.findall(r'src="data:image/png;base64,([^"]+)"', page)
    assert uris and all(base64.b64decode(u)[:4] == b"\x89PNG" for u in uris)
