"""The results runner: every reference recipe under every protocol of a *plan*, resumably.

A plan (YAML, e.g. ``configs/results-mini.yaml``) names recipes - experiment
configs such as ``configs/cnndetection.yaml`` - with per-plan overrides, and
the protocols to run them under::

    title: Reference methods on the mini benchmark
    benchmark_note: mini preset built from the bundled CIFAR-10 sample
    protocols: [single-source, leave-one-family-out]
    source: dcgan          # eval.source of every run (null = the recipe's own)
    holdout: null          # eval.holdout of every run
    recipes:
      cnndetection:
        config: cnndetection.yaml            # relative to the plan file
        set: {detector.params.img_size: 32}  # dotted overrides, as --set
      hierarchy:
        config: hierarchy.yaml
        protocols: [attribution]             # instead of the plan's protocols

:func:`run_plan` trains and evaluates each recipe x protocol with
:func:`~fakescope.eval.protocols.run_protocol` and writes
``<out>/<recipe>/<protocol>/``: the report files of
:meth:`~fakescope.eval.report.Report.write` (``report.json`` ...) and
``run.json`` (command and data path as portable text - see :func:`portable_path` -,
recipe, overrides, start time, seconds, fakescope version, the environment of
:func:`machine_info`, status and the one-line error of a failed run; a failed
run also leaves its traceback in ``error.log``). A run whose ``report.json``
exists is skipped, so an interrupted plan resumes where it stopped (delete a
run's folder to redo it). One failing run never stops the others.
``<out>/plan.json`` keeps the resolved plan, so the page can list missing runs.

Scores in the reports are P(fake) in [0, 1], higher = more fake; class 0 is
"real". :func:`fakescope.eval.results_page.write_page` turns the
``report.json`` files into ``docs/results.md`` (that module imports this one,
never the reverse).
"""

from __future__ import annotations

import json
import os
import platform
import re
import shlex
import time
import traceback
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml
from pydantic import Field, ValidationError, field_validator

import fakescope
from fakescope.config import Strict, load_config
from fakescope.errors import ConfigError, DataError
from fakescope.eval.protocols import PROTOCOLS, run_experiment
from fakescope.fileio import atomic_write_text

if TYPE_CHECKING:
    import pandas as pd

    from fakescope.config import DataConfig
    from fakescope.eval.report import Report

#: Files of a run folder ``<out>/<recipe>/<protocol>/``.
REPORT_FILE = "report.json"
RUN_FILE = "run.json"
ERROR_FILE = "error.log"
#: The resolved plan, written to ``<out>`` by :func:`run_plan`.
PLAN_FILE = "plan.json"
#: ``run.json`` status values.
OK, FAILED, RUNNING = "ok", "failed", "running"

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")


class RecipeRun(Strict):
    """One recipe of a plan: its config file, plan-specific overrides, optional own protocols."""

    config: Path
    set: dict[str, Any] = Field(default_factory=dict)
    protocols: list[str] | None = None


class ResultsPlan(Strict):
    """Recipes x protocols to run for a results page (unknown keys are an error)."""

    title: str
    benchmark_note: str = ""
    protocols: list[str] = Field(min_length=1)
    source: str | None = None
    holdout: str | None = None
    recipes: dict[str, RecipeRun] = Field(min_length=1)

    @field_validator("recipes")
    @classmethod
    def _folder_names(cls, value: dict[str, RecipeRun]) -> dict[str, RecipeRun]:
        for name in value:
            if not _NAME.match(name):
                raise ValueError(f"recipe name {name!r} must be letters, digits, '.', '_' or '-'")
        return value

    def protocols_of(self, recipe: str) -> list[str]:
        """The protocols ``recipe`` runs under (its own list, else the plan's)."""
        own = self.recipes[recipe].protocols
        return list(self.protocols if own is None else own)

    def runs(self, only: Sequence[str] | None = None) -> list[tuple[str, str]]:
        """``(recipe, protocol)`` pairs in plan order; ``only`` keeps those recipes."""
        names = list(self.recipes)
        if only is not None:
            unknown = [n for n in only if n not in self.recipes]
            if unknown:
                raise ConfigError(
                    f"--only names unknown recipe(s) {', '.join(unknown)}; "
                    f"the plan has {', '.join(names)}"
                )
            names = [n for n in names if n in set(only)]
        return [(name, protocol) for name in names for protocol in self.protocols_of(name)]


