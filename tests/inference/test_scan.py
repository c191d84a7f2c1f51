"""Library side of scanning: path collection, results table, atomic CSV/JSONL writing."""

from __future__ import annotations

import json
import math
import threading
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from fakescope.errors import ConfigError, DataError
from fakescope.inference.scan import (
    check_threshold,
    collect_paths,
    output_format,
    scan_paths,
    summarize,
    write_results,
)
from tests.cli.tiny_detector import (
    TinyDetector,
    tiny_registered,  # noqa: F401 - autouse fixture
)
from tests.conftest import write_image


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    root = tmp_path / "tree"
    write_image(root / "a.jpg", 1)
    write_image(root / "sub" / "b.PNG", 2, fmt="PNG")
    write_image(root / "sub" / "deeper" / "c.webp", 3, fmt="WEBP")
    (root / "sub" / "notes.txt").write_text("x")
    write_image(root / ".cache" / "d.jpg", 4)  # hidden folder: skipped
    return root


def test_hidden_files_are_skipped(tree: Path) -> None:
    write_image(tree / ".hidden.jpg", 5)
    write_image(tree / "._a.jpg", 6)  # macOS resource-fork shadow
    assert names(collect_paths([tree]), tree) == ["a.jpg", "sub/b.PNG", "sub/deeper/c.webp"]


def names(paths: list[Path], root: Path) -> list[str]:
    return [p.relative_to(root).as_posix() for p in paths]


def test_folders_are_walked_recursively_for_images(tree: Path) -> None:
    found = collect_paths([tree])
    assert names(found, tree) == ["a.jpg", "sub/b.PNG", "sub/deeper/c.webp"]
    assert all(p.is_absolute() for p in found)


def test_explicit_files_keep_any_extension_and_duplicates_go(tree: Path) -> None:
    found = collect_paths([tree / "sub" / "notes.txt", tree / "a.jpg", tree])
    assert names(found, tree) == ["sub/notes.txt", "a.jpg", "sub/b.PNG", "sub/deeper/c.webp"]


def test_relative_paths_become_absolute(tree: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tree)
    assert collect_paths(["sub"]) == [tree / "sub" / "b.PNG", tree / "sub" / "deeper" / "c.webp"]


def test_glob_patterns(tree: Path) -> None:
    assert names(collect_paths([str(tree / "**" / "*.webp")]), tree) == ["sub/deeper/c.webp"]
    assert names(collect_paths([str(tree / "su?")]), tree) == ["sub/b.PNG", "sub/deeper/c.webp"]
    with pytest.raises(DataError, match="no files match"):
        collect_paths([str(tree / "*.gif")])


def test_missing_and_empty_targets(tree: Path) -> None:
    with pytest.raises(DataError, match="does not exist"):
        collect_paths([tree / "nope"])
    (tree / "empty").mkdir()
    with pytest.raises(DataError, match="no images found"):
        collect_paths([tree / "empty"])
    with pytest.raises(DataError, match="nothing to scan"):
        collect_paths([])


@pytest.mark.parametrize(("name", "fmt"), [("r.csv", "csv"), ("R.JSONL", "jsonl")])
def test_output_format(name: str, fmt: str) -> None:
    assert output_format(name) == fmt


def test_output_format_and_threshold_errors() -> None:
    with pytest.raises(ConfigError, match=r"\.csv or \.jsonl"):
        output_format("r.json")
    assert check_threshold(0) == 0.0 and check_threshold(1) == 1.0
    for bad in (-0.1, 1.01, float("nan")):
        with pytest.raises(ConfigError, match="threshold"):
            check_threshold(bad)


def results() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "path": ["/a.jpg", "/b.jpg", "/c.jpg"],
            "p_fake": [0.9, math.nan, 0.1],
            "verdict": ["fake", "", "real"],
            "error": ["", "/b.jpg: empty file (0 bytes)", ""],
        }
    )


def test_write_csv_and_jsonl(tmp_path: Path) -> None:
    csv = write_results(results(), tmp_path / "new" / "r.csv")
    assert csv.read_text().splitlines() == [
        "path,p_fake,verdict,error",
        "/a.jpg,0.9,fake,",
        "/b.jpg,,,/b.jpg: empty file (0 bytes)",
        "/c.jpg,0.1,real,",
    ]
    rows = [
        json.loads(line)
        for line in write_results(results(), tmp_path / "r.jsonl").read_text().splitlines()
    ]
    assert [r["p_fake"] for r in rows] == [0.9, None, 0.1]
    assert rows[1]["error"].endswith("(0 bytes)")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["new", "r.jsonl"]


@pytest.mark.parametrize("exc", [KeyboardInterrupt, OSError])
def test_interrupted_write_keeps_the_old_file_and_no_temp(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, exc: type[BaseException]
) -> None:
    out = tmp_path / "r.csv"
    out.write_text("old\n")

    def half_then_fail(self: pd.DataFrame, fh: object, **kw: object) -> None:
        fh.write("path,p_fake\n/a.jpg,")  # type: ignore[attr-defined]
        raise exc

    monkeypatch.setattr(pd.DataFrame, "to_csv", half_then_fail)
    with pytest.raises(exc):
        write_results(results(), out)
    assert out.read_text() == "old\n"
    assert [p.name for p in tmp_path.iterdir()] == ["r.csv"]


def test_out_must_not_be_a_folder(tmp_path: Path) -> None:
    (tmp_path / "x.csv").mkdir()
    with pytest.raises(ConfigError, match="is a folder"):
        write_results(results(), tmp_path / "x.csv")


