"""``fakescope results``: run a results plan (recipes x studies) and write docs/results.md.

``fakescope results run PLAN --data BENCH [--data NAME=PATH ...] --out runs/results
[--only a,b] [--page docs/results.md]`` runs every recipe of the plan under its
studies (resumable: finished runs are skipped) and, with ``--page``, writes the
page. ``--data PATH`` is the default dataset, ``--data NAME=PATH`` a dataset
the plan declares under ``datasets`` (see :mod:`fakescope.eval.results`).
``fakescope results page RUNS --out docs/results.md`` rewrites the page from
the run folders alone.
"""

from __future__ import annotations

import shlex
from pathlib import Path
from typing import Annotated

import typer

from fakescope.cli.common import ProgressOpt, cli_errors, out

app = typer.Typer(
    help="Run the reference recipes under the evaluation protocols and write the results page.",
    no_args_is_help=True,
)

#: Exit code of ``results run`` when at least one run failed (the others still ran).
EXIT_RUN_FAILED = 1


def _command(*parts: object) -> str:
    return shlex.join(["fakescope", "results", *(str(p) for p in parts)])


@app.command("run")
def run(
    plan: Annotated[
        Path, typer.Argument(help="Results plan YAML, e.g. configs/results-mini.yaml.")
    ],
    data: Annotated[
        list[str] | None,
        typer.Option(
            "--data",
            "-d",
            help="Dataset folder: PATH for the default dataset, NAME=PATH for a dataset the "
            "plan declares under 'datasets' (repeatable; plan paths fill in the rest).",
        ),
    ] = None,
    out_dir: Annotated[
        Path, typer.Option("--out", "-o", help="Run folders: <out>/<recipe>/<study>/.")
    ] = Path("runs/results"),
    only: Annotated[
        str | None, typer.Option("--only", help="Comma-separated recipe names to run.")
    ] = None,
    page: Annotated[
        Path | None, typer.Option("--page", help="Write the results page here afterwards.")
    ] = None,
    progress: ProgressOpt = True,
) -> None:
    """Run every recipe x study of PLAN (finished runs are skipped); exit 1 if any run failed."""
    with cli_errors():
        from fakescope.eval.results import FAILED, RUN_FILE, parse_data_options, run_plan
        from fakescope.eval.results_page import read_run, write_page
        from fakescope.eval.results_plan import load_plan

        datasets = parse_data_options(data or [])
        names = [n.strip() for n in only.split(",") if n.strip()] if only else None
        args: list[object] = [plan]
        for value in data or []:
            args += ["--data", value]
        args += ["--out", out_dir]
        args += ["--only", ",".join(names)] if names else []
        args += ["--page", page] if page is not None else []
        command = _command("run", *args)
        dirs = run_plan(
            plan, datasets, out_dir, only=names, progress=progress, command=command, echo=out.print
        )
        records = [read_run(d, d.parent.name, d.name) for d in dirs if (d / RUN_FILE).is_file()]
        failed = [r for r in records if r.status == FAILED]
        out.print(f"{len(dirs)} runs in {out_dir}: {len(dirs) - len(failed)} with a report")
        for r in failed:
            out.print(f"  failed: {r.recipe} x {r.study}: {r.error}", markup=False)
        if page is not None:
            where = write_page(out_dir, page, plan=load_plan(plan), command=command)
            out.print(f"wrote {where}")
        if failed:
            raise typer.Exit(EXIT_RUN_FAILED)


@app.command("page")
def page_cmd(
    runs: Annotated[Path, typer.Argument(help="The --out folder of 'fakescope results run'.")],
    page: Annotated[Path, typer.Option("--out", "-o", help="The page to write.")] = Path(
        "docs/results.md"
    ),
    plan: Annotated[
        Path | None,
        typer.Option("--plan", help="Plan YAML (default: the plan.json saved in RUNS)."),
    ] = None,
) -> None:
    """Write the results page from the report.json files under RUNS (numbers are never typed)."""
    with cli_errors():
        from fakescope.errors import DataError
        from fakescope.eval.results_page import write_page
        from fakescope.eval.results_plan import load_plan, read_plan_copy

        if not runs.is_dir():
            raise DataError(f"{runs} is not a folder; pass the --out folder of 'results run'")
        args: list[object] = ["page", runs, "--out", page]
        args += ["--plan", plan] if plan is not None else []
        chosen = load_plan(plan) if plan is not None else read_plan_copy(runs)
        where = write_page(runs, page, plan=chosen, command=_command(*args))
        out.print(f"wrote {where}")