def load_plan(path: str | Path) -> ResultsPlan:
    """Read and validate a plan YAML; recipe ``config`` paths resolve against its folder.

    Raises a one-line :class:`ConfigError` for a missing or malformed file, unknown
    keys, or a recipe whose config file does not exist.
    """
    p = Path(path).expanduser()
    if not p.is_file():
        raise ConfigError(f"results plan {p} does not exist; check the path")
    try:
        raw = yaml.safe_load(p.read_text())
    except yaml.YAMLError as exc:
        first = (str(exc).splitlines() or ["parse error"])[0]
        raise ConfigError(f"results plan {p} is not valid YAML ({first}); fix the file") from None
    if not isinstance(raw, dict):
        raise ConfigError(f"results plan {p} must hold a mapping (title, protocols, recipes)")
    plan = parse_plan(raw, str(p))
    base = p.resolve().parent
    for name, recipe in plan.recipes.items():
        config = recipe.config.expanduser()
        recipe.config = config if config.is_absolute() else (base / config).resolve()
        if not recipe.config.is_file():
            raise ConfigError(
                f"recipe {name!r}: config {recipe.config} does not exist; fix its 'config' in {p}"
            )
    return plan


def parse_plan(raw: Any, where: str = "results plan") -> ResultsPlan:
    """Validate an already-parsed plan (no file checks) with a one-line :class:`ConfigError`."""
    try:
        return ResultsPlan.model_validate(raw)
    except ValidationError as exc:
        err = exc.errors()[0]
        key = ".".join(str(k) for k in err["loc"]) or "<root>"
        if err["type"] == "extra_forbidden":
            raise ConfigError(
                f"unknown key {key!r} in {where}; remove it or fix its spelling"
            ) from None
        raise ConfigError(f"invalid value for {key!r} in {where}: {err['msg']}") from None


def read_plan_copy(out: str | Path) -> ResultsPlan | None:
    """The plan :func:`run_plan` saved in ``out`` (None when there is none)."""
    path = Path(out) / PLAN_FILE
    if not path.is_file():
        return None
    try:
        raw = json.loads(path.read_text())
    except json.JSONDecodeError:
        raise ConfigError(f"{path} is not valid JSON; delete it or pass --plan PLAN") from None
    return parse_plan(raw, str(path))


# ------------------------------------------------------------------ running
def run_overrides(
    plan: ResultsPlan, recipe: str, protocol: str, data: Path, run_dir: Path
) -> dict[str, Any]:
    """Dotted overrides of one run: plan source/holdout < recipe ``set`` < data, protocol, out.

    None values are left out (the recipe's own value stays).
    """
    merged: dict[str, Any] = {"eval.source": plan.source, "eval.holdout": plan.holdout}
    merged.update(plan.recipes[recipe].set)
    merged.update({"data.root": str(data), "eval.protocol": protocol, "out": str(run_dir)})
    return {k: v for k, v in merged.items() if v is not None}


def machine_info() -> dict[str, Any]:
    """What a rerun needs to match: CPU count, CUDA device (or None), Python/torch/timm versions.

    Nothing that identifies one machine (no host name, kernel string or paths).
    """
    import timm
    import torch

    cuda = torch.cuda.get_device_name(0) if torch.cuda.is_available() else None
    return {
        "cpus": os.cpu_count(),
        "cuda": cuda,
        "python": platform.python_version(),
        "torch": torch.__version__,
        "timm": timm.__version__,
    }


#: How :func:`portable_path` shows a path outside the base folder: ``.../NAME``.
OUTSIDE = ".../"


def portable_path(path: str | Path, base: str | Path | None = None) -> str:
    """``path`` as text that means the same on another machine.

    Relative paths stay as typed; absolute paths inside ``base`` (default: the
    current folder, normally the repository) become relative to it; other
    absolute paths (temp folders, home folders) keep only their name, as
    ``.../NAME``.
    """
    p = Path(path).expanduser()
    if not p.is_absolute():
        return p.as_posix()
    root = Path(base if base is not None else Path.cwd()).expanduser().resolve()
    try:
        return p.resolve().relative_to(root).as_posix() or "."
    except ValueError:
        return OUTSIDE + p.name


def portable_command(command: str, base: str | Path | None = None) -> str:
    """``command`` with every absolute path argument (also ``--opt=/path``) made portable."""
    try:
        words = shlex.split(command)
    except ValueError:
        words = command.split()

    def fix(word: str) -> str:
        opt, eq, value = word.partition("=") if word.startswith("-") else ("", "", word)
        if value.startswith(("/", "~")):
            return opt + eq + portable_path(value, base)
        return word

    return shlex.join(fix(w) for w in words)


def _load_table(data: DataConfig, cache: dict[str, pd.DataFrame]) -> pd.DataFrame:
    """The sample table of ``data`` (indexed once per distinct data config)."""
    from fakescope.data.index import index_dataset

    key = data.model_dump_json()
    if key not in cache:
        if data.root is None:
            raise ConfigError("no dataset given; pass --data BENCH")
        cache[key] = index_dataset(
            data.root, data.layout, family_map=data.family_map, split=data.split
        )
    return cache[key]


