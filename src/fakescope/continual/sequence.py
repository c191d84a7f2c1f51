"""Run every method of a continual config over its task sequence and write the report.

>>> report = run_sequence(table, cfg.continual, cfg.detector.params, Path("runs/cl"))  # doctest: +SKIP

Each method runs in ``<out>/<method>/`` (see :mod:`.runner`); ``report.json``,
``report.md``, ``report.html`` and ``figures/`` are rewritten after every
method, so an interrupted run still shows what is finished.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import pandas as pd

from fakescope.config import ContinualConfig
from fakescope.continual.base import ContinualStrategy
from fakescope.continual.catalog import STRATEGIES, create_strategy
from fakescope.continual.report import method_entry, write_report
from fakescope.continual.runner import FitFn, MethodRunner
from fakescope.continual.tasks import build_tasks
from fakescope.detectors.cnn import CNNDetector
from fakescope.errors import ConfigError
from fakescope.train.fit import fit_module


def make_strategies(cfg: ContinualConfig, seed: int) -> list[ContinualStrategy]:
    """The configured strategies (validated before any training); replay's size = ``memory``."""
    if not cfg.methods:
        raise ConfigError(
            f"no methods given; pass --methods with some of {', '.join(STRATEGIES.names())}"
        )
    dup = sorted({m for m in cfg.methods if cfg.methods.count(m) > 1})
    if dup:
        raise ConfigError(f"method(s) {', '.join(dup)} appear twice in --methods; list each once")
    out = []
    for name in cfg.methods:
        params = dict(cfg.params.get(name, {}))
        if name == "replay":
            params.setdefault("size", cfg.memory)
        out.append(create_strategy(name, params, seed=seed))
    return out


def run_sequence(
    table: pd.DataFrame,
    cfg: ContinualConfig,
    detector_params: Mapping[str, Any],
    out: Path,
    *,
    command: str | None = None,
    fit: FitFn = fit_module,
    log: Callable[[str], None] = lambda _: None,
) -> dict[str, Any]:
    """Train and evaluate each method of ``cfg`` over its tasks; returns the report dict."""
    params = CNNDetector(dict(detector_params)).params
    strategies = make_strategies(cfg, params.seed)
    tasks = build_tasks(table, list(cfg.tasks), shots=cfg.shots, seed=params.seed)
    names = [t.name for t in tasks]
    for t in tasks:
        log(f"task {t.name}: {len(t.train)} train / {len(t.val)} val / {len(t.test)} test images")
    report: dict[str, Any] = {
        "tasks": names,
        "command": command,
        "settings": {
            "shots": cfg.shots,
            "memory": cfg.memory,
            "cutmix": cfg.cutmix,
            "detector": params.model_dump(mode="json"),
        },
        "methods": {},
    }
    extra = {"shots": cfg.shots, "cutmix": cfg.cutmix}
    for strategy in strategies:
        runner = MethodRunner(
            strategy,
            tasks,
            params,
            out / strategy.name,
            cutmix=cfg.cutmix,
            extra=extra,
            fit=fit,
            log=log,
        )
        run = runner.run()
        report["methods"][strategy.name] = method_entry(
            run.auc, run.acc, run.ap, len(names), run.seconds
        )
        write_report(report, out)
    return report
