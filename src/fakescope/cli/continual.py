"""``fakescope continual``: learn a sequence of tasks (generators) with several methods, report.

Also ``fakescope continual --out DIR --page docs/continual.md`` (no --tasks):
write the docs page from an existing ``DIR/report.json``.
"""

from __future__ import annotations

import shlex
import sys
from pathlib import Path
from typing import Annotated

import typer

from fakescope.cli.common import ConfigOpt, DeviceOpt, SetOpt, build_config, cli_errors, out
from fakescope.cli.train import DataOpt, FamilyMapOpt, LayoutOpt


def _split(text: str | None) -> list[str] | None:
    return None if text is None else [t.strip() for t in text.split(",") if t.strip()]


def continual(
    config: ConfigOpt = None,
    data: DataOpt = None,
    layout: LayoutOpt = None,
    family_map: FamilyMapOpt = None,
    tasks: Annotated[
        str | None,
        typer.Option(
            "--tasks",
            help="Tasks in order, comma-separated: generators, families or a+b groups [continual.tasks].",
        ),
    ] = None,
    methods: Annotated[
        str | None,
        typer.Option(
            "--methods",
            help="Methods, comma-separated: ft, kd, lwf, tg, cored, replay, ewc [continual.methods].",
        ),
    ] = None,
    out_dir: Annotated[
        Path | None, typer.Option("--out", "-o", help="Output folder (bundles, report) [out].")
    ] = None,
    shots: Annotated[
        int | None,
        typer.Option(
            "--shots", min=1, help="Train images per class of tasks 2.. [continual.shots]."
        ),
    ] = None,
    memory: Annotated[
        int | None,
        typer.Option("--memory", min=0, help="Replay memory size in images [continual.memory]."),
    ] = None,
    epochs: Annotated[
        int | None,
        typer.Option("--epochs", min=1, help="Epochs per task [detector.params.epochs]."),
    ] = None,
    device: DeviceOpt = None,
    sets: SetOpt = None,
    page: Annotated[
        Path | None,
        typer.Option("--page", help="Also write a docs page (Markdown) from DIR/report.json."),
    ] = None,
) -> None:
    """Learn the tasks one after the other with each method; evaluate all seen tasks after each.

    Task 1 trains from the start weights, each later task from the previous
    task's model (the teacher). Resumable: rerun the same command to continue.
    Writes DIR/<method>/NN-<task>/ bundles and DIR/report.{json,md,html}.
    """
    with cli_errors():
        cfg = build_config(
            config,
            {
                "data.root": data,
                "data.layout": layout,
                "data.family_map": family_map,
                "continual.tasks": _split(tasks),
                "continual.methods": _split(methods),
                "continual.shots": shots,
                "continual.memory": memory,
                "detector.params.epochs": epochs,
                "detector.params.device": device,
                "out": out_dir,
            },
            sets,
        )
        from fakescope.continual.report import write_page

        if page is not None and not cfg.continual.tasks and cfg.data.root is None:
            where = write_page(cfg.out, page)
            out.print(f"wrote {where}")
            return
        if cfg.detector.name != "cnn":
            from fakescope.errors import ConfigError

            raise ConfigError(
                f"continual learning trains the cnn detector, not {cfg.detector.name}; "
                "set detector.name: cnn"
            )
        from fakescope.continual.sequence import run_sequence
        from fakescope.data.prepare import index_config

        table = index_config(cfg.data)
        from fakescope.eval.results import portable_command

        command = portable_command("fakescope " + shlex.join(sys.argv[1:]))
        report = run_sequence(
            table,
            cfg.continual,
            cfg.detector.params,
            cfg.out,
            command=command,
            log=out.print,
        )
        for name, e in report["methods"].items():
            aa, af = e["aa"], e["af"]
            out.print(
                f"{name}: AA {'-' if aa is None else f'{aa:.3f}'} "
                f"AF {'-' if af is None else f'{af:.3f}'} (AUC)"
            )
        out.print(f"report: {cfg.out / 'report.md'}")
        if page is not None:
            out.print(f"wrote {write_page(cfg.out, page)}")
