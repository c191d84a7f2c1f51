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
from fakescope.cli.scan import BackendOpt, FacesOpt, ModelOpt

if TYPE_CHECKING:
    from fakescope.inference.verdict import Verdict, VerdictModel

#: Exit code when no input could be scored.
EXIT_NOTHING_SCORED = 1
STYLES = {"fake": "bold red", "real": "bold green", "unsure": "bold yellow"}


def check(
    images: Annotated[
        list[Path], typer.Argument(help="Image files to check, in order.", show_default=False)
    ],
    model: ModelOpt = None,
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
    explain_dir: Annotated[
        Path | None,
        typer.Option(
            "--explain",
            help="Write a Grad-CAM heatmap overlay (<stem>.heat.png, same size as the image) "
            "per scored image into this folder; JSON gains 'heatmap' (the file).",
        ),
    ] = None,
) -> None:
    """Check IMG [IMG...]: verdict (real / fake / unsure), calibrated p_fake, reason, OOD score.

    Without --model the default model answers; a first line "model: ..." names it
    (on stderr with --json, so stdout stays JSON). An unreadable file gets its own
    error (JSON ``error``) and does not stop the others. Exit code 0 when at least
    one image was scored, 1 when none could be.
    --explain works for detectors with heatmaps (cnn with a logit loss, probe with the
    logistic head, torch backend); others are a one-line error before any scoring.
    """
    with cli_errors():
        from fakescope.inference.decision import error_verdict
        from fakescope.inference.default_model import resolve_model
        from fakescope.inference.verdict import NO_CALIBRATION, VerdictModel, check_threshold

        if threshold is not None:
            check_threshold(threshold)
        resolved = resolve_model(model)
        vm = VerdictModel.load(resolved.path, backend=backend)
        if resolved.is_default:
            (err if as_json else out).print(Text(resolved.line()))
        if explain_dir is not None:
            explain_dir = _explain_folder(explain_dir, vm)
        files = [p.expanduser() for p in images]
        readable = [p for p in files if not p.is_dir()]
        scored = iter(vm.decide_paths(readable, threshold=threshold, num_workers=0, faces=faces))
        verdicts = [
            error_verdict(p, f"{p} is a folder; pass image files") if p.is_dir() else next(scored)
            for p in files
        ]
        heatmaps = None if explain_dir is None else _heatmaps(vm, verdicts, explain_dir)
        if as_json:
            rows = [v.to_dict() for v in verdicts]
            for row, heat in zip(rows, heatmaps or [], strict=False):
                row["heatmap"] = heat
            typer.echo(json.dumps(rows, indent=2))
        else:
            multi = len(vm.classes) > 2
            out.print(_table(verdicts, multiclass=multi, faces=faces, heatmaps=heatmaps))
        if vm.calibrator is None:
            err.print(f"note: {NO_CALIBRATION}")
        if all(v.error for v in verdicts):
            raise typer.Exit(EXIT_NOTHING_SCORED)


def _explain_folder(folder: Path, vm: VerdictModel) -> Path:
    """``folder`` (expanded) after checking that ``vm`` can make heatmaps and that
    ``folder`` is not a file; both are one-line errors before any image is scored."""
    from fakescope.errors import ConfigError
    from fakescope.inference.heatmap import check_explainable

    check_explainable(vm)
    folder = folder.expanduser()
    if folder.exists() and not folder.is_dir():
        raise ConfigError(f"--explain {folder} is a file; pass a folder for the heatmaps")
    return folder


def _heatmaps(vm: VerdictModel, verdicts: list[Verdict], folder: Path) -> list[str | None]:
    """Heatmap file per verdict (None for inputs that were not scored), in order."""
    from fakescope.inference.heatmap import write_heatmaps

    scored = [i for i, v in enumerate(verdicts) if not v.error]
    written = write_heatmaps(vm, [verdicts[i].path for i in scored], folder)
    files: list[str | None] = [None] * len(verdicts)
    for i, (path, _) in zip(scored, written, strict=True):
        files[i] = None if path is None else str(path)
    return files


def _table(
    verdicts: list[Verdict],
    *,
    multiclass: bool,
    faces: bool = False,
    heatmaps: list[str | None] | None = None,
) -> Table:
    """One row per image: file, verdict, p_fake, reason, ood score[, class][, faces][, heatmap], error."""
    table = Table(box=box.SIMPLE_HEAD, show_edge=False, pad_edge=False)
    columns = ["file", "verdict", "p_fake", "reason", "ood score"]
    columns += ["class"] if multiclass else []
    columns += ["faces"] if faces else []
    columns += ["heatmap"] if heatmaps is not None else []
    for col in [*columns, "error"]:
        table.add_column(col, overflow="fold")
    for k, v in enumerate(verdicts):
        cells: list[str | Text] = [
            Text(v.path),
            f"[{STYLES.get(v.verdict, '')}]{v.verdict}[/]" if v.verdict else "",
            "" if v.p_fake is None else f"{v.p_fake:.3f}",
            v.reason,
            "" if v.ood_score is None else f"{v.ood_score:.3g}",
        ]
        cells += [Text(v.cls or "")] if multiclass else []
        cells += [Text(_faces_cell(v))] if faces else []
        cells += [Text(heatmaps[k] or "")] if heatmaps is not None else []
        table.add_row(*cells, Text(v.error))
    return table


def _faces_cell(v: Verdict) -> str:
    """Per-face box and score, one face per line: ``(x0,y0)-(x1,y1) fake 0.912``."""
    lines = []
    for f in v.faces or ():
        x0, y0, x1, y1 = f.box
        p = "" if f.verdict.p_fake is None else f"{f.verdict.p_fake:.3f}"
        lines.append(f"({x0},{y0})-({x1},{y1}) {f.verdict.verdict or ''} {p}")
    return "\n".join(lines)
