"""The results runner: every recipe x study of a results plan, resumably.

The plan - recipes, studies, datasets and the precedence of their overrides -
is described and parsed by :mod:`fakescope.eval.results_plan`; this module
runs it. It holds the ``--data`` parsing (:func:`parse_data_options`: ``PATH``
for the default dataset, ``NAME=PATH`` for a named one), the dataset
resolution (:func:`resolve_datasets`: ``--data`` paths over the plan's
``datasets.<key>.path``, checked before any run), one run
(:func:`execute_run`), the whole plan (:func:`run_plan`), and the portable
record of both (:func:`machine_info`, :func:`portable_path`,
:func:`portable_command`).

:func:`run_plan` trains and evaluates each recipe x study with
:func:`~fakescope.eval.protocols.run_experiment` and writes
``<out>/<recipe>/<study>/``: the report files of
:meth:`~fakescope.eval.report.Report.write` (``report.json`` ...) and
``run.json`` (command and dataset paths as portable text - see
:func:`portable_path` -, recipe, study, protocol, dataset and test-dataset keys,
the merged overrides of :func:`~fakescope.eval.results_plan.run_overrides`,
start time, seconds, fakescope version, the environment of
:func:`machine_info`, status and the one-line error of a failed run; a failed
run also leaves its traceback in ``error.log``). A run whose ``report.json``
exists is skipped, so an interrupted plan resumes where it stopped (delete a
run's folder to redo it). One failing run never stops the others.
``<out>/plan.json`` keeps the resolved plan (studies expanded), so the page can
list missing runs and head its sections without the YAML.

Scores in the reports are P(fake) in [0, 1], higher = more fake; class 0 is
"real". :func:`fakescope.eval.results_page.write_page` turns the
``report.json`` files into ``docs/results.md`` (that module imports this one,
never the reverse).
"""

from __future__ import annotations

import json
import os
import platform
import shlex
import time
import traceback
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import fakescope
from fakescope.config import load_config
from fakescope.errors import ConfigError, DataError
from fakescope.eval.catalog import PROTOCOLS, run_experiment
from fakescope.eval.results_plan import (
    DEFAULT_DATASET,
    NAME_PATTERN,
    PLAN_FILE,
    DatasetSpec,
    ResultsPlan,
    Study,
    load_plan,
    run_overrides,
)
from fakescope.fileio import atomic_write_text

if TYPE_CHECKING:
    import pandas as pd

    from fakescope.config import DataConfig
    from fakescope.eval.report import Report

#: Files of a run folder ``<out>/<recipe>/<study>/``.
REPORT_FILE = "report.json"
RUN_FILE = "run.json"
ERROR_FILE = "error.log"
#: ``run.json`` status values.
OK, FAILED, RUNNING = "ok", "failed", "running"


# ----------------------------------------------------------------- datasets
def parse_data_options(values: Sequence[str | Path]) -> dict[str, str]:
    """``--data`` values as ``{dataset key: path as typed}``.

    ``NAME=PATH`` (NAME: letters, digits, ``.``, ``_``, ``-``) gives the dataset
    NAME; anything else is the path of the default dataset (write ``./a=b`` for
    a folder whose name holds ``=``). Raises a one-line :class:`ConfigError` for
    an empty name or path, or a dataset given twice.
    """
    out: dict[str, str] = {}
    for value in map(str, values):
        name, eq, path = value.partition("=")
        if eq and not name:
            raise ConfigError(f"--data {value!r} has no dataset name before '='; use NAME=PATH")
        named = bool(eq) and NAME_PATTERN.match(name) is not None
        if named and not path:
            raise ConfigError(f"--data {value!r} has no path after '='; use {name}=PATH")
        key, path = (name, path) if named else (DEFAULT_DATASET, value)
        if key in out:
            what = "the default dataset (--data PATH)" if key == DEFAULT_DATASET else repr(key)
            raise ConfigError(
                f"--data gives {what} twice ({out[key]}, {path}); give each dataset once, "
                "others as NAME=PATH"
            )
        out[key] = path
    return out