def execute_run(
    config: Path,
    overrides: dict[str, Any],
    *,
    tables: dict[str, pd.DataFrame] | None = None,
    progress: bool = False,
) -> Report:
    """Load ``config`` with ``overrides`` and run its protocol (the report; nothing written)."""
    cfg = load_config(config, overrides)
    return run_experiment(
        cfg, lambda: _load_table(cfg.data, {} if tables is None else tables), progress=progress
    )


def _jsonable(value: Any) -> Any:
    if isinstance(value, Path):
        return str(value)
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    return value


def _write_info(run_dir: Path, info: dict[str, Any]) -> None:
    atomic_write_text(run_dir / RUN_FILE, json.dumps(_jsonable(info), indent=2) + "\n")


def _one_line(exc: BaseException) -> str:
    text = " ".join(part.strip() for part in str(exc).splitlines() if part.strip())
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def run_plan(
    plan_path: str | Path,
    data: str | Path,
    out: str | Path,
    *,
    only: Sequence[str] | None = None,
    progress: bool = True,
    command: str | None = None,
    echo: Callable[[str], None] | None = None,
) -> list[Path]:
    """Run every recipe x protocol of the plan at ``plan_path`` on the benchmark ``data``.

    Writes each run to ``out/<recipe>/<protocol>/`` (see the module docstring),
    skipping runs whose ``report.json`` exists. ``only``: recipe names to run.
    ``progress``: one line per run through ``echo`` (default ``print``) plus the
    protocol's own progress bars. ``command``: recorded in ``run.json`` with
    absolute paths made portable (default: the equivalent ``fakescope results
    run`` line); ``data`` is recorded the same way. Returns the run
    folders in plan order; a failed run's folder has ``run.json`` with
    ``status: failed`` and no ``report.json``. Unknown protocols or recipes and
    a missing ``data`` folder raise before any run starts.
    """
    plan = load_plan(plan_path)
    runs = plan.runs(only)
    for protocol in dict.fromkeys(p for _, p in runs):
        PROTOCOLS.get(protocol)  # an unknown protocol fails before hours of training
    data_dir = Path(data).expanduser().resolve()
    if not data_dir.exists():
        raise DataError(
            f"benchmark {data_dir} does not exist; build it with "
            "'fakescope bench build SOURCE --preset mini --out DIR' or fix --data"
        )
    out_dir = Path(out).expanduser().resolve()
    if command is None:
        command = f"fakescope results run {plan_path} --data {data} --out {out}"
        command += f" --only {','.join(only)}" if only else ""
    say = (echo or print) if progress else (lambda _: None)
    command = portable_command(command)
    atomic_write_text(out_dir / PLAN_FILE, plan.model_dump_json(indent=2) + "\n")
    machine = machine_info()
    tables: dict[str, pd.DataFrame] = {}
    done: list[Path] = []
    for i, (recipe, protocol) in enumerate(runs, 1):
        run_dir = out_dir / recipe / protocol
        done.append(run_dir)
        tag = f"[{i}/{len(runs)}] {recipe} x {protocol}"
        if (run_dir / REPORT_FILE).is_file():
            say(f"{tag}: finished earlier, skipped")
            continue
        overrides = run_overrides(plan, recipe, protocol, data_dir, run_dir)
        info: dict[str, Any] = {
            "command": command,
            "data": portable_path(data),
            "recipe": recipe,
            "protocol": protocol,
            "config": plan.recipes[recipe].config,
            "overrides": overrides,
            "started": datetime.now(UTC).isoformat(timespec="seconds"),
            "seconds": None,
            "fakescope_version": fakescope.__version__,
            "machine": machine,
            "status": RUNNING,
        }
        _write_info(run_dir, info)
        say(f"{tag}: running")
        start = time.perf_counter()
        try:
            report = execute_run(
                plan.recipes[recipe].config, overrides, tables=tables, progress=progress
            )
            report.write(run_dir)
        except Exception as exc:  # one failing run is recorded; the others still run
            (run_dir / REPORT_FILE).unlink(missing_ok=True)
            info.update(seconds=round(time.perf_counter() - start, 3), status=FAILED)
            info["error"] = _one_line(exc)
            atomic_write_text(run_dir / ERROR_FILE, traceback.format_exc())
            _write_info(run_dir, info)
            say(f"{tag}: FAILED after {info['seconds']:.1f} s - {info['error']}")
            continue
        info.update(seconds=round(time.perf_counter() - start, 3), status=OK)
        _write_info(run_dir, info)
        say(f"{tag}: done in {info['seconds']:.1f} s")
    return done
