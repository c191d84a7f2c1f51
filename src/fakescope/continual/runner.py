"""Train and evaluate one method over a task sequence, resumable task by task.

Layout of a method's folder ``<out>/<method>/``::

    state.json          settings, finished tasks, AUC / accuracy rows so far
    NN-<task>/          the cnn bundle after task NN (fakescope bundle)
    work/NN-<task>/     Lightning checkpoints of the task in progress (deleted when done)

Task 1 trains from the start weights (``cnn`` params: random, pretrained or a
weights file); task i > 1 starts from the model after task i - 1, which is
also the strategy's teacher. After each task every task seen so far is
evaluated on its test split: AUC of P(fake) and accuracy at P(fake) >= 0.5.
A rerun skips every finished task (its bundle is loaded and the strategy's
``after_task`` replayed to restore memories / Fisher) and resumes the task in
progress from its last checkpoint.
"""

from __future__ import annotations

import json
import re
import shutil
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch
from sklearn.metrics import average_precision_score, roc_auc_score
from torch import nn
from torch.utils.data import DataLoader

from fakescope.bundle import META
from fakescope.continual.base import ContinualStrategy, TaskData
from fakescope.continual.module import ContinualModule
from fakescope.continual.tasks import TaskSplits
from fakescope.data.schema import LABEL, PATH
from fakescope.data.transforms import eval_transform
from fakescope.detectors.cnn import CNNDetector, CNNParams
from fakescope.errors import ConfigError, FakescopeError
from fakescope.fileio import atomic_write_json
from fakescope.losses.catalog import create_loss
from fakescope.train.dataset import Batch, SampleDataset, collate_ok, fit_datasets
from fakescope.train.devices import torch_device
from fakescope.train.fit import FitFn as FitFn
from fakescope.train.fit import FitSettings, fit_module, fit_network

STATE = "state.json"
CLASSES = ["real", "fake"]
#: Scores of every task after every task: ROC-AUC, accuracy at 0.5, average precision.
METRICS = ("auc", "acc", "ap")
#: Detector params that do not change what is learnt (may differ on resume).
RUNTIME = ("device", "num_workers", "progress")


@dataclass
class MethodRun:
    """A method's result: ``auc`` / ``acc`` / ``ap`` rows (row i: after task i, entries j <= i)."""

    method: str
    tasks: list[str]
    auc: list[list[float]]
    acc: list[list[float]]
    ap: list[list[float]]
    trained: list[str]
    skipped: list[str]
    seconds: float


def safe_name(name: str) -> str:
    """A file-name-safe form of a task name."""
    return re.sub(r"[^A-Za-z0-9_.+-]+", "-", name) or "task"


def task_dir(method_dir: Path, index: int, name: str) -> Path:
    """``<method_dir>/NN-<task>`` (NN = 1-based task number)."""
    return method_dir / f"{index + 1:02d}-{safe_name(name)}"


def fingerprint(
    params: CNNParams, method_params: dict[str, Any], extra: dict[str, Any]
) -> dict[str, Any]:
    """What must match for a rerun to reuse finished tasks (runtime settings excluded)."""
    det = {k: v for k, v in params.model_dump(mode="json").items() if k not in RUNTIME}
    return {"detector": det, "method": method_params, **extra}


def _new_network(params: CNNParams) -> nn.Module:
    if params.loss != "ce":
        raise ConfigError(
            f"continual learning trains the cnn detector with loss ce, not {params.loss}; "
            "remove detector.params.loss"
        )
    # the cnn detector's own start point (random, pretrained / packaged, or a weights file)
    return CNNDetector(params).new_network(len(CLASSES))


def as_detector(model: nn.Module, params: CNNParams) -> CNNDetector:
    """A fitted binary ``cnn`` detector around ``model`` (threshold 0.5)."""
    det = CNNDetector(params)
    device = torch_device(params.device)
    det.classes_ = list(CLASSES)
    det.model_ = model.to(device).eval()
    det.loss_ = create_loss("ce", None, 2, 2).to(device).eval()
    det.threshold_ = 0.5
    return det


def evaluate(det: CNNDetector, rows: pd.DataFrame) -> dict[str, float]:
    """:data:`METRICS` of P(fake) on ``rows``: ROC-AUC, accuracy at P(fake) >= 0.5 and
    average precision (fake = positive); NaN when undefined (one class, no decodable file)."""
    p = det.predict(rows[PATH].tolist()).p_fake
    y = rows[LABEL].to_numpy()
    ok = ~np.isnan(p)
    nan = float("nan")
    if not ok.any():
        return dict.fromkeys(METRICS, nan)
    y, p = y[ok], p[ok]
    both = len(np.unique(y)) == 2
    return {
        "auc": float(roc_auc_score(y, p)) if both else nan,
        "acc": float(np.mean((p >= 0.5).astype(int) == y)),
        "ap": float(average_precision_score(y, p)) if both else nan,
    }