def _as_mapping(data: str | Path | Mapping[str, str | Path] | None) -> dict[str, str]:
    if data is None:
        return {}
    if isinstance(data, str | Path):
        return {DEFAULT_DATASET: str(data)}
    return {str(k): str(v) for k, v in data.items()}


def resolve_datasets(
    plan: ResultsPlan, given: Mapping[str, str], keys: Sequence[str]
) -> dict[str, tuple[Path, str]]:
    """``{key: (absolute folder, portable text)}`` of the datasets ``keys``.

    A path from ``given`` (``--data``) wins over the plan's ``datasets.<key>.path``.
    One-line errors, before any run: ``given`` names a dataset the plan does not
    declare, or gives the default one to a plan that never uses it
    (:class:`ConfigError`); a needed dataset has no path (:class:`ConfigError`
    naming the ``--data`` flag to add); a folder does not exist (:class:`DataError`).
    """
    declared = [DEFAULT_DATASET, *plan.datasets]
    for key in given:
        if key not in declared:
            raise ConfigError(
                f"--data {key}=...: the plan declares no dataset {key!r}; declare it under "
                f"'datasets' or use one of: {', '.join(plan.datasets) or 'none declared'}"
            )
    if DEFAULT_DATASET in given and DEFAULT_DATASET not in plan.dataset_keys():
        raise ConfigError(
            f"--data {given[DEFAULT_DATASET]}: no study of this plan runs on the default "
            f"dataset; name it as --data NAME=PATH (datasets: {', '.join(plan.datasets)})"
        )
    out: dict[str, tuple[Path, str]] = {}
    for key in keys:
        spec = plan.datasets.get(key, DatasetSpec())
        if key in given:
            folder, text = Path(given[key]).expanduser().resolve(), portable_path(given[key])
        elif spec.path is not None:
            folder, text = spec.path.expanduser().resolve(), portable_path(spec.path)
        elif key == DEFAULT_DATASET:
            raise ConfigError("this plan runs on the default dataset; pass --data PATH")
        else:
            raise ConfigError(f"dataset {key!r} has no path in the plan; add --data {key}=PATH")
        if not folder.exists():
            if key == DEFAULT_DATASET:
                raise DataError(
                    f"benchmark {folder} does not exist; build it with "
                    "'fakescope forge build SOURCE --preset mini --out DIR' or fix --data"
                )
            raise DataError(f"dataset {key!r}: {folder} does not exist; fix --data {key}=PATH")
        out[key] = (folder, text)
    return out


# ------------------------------------------------------------------ running
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
    """``command`` with every absolute path argument made portable.

    Also the path after the first ``=`` of a word (``--opt=/path``,
    ``--data NAME=/path``).
    """
    try:
        words = shlex.split(command)
    except ValueError:
        words = command.split()

    def fix(word: str) -> str:
        if word.startswith(("/", "~")):
            return portable_path(word, base)
        key, eq, value = word.partition("=")
        if eq and value.startswith(("/", "~")):
            return key + eq + portable_path(value, base)
        return word

    return shlex.join(fix(w) for w in words)


