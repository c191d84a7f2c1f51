"""docs/ood.md is rendered from a benchmark's report.json, whichever layout it has."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from fakescope.errors import FakescopeError
from fakescope.ood.page import read_report, summary, write_page

ROWS = [
    {
        "scorer": "knn",
        "ood_set": "tinyimagenet",
        "auroc": 0.9,
        "aupr_in": 0.8,
        "aupr_out": 0.7,
        "fpr95": 0.3,
    },
    {
        "scorer": "knn",
        "ood_set": "mnist",
        "auroc": 0.96,
        "aupr_in": 0.9,
        "aupr_out": 0.9,
        "fpr95": 0.1,
    },
    {
        "scorer": "knn",
        "ood_set": "fashion-mnist",
        "auroc": 0.9,
        "aupr_in": 0.9,
        "aupr_out": 0.9,
        "fpr95": 0.2,
    },
    {
        "scorer": "msp",
        "ood_set": "tinyimagenet",
        "auroc": 0.6,
        "aupr_in": 0.6,
        "aupr_out": 0.5,
        "fpr95": 0.9,
    },
    {
        "scorer": "msp",
        "ood_set": "mnist",
        "auroc": 0.7,
        "aupr_in": 0.7,
        "aupr_out": 0.6,
        "fpr95": 0.8,
    },
    {
        "scorer": "msp",
        "ood_set": "fashion-mnist",
        "auroc": 0.5,
        "aupr_in": 0.5,
        "aupr_out": 0.5,
        "fpr95": 0.9,
    },
]
META = {"id_source": "data/cifar.zip", "ood_sets": {"mnist": "m"}, "preset": "small", "seed": 0}


def test_summary_averages_near_and_far_sets() -> None:
    table = summary(ROWS).set_index("scorer")
    assert table.loc["knn", "near AUROC %"] == pytest.approx(90.0)
    assert table.loc["knn", "far AUROC %"] == pytest.approx(93.0)
    assert table.loc["msp", "far AUROC %"] == pytest.approx(60.0)
    assert list(table.index) == ["knn", "msp"]  # best near-OOD scorer first
    assert table.loc["knn", "OpenOOD near / far"] == "90.6 / 93.0"


@pytest.mark.parametrize("nested", [True, False])
def test_page_from_either_layout(tmp_path: Path, nested: bool) -> None:
    report = (
        {"ood": {"rows": ROWS, "id_accuracy": 0.7, "meta": META}}
        if nested
        else {"ood": ROWS, "id_accuracy": 0.7, "meta": META}
    )
    (tmp_path / "run").mkdir()
    (tmp_path / "run" / "report.json").write_text(json.dumps(report))
    assert read_report(tmp_path / "run")["id_accuracy"] == 0.7
    page = write_page(tmp_path / "run", tmp_path / "ood.md").read_text()
    assert "| knn | 90.0 | 93.0 | 90.6 / 93.0 |" in page
    assert "--id data/cifar.zip" in page and "--ood mnist=m" in page
    assert str(tmp_path) not in page  # no machine-specific path
    assert "ID accuracy 70.0%" in page


def test_missing_report_is_a_one_line_error(tmp_path: Path) -> None:
    with pytest.raises(FakescopeError, match="fakescope ood benchmark"):
        read_report(tmp_path)


def _run_folder(tmp_path: Path, meta: dict[str, object]) -> Path:
    run = tmp_path / "runs" / "ood-x"
    run.mkdir(parents=True)
    (run / "report.json").write_text(json.dumps({"ood": ROWS, "id_accuracy": 0.7, "meta": meta}))
    return run


def test_page_records_the_command_that_wrote_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    run = _run_folder(tmp_path, META)
    page = write_page(run, Path("docs/ood-full.md")).read_text()
    assert "fakescope ood page runs/ood-x --page docs/ood-full.md\n" in page
    assert "--page docs/ood.md" not in page
    assert "\\\n    --out runs/ood-x \\\n    --preset small \\\n    --no-synthetic\n" in page
    # written by 'ood benchmark --page' (absolute paths as the CLI may get them): one command
    written = write_page(run, tmp_path / "docs" / "ood.md", by_benchmark=True)
    text = written.read_text()
    assert "    --no-synthetic \\\n    --page docs/ood.md\n```" in text
    assert "fakescope ood page" not in text.split("```")[1] and str(tmp_path) not in text


def test_page_records_a_seed_and_explains_the_trained_scorer(tmp_path: Path) -> None:
    meta = META | {
        "seed": 3,
        "ood_sets": {"mnist": "m", "synthetic": "made from ID test images"},
        "trained_scorers": {"abnormality": {"n_id": 2000, "n_outliers": 2000}},
    }
    text = write_page(_run_folder(tmp_path, meta), tmp_path / "ood.md").read_text()
    assert "--seed 3" in text and "--no-synthetic" not in text
    note = next(line for line in text.splitlines() if line.startswith("- `abnormality`"))
    assert "2000 ID training images" in note and "not an unseen-OOD result" in note
    plain = write_page(_run_folder(tmp_path / "b", META), tmp_path / "b.md").read_text()
    assert "--seed" not in plain and "`abnormality`" not in plain