class MethodRunner:
    """Runs ``strategy`` over ``tasks`` in ``method_dir`` (see the module docstring).

    ``fit``: the training function (default :func:`fit_module`; tests wrap it to
    count calls). ``log``: receives one line per finished or skipped task.
    """

    def __init__(
        self,
        strategy: ContinualStrategy,
        tasks: list[TaskSplits],
        params: CNNParams,
        method_dir: Path,
        *,
        cutmix: float = 0.2,
        extra: dict[str, Any] | None = None,
        fit: FitFn = fit_module,
        log: Callable[[str], None] = lambda _: None,
    ) -> None:
        self.strategy = strategy
        self.tasks = tasks
        self.params = params
        self.dir = method_dir
        self.cutmix = cutmix
        self.fit = fit
        self.log = log
        self.device = torch_device(params.device)
        self.input = CNNDetector(params).input_config
        self.shape = (3, self.input.size, self.input.size)
        self.eval_tf = eval_transform(self.input)
        self.settings = fingerprint(params, strategy.params.model_dump(mode="json"), extra or {})

    # ---------------------------------------------------------- helpers
    def _batches(self, rows: pd.DataFrame) -> Iterable[Batch]:
        ds = SampleDataset(rows[PATH].tolist(), rows[LABEL].to_numpy(), self.eval_tf, self.shape)
        workers = self.params.num_workers or 0
        return DataLoader(
            ds, batch_size=self.params.batch_size, num_workers=workers, collate_fn=collate_ok
        )

    def _task_data(self, i: int) -> TaskData:
        t = self.tasks[i]
        return TaskData(t.name, i, t.train, t.val, t.test, self._batches, self.device)

    def _load_state(self) -> dict[str, Any]:
        path = self.dir / STATE
        names = [t.name for t in self.tasks]
        if not path.is_file():
            empty: dict[str, Any] = {m: [] for m in METRICS}
            return {"settings": self.settings, "tasks": [], **empty, "seconds": 0.0}
        state: dict[str, Any] = json.loads(path.read_text())
        done = state.get("tasks", [])
        if state.get("settings") != self.settings or names[: len(done)] != done:
            raise ConfigError(
                f"{self.dir} holds a run with other settings or tasks ({', '.join(done)}); "
                "use another --out or delete that folder"
            )
        return state

    # ------------------------------------------------------------- run
    def run(self) -> MethodRun:
        """Train the unfinished tasks, evaluating all seen tasks after each; returns the rows."""
        self.dir.mkdir(parents=True, exist_ok=True)
        state = self._load_state()
        trained: list[str] = []
        skipped: list[str] = []
        model: nn.Module | None = None
        for i, task in enumerate(self.tasks):
            data = self._task_data(i)
            bundle = task_dir(self.dir, i, task.name)
            if i < len(state["tasks"]) and (bundle / META).is_file():
                from fakescope.bundle import load_bundle

                model = load_bundle(bundle, device=self.params.device).model_  # type: ignore[attr-defined]
                assert model is not None
                self.strategy.after_task(model, data)
                skipped.append(task.name)
                self.log(f"{self.strategy.name}: task {i + 1} {task.name}: done before, skipped")
                continue
            for key in ("tasks", *METRICS):
                del state[key][i:]
            model = self._train(model, data, state)
            trained.append(task.name)
        return MethodRun(
            self.strategy.name,
            state["tasks"],
            state["auc"],
            state["acc"],
            state["ap"],
            trained,
            skipped,
            float(state.get("seconds", 0.0)),
        )

    def _train(self, model: nn.Module | None, data: TaskData, state: dict[str, Any]) -> nn.Module:
        start = time.perf_counter()
        p = self.params
        i, name = data.index, data.name
        torch.manual_seed(p.seed + i)
        if model is None:
            model = _new_network(p)
        model = model.to(self.device).train()
        self.strategy.before_task(model, data)
        rows, val = self.strategy.train_rows(data), data.val
        train_ds, val_ds = fit_datasets(
            rows[PATH].tolist(),
            rows[LABEL].to_numpy(),
            None if val.empty else val[PATH].tolist(),
            None if val.empty else val[LABEL].to_numpy(),
            self.input,
            p.augment,
        )
        module = ContinualModule(
            model,
            self.strategy,
            cutmix=self.cutmix,
            lr=p.lr,
            weight_decay=p.weight_decay,
            scheduler=p.scheduler,
            epochs=p.epochs,
            step_size=p.step_size,
            gamma=p.gamma,
        )
        work = self.dir / "work" / task_dir(self.dir, i, name).name
        run_info = {
            "strategy": self.strategy.name,
            "tasks": [t.name for t in self.tasks[: i + 1]],
            "settings": self.settings,
        }
        settings = FitSettings.from_params(p)
        try:
            best, _ = fit_network(module, train_ds, val_ds, settings, work, run_info, fit=self.fit)
        except (KeyboardInterrupt, FakescopeError) as exc:
            if isinstance(exc, FakescopeError) and "interrupted" not in str(exc):
                raise
            raise FakescopeError(
                f"{self.strategy.name} was interrupted during task {i + 1} ({name}); the "
                f"{i} finished task(s) are kept in {self.dir} - run the same command again to continue"
            ) from None
        model.load_state_dict(best, strict=True)  # the best epoch's weights
        model = model.to(self.device).eval()
        self.strategy.after_task(model, data)
        det = as_detector(model, p)
        det.save(task_dir(self.dir, i, name))
        scores = [evaluate(det, self.tasks[j].test) for j in range(i + 1)]
        state["tasks"].append(name)
        for m in METRICS:
            state[m].append([s[m] for s in scores])
        state["seconds"] = float(state.get("seconds", 0.0)) + time.perf_counter() - start
        atomic_write_json(self.dir / STATE, state)
        shutil.rmtree(work, ignore_errors=True)
        shown = " ".join(f"{s['auc']:.3f}" for s in scores)
        self.log(f"{self.strategy.name}: task {i + 1} {name}: AUC on tasks 1..{i + 1}: {shown}")
        return model
