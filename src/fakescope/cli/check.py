"""``fakescope check``: verdicts for a few image files, as a table or as JSON."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich import box
from rich.table import Table
from rich.text import Text

from fakescope.cli.common import cli_errors, err, out
from fakescope.cli.scan import BackendOpt, FacesOpt

if TYPE_CHECKING:
    from fakescope.serve.verdict import Verdict

#: Exit code when no input could be scored.
EXIT_NOTHING_SCORED = 1
STYLES = {"fake": "bold red", "real": "bold green", "unsure": "bold yellow"}


def check(
    images: Annotated[
        list[Path], typer.Argument(help="Image files to check, in order.", show_default=False)
    ],
    model: Annotated[
        Path, typer.Option("--model", "-m", help="Bundle folder written by 'fakescope train'.")
    ],
    as_json: Annotated[
        bool,
        typer.Option(
            "--json", help="Print a JSON list (one object per input, in order) instead of a table."
        ),
    ] = False,
    threshold: Annotated[
        float | None,
        typer.Option(
            "--threshold",
            "-t",
            help="Cut on the raw detector P(fake); default: the bundle's validation threshold.",
        ),
    ] = None,
    backend: BackendOpt = "torch",
    faces: FacesOpt = False,
) -> None:
    """Check IMG [IMG...]: verdict (real / fake / unsure), calibrated p_fake, reason, OOD score.

    An unreadable file gets its own error (JSON ``error``) and does not stop the
    others. Exit code 0 when at least one image was scored, 1 when none could be.
    """
    with cli_errors():
        from fakescope.serve.verdict import NO_CALIBRATION, Verdict, VerdictModel, check_threshold

        if threshold is not None:
            check_threshold(threshold)
        vm = VerdictModel.load(model, backend=backend)
        files = [p.expanduser() for p in images]
        readable = [p for p in files if not p.is_dir()]
        scored = iter(vm.decide_paths(readable, threshold=threshold, num_workers=0, faces=faces))
        verdicts = [
            Verdict(str(p), None, None, "", "", None, "", f"{p} is a folder; pass image files")
            if p.is_dir()
            else next(scored)
            for p in files
        ]
        if as_json:
            typer.echo(json.dumps([v.to_dict() for v in verdicts], indent=2))
        else:
            out.print(_table(verdicts, multiclass=len(vm.classes) > 2, faces=faces))
        if vm.calibrator is None:
            err.print(f"note: {NO_CALIBRATION}")
        if all(v.error for v in verdicts):
            raise typer.Exit(EXIT_NOTHING_SCORED)


def _table(verdicts: list[Verdict], *, multiclass: bool, faces: bool = False) -> Table:
    """One row per image: file, verdict, p_fake, reason, ood score[, class][, faces], error."""
    table = Table(box=box.SIMPLE_HEAD, show_edge=False, pad_edge=False)
    columns = ["file", "verdict", "p_fake", "reason", "ood score"]
    columns += ["class"] if multiclass else []
    columns += ["faces"] if faces else []
    for col in [*columns, "error"]:
        table.add_column(col, overflow="fold")
    for v in verdicts:
        cells: list[str | Text] = [
            Text(v.path),
            f"[{STYLES.get(v.verdict, '')}]{v.verdict}[/]" if v.verdict else "",
            "" if v.p_fake is None else f"{v.p_fake:.3f}",
            v.reason,
            "" if v.ood_score is None else f"{v.ood_score:.3g}",
        ]
        cells += [Text(v.cls)] if multiclass else []
        cells += [Text(_faces_cell(v))] if faces else []
        table.add_row(*cells, Text(v.error))
    return table


def _faces_cell(v: Verdict) -> str:
    """Per-face box and score, one face per line: ``(x0,y0)-(x1,y1) fake 0.912``."""
    lines = []
    for f in v.faces or ():
        x0, y0, x1, y1 = f.box
        p = "" if f.verdict.p_fake is None else f"{f.verdict.p_fake:.3f}"
        lines.append(f"({x0},{y0})-({x1},{y1}) {f.verdict.verdict} {p}")
    return "\n".join(lines)
