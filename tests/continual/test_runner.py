"""End-to-end sequences on tiny data: forgetting (FT vs replay), resume, interruption."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from fakescope.config import ContinualConfig
from fakescope.continual.sequence import run_sequence
from fakescope.data.index import index_dataset
from fakescope.errors import FakescopeError
from fakescope.train.fit import fit_module
from tests.continual.conftest import TINY


class CountingFit:
    """Wraps :func:`fit_module`, counting calls; ``fail_at`` raises Ctrl-C on that call."""

    def __init__(self, fail_at: int | None = None) -> None:
        self.calls = 0
        self.fail_at = fail_at

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        self.calls += 1
        if self.fail_at == self.calls:
            raise KeyboardInterrupt
        return fit_module(*args, **kwargs)


def test_fine_tuning_forgets_the_first_task_more_than_replay(
    conflict_root: Path, tmp_path: Path
) -> None:
    table = index_dataset(conflict_root, "tasks")
    cfg = ContinualConfig(tasks=["A", "B"], methods=["ft", "replay"], memory=32, cutmix=0.0)
    report = run_sequence(table, cfg, {**TINY, "epochs": 6}, tmp_path / "out")
    ft, replay = report["methods"]["ft"], report["methods"]["replay"]
    # both learn task A first (the cue is easy), and both learn B
    assert ft["auc"][0][0] > 0.9 and replay["auc"][0][0] > 0.9
    assert ft["auc"][1][1] > 0.9 and replay["auc"][1][1] > 0.8
    # B reverses A's cue: plain fine-tuning turns A upside down, replay keeps part of it
    assert ft["auc"][1][0] < 0.3
    assert replay["auc"][1][0] > ft["auc"][1][0] + 0.3
    assert ft["af"] > replay["af"] + 0.3
    assert ft["auc"][0][1] is None  # task B not seen after task 1
    saved = json.loads((tmp_path / "out" / "report.json").read_text())
    assert saved["methods"]["ft"]["auc"] == ft["auc"]
    assert (tmp_path / "out" / "ft" / "02-B" / "model.safetensors").is_file()
    for name in ("report.md", "report.html", "figures/auc-over-sequence.png", "figures/ft-auc.png"):
        assert (tmp_path / "out" / name).is_file()


def test_resume_skips_finished_tasks_and_survives_an_interruption(
    conflict_root: Path, tmp_path: Path
) -> None:
    table = index_dataset(conflict_root, "tasks")
    cfg = ContinualConfig(tasks=["A", "B"], methods=["kd"], cutmix=0.0)
    params = {**TINY, "epochs": 1}
    out = tmp_path / "out"
    broken = CountingFit(fail_at=2)  # Ctrl-C while training task B
    with pytest.raises(FakescopeError, match=r"interrupted during task 2 \(B\).*1 finished task"):
        run_sequence(table, cfg, params, out, fit=broken)
    state = json.loads((out / "kd" / "state.json").read_text())
    assert state["tasks"] == ["A"] and len(state["auc"]) == 1
    again = CountingFit()
    report = run_sequence(table, cfg, params, out, fit=again)
    assert again.calls == 1  # task A is not trained again
    assert report["methods"]["kd"]["auc"][0] == [state["auc"][0][0], None]
    done = CountingFit()
    run_sequence(table, cfg, params, out, fit=done)
    assert done.calls == 0
    longer = ContinualConfig(tasks=["A", "B", "A_B"], methods=["kd"], cutmix=0.0)
    more = CountingFit()
    report = run_sequence(table, longer, params, out, fit=more)
    assert more.calls == 1 and report["methods"]["kd"]["finished"] == 3
    with pytest.raises(FakescopeError, match="other settings or tasks"):
        run_sequence(table, ContinualConfig(tasks=["B", "A"], methods=["kd"]), params, out)