def _load_table(
    data: DataConfig, cache: dict[str, pd.DataFrame], *, progress: bool = False
) -> pd.DataFrame:
    """The sample table of ``data``, normalised when ``data.normalize`` is set.

    Indexed (and normalised) once per distinct data config: the studies of a
    plan that read the same dataset the same way share one table.
    """
    from fakescope.data.prepare import index_config

    key = data.model_dump_json()
    if key not in cache:
        if data.root is None:
            raise ConfigError("no dataset given; pass --data BENCH")
        cache[key] = index_config(data, progress=progress)
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
    cache = {} if tables is None else tables
    return run_experiment(
        cfg, lambda: _load_table(cfg.data, cache, progress=progress), progress=progress
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


def _default_command(
    plan_path: str | Path, data: Mapping[str, str], out: str | Path, only: Sequence[str] | None
) -> str:
    """The ``fakescope results run`` line equivalent to a :func:`run_plan` call."""
    words = ["fakescope", "results", "run", str(plan_path)]
    for key, path in data.items():
        words += ["--data", path if key == DEFAULT_DATASET else f"{key}={path}"]
    words += ["--out", str(out)] + (["--only", ",".join(only)] if only else [])
    return shlex.join(words)


def _run_identity(
    recipe: str, study: Study, datasets: Mapping[str, tuple[Path, str]]
) -> dict[str, Any]:
    """What ``run.json`` says a run is: recipe, study, protocol, dataset keys and portable paths."""
    return {
        "data": datasets[study.data][1],
        "dataset": study.data,
        "test_data": datasets[study.test_data][1] if study.test_data else None,
        "test_dataset": study.test_data,
        "recipe": recipe,
        "study": study.name,
        "protocol": study.protocol,
    }


def run_plan(
    plan_path: str | Path,
    data: str | Path | Mapping[str, str | Path] | None,
    out: str | Path,
    *,
    only: Sequence[str] | None = None,
    progress: bool = True,
    command: str | None = None,
    echo: Callable[[str], None] | None = None,
) -> list[Path]:
    """Run every recipe x study of the plan at ``plan_path``; returns the run folders.

    ``data``: the default dataset's folder (``--data PATH``), or ``{key: folder}``
    with key ``"default"`` for that one and dataset names for the others
    (``--data NAME=PATH``, see :func:`parse_data_options`); the plan's
    ``datasets.<key>.path`` fills in the rest (:func:`resolve_datasets`).
    Writes each run to ``out/<recipe>/<study>/`` (see the module docstring),
    skipping runs whose ``report.json`` exists. ``only``: recipe names to run.
    ``progress``: one line per run through ``echo`` (default ``print``) plus the
    protocol's own progress bars. ``command``: recorded in ``run.json`` with
    absolute paths made portable (default: the equivalent ``fakescope results
    run`` line); dataset paths are recorded the same way. Returns the run
    folders in plan order; a failed run's folder has ``run.json`` with
    ``status: failed`` and no ``report.json``. Unknown protocols or recipes,
    datasets without a path and missing dataset folders raise before any run
    starts (nothing is written then).
    """
    plan = load_plan(plan_path)
    runs = plan.study_runs(only)
    for protocol in dict.fromkeys(s.protocol for _, s in runs):
        PROTOCOLS.get(protocol)  # an unknown protocol fails before hours of training
    given = _as_mapping(data)
    datasets = resolve_datasets(plan, given, plan.dataset_keys(only))
    out_dir = Path(out).expanduser().resolve()
    if command is None:
        command = _default_command(plan_path, given, out, only)
    say = (echo or print) if progress else (lambda _: None)
    command = portable_command(command)
    atomic_write_text(out_dir / PLAN_FILE, plan.model_dump_json(indent=2) + "\n")
    machine = machine_info()
    tables: dict[str, pd.DataFrame] = {}
    done: list[Path] = []
    for i, (recipe, study) in enumerate(runs, 1):
        run_dir = out_dir / recipe / study.name
        done.append(run_dir)
        tag = f"[{i}/{len(runs)}] {recipe} x {study.name}"
        if (run_dir / REPORT_FILE).is_file():
            say(f"{tag}: finished earlier, skipped")
            continue
        test_dir = datasets[study.test_data][0] if study.test_data else None
        folder = datasets[study.data][0]
        overrides = run_overrides(plan, recipe, study, folder, run_dir, test_data=test_dir)
        info: dict[str, Any] = {
            "command": command,
            **_run_identity(recipe, study, datasets),
            "config": portable_path(plan.recipes[recipe].config),
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