def test_summary_counts() -> None:
    s = summarize(results(), 0.5)
    assert (s.n, s.fake, s.real, s.errors) == (3, 1, 1, 1)
    assert s.line() == "scanned 3 files: 1 fake, 1 real, 0 unsure, 1 error (threshold 0.5)"
    both = summarize(pd.concat([results(), results().assign(verdict="unsure")]), 0.3, 0.5)
    assert (both.unsure, both.errors) == (3, 2)
    assert both.line().endswith("(threshold 0.3 on p_fake_raw = 0.5 calibrated)")


class Fixed(TinyDetector):
    """Returns fixed class probabilities, one row per image in order."""

    rows: np.ndarray = np.zeros((0, 2))
    batches: list[int]

    def _proba_batch(self, x: object) -> np.ndarray:
        n = len(x)  # type: ignore[arg-type]
        self.batches.append(n)
        out, self.rows = self.rows[:n], self.rows[n:]
        return out


def fixed(proba: list[list[float]], classes: list[str], threshold: float = 0.5) -> Fixed:
    det = Fixed({"num_workers": 0, "batch_size": 2})
    det.classes_, det.threshold_ = classes, threshold
    det.rows = np.array(proba, dtype=np.float32)
    det.batches = []
    return det


def test_scan_paths_table(tmp_path: Path) -> None:
    good = [write_image(tmp_path / f"{i}.png", i, fmt="PNG") for i in range(3)]
    bad = tmp_path / "bad.png"
    bad.write_bytes(b"")
    det = fixed([[0.8, 0.2], [0.3, 0.7], [0.5, 0.5]], ["real", "fake"], threshold=0.6)
    table = scan_paths(det, [good[0], bad, good[1], good[2]])
    assert list(table.columns) == [
        "path",
        "p_fake",
        "p_fake_raw",
        "verdict",
        "reason",
        "ood_score",
        "error",
    ]
    np.testing.assert_allclose(table["p_fake_raw"], table["p_fake"])  # no calibrator: raw
    assert table["reason"].tolist() == [
        "below threshold (uncalibrated)",
        "",
        "above threshold (uncalibrated)",
        "below threshold (uncalibrated)",
    ]
    assert table["ood_score"].isna().all()
    assert table["path"].tolist() == [str(p) for p in (good[0], bad, good[1], good[2])]
    np.testing.assert_allclose(table["p_fake"].to_numpy(), [0.2, np.nan, 0.7, 0.5], rtol=1e-6)
    assert table["verdict"].tolist() == ["real", "", "fake", "real"]  # bundle threshold 0.6
    assert table["error"].tolist()[1].endswith("empty file (0 bytes)")
    det.rows = np.array([[0.8, 0.2], [0.3, 0.7], [0.5, 0.5]], dtype=np.float32)
    again = scan_paths(det, good, threshold=0.5)
    assert again["verdict"].tolist() == ["real", "fake", "fake"]  # p_fake >= t is fake


def test_scan_paths_multiclass_and_runtime_overrides(tmp_path: Path) -> None:
    paths = [write_image(tmp_path / f"{i}.png", i, fmt="PNG") for i in range(2)]
    det = fixed([[0.1, 0.2, 0.7], [0.6, 0.3, 0.1]], ["real", "gan", "diffusion"])
    table = scan_paths(det, paths, batch_size=1, num_workers=0)
    assert table["class"].tolist() == ["diffusion", "real"]
    np.testing.assert_allclose(table["p_fake"].to_numpy(), [0.9, 0.4], rtol=1e-6)
    assert det.batches == [1, 1]
    assert det.params.batch_size == 2  # the override lasts for that call only
    with pytest.raises(ConfigError, match="batch size"):
        scan_paths(det, paths, batch_size=0)


class Recording(TinyDetector):
    """A stateless mean-colour detector that records (thread, batch size) of every batch."""

    calls: list[tuple[int, int]]

    def _proba_batch(self, x: torch.Tensor) -> np.ndarray:
        self.calls.append((threading.get_ident(), len(x)))
        time.sleep(0.005)  # let the other thread run in between
        return super()._proba_batch(x)


def test_concurrent_scans_with_different_batch_sizes_do_not_interfere(tmp_path: Path) -> None:
    paths = [write_image(tmp_path / f"{i}.png", i, fake=i % 2 == 1, fmt="PNG") for i in range(7)]
    det = Recording({"num_workers": 0, "batch_size": 4})
    det.classes_ = ["real", "fake"]
    det.weight = torch.tensor([[1.0, 0.0, -1.0], [-1.0, 0.5, 1.0]])
    det.bias = torch.zeros(2)
    det.calls = []
    sequential = {b: scan_paths(det, paths, batch_size=b, num_workers=0) for b in (1, 3)}
    det.calls = []
    results: dict[int, pd.DataFrame] = {}
    seen: dict[int, int] = {}
    barrier = threading.Barrier(2)

    def run(b: int) -> None:
        seen[b] = threading.get_ident()
        barrier.wait()
        for _ in range(3):
            results[b] = scan_paths(det, paths, batch_size=b, num_workers=0)

    threads = [threading.Thread(target=run, args=(b,)) for b in (1, 3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for b in (1, 3):
        pd.testing.assert_frame_equal(results[b], sequential[b])
        sizes = [n for ident, n in det.calls if ident == seen[b]]
        assert sizes == ([1] * 7 if b == 1 else [3, 3, 1]) * 3
    assert det.params.batch_size == 4 and det.params.num_workers == 0
