"""``fakescope explain``: Grad-CAM heatmaps (where the evidence for "fake" is) plus the verdict."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich import box
from rich.table import Table
from rich.text import Text

from fakescope.cli.common import cli_errors, err, out
from fakescope.errors import ConfigError

if TYPE_CHECKING:
    from fakescope.inference.verdict import Verdict

#: Exit code when no heatmap could be written.
EXIT_NOTHING_WRITTEN = 1
STYLES = {"fake": "bold red", "real": "bold green", "unsure": "bold yellow"}


def explain(
    images: Annotated[
        list[Path], typer.Argument(help="Image files to explain, in order.", show_default=False)
    ],
    model: Annotated[
        Path, typer.Option("--model", "-m", help="Bundle folder written by 'fakescope train'.")
    ],
    out_path: Annotated[
        Path,
        typer.Option(
            "--out",
            "-o",
            help="A .png file (one image) or a folder, which gets <stem>.heat.png per image.",
        ),
    ],
    as_json: Annotated[
        bool, typer.Option("--json", help="Print a JSON list (one object per input) instead.")
    ] = False,
    alpha: Annotated[
        float, typer.Option("--alpha", min=0.0, max=1.0, help="Opacity of the colour map.")
    ] = 0.5,
) -> None:
    """Explain IMG [IMG...]: write a heatmap overlay per image and print P(fake) and the verdict.

    The overlay (same size as the image) colours where the detector sees evidence
    for "fake" (red = strongest in that image, blue = none; Grad-CAM of the fake
    log-odds). Verdicts are the same as 'fakescope check'. Supported: cnn detectors
    with a logit loss, probe detectors with the logistic head. Exit code 0 when
    at least one heatmap was written, 1 when none could be.
    """
    with cli_errors():
        from fakescope.data.decode import load_image
        from fakescope.errors import DecodeError
        from fakescope.inference.decision import error_verdict
        from fakescope.inference.heatmap import check_explainable, explain_image
        from fakescope.inference.verdict import NO_CALIBRATION, VerdictModel

        files = [p.expanduser() for p in images]
        targets = _targets(files, out_path.expanduser())
        vm = VerdictModel.load(model)
        check_explainable(vm)
        rows: list[tuple[Verdict, str]] = []
        for path, target in zip(files, targets, strict=True):
            try:
                image = load_image(path)
            except DecodeError as exc:
                rows.append((error_verdict(path, str(exc)), ""))
                continue
            verdict = vm.decide_images([image], [str(path)])[0]
            explain_image(vm, image).save(target, alpha)
            rows.append((verdict, str(target)))
        if as_json:
            typer.echo(json.dumps([{**v.to_dict(), "heatmap": t} for v, t in rows], indent=2))
        else:
            out.print(_table(rows))
        if vm.calibrator is None:
            err.print(f"note: {NO_CALIBRATION}")
        if not any(t for _, t in rows):
            raise typer.Exit(EXIT_NOTHING_WRITTEN)


def _targets(files: list[Path], out_path: Path) -> list[Path]:
    """Where each heatmap goes: ``out_path`` itself (one image, a .png name) or
    ``out_path/<stem>.heat.png`` (``-2``, ``-3``, ... added when stems repeat)."""
    if out_path.suffix.lower() == ".png" and not out_path.is_dir():
        if len(files) != 1:
            raise ConfigError(
                f"--out {out_path} is one file but {len(files)} images were given; "
                "pass a folder to --out"
            )
        return [out_path]
    if out_path.exists() and not out_path.is_dir():
        raise ConfigError(f"--out {out_path} is a file; pass a folder or a new .png name")
    from fakescope.inference.heatmap import heatmap_names

    return [out_path / name for name in heatmap_names(files)]


def _table(rows: list[tuple[Verdict, str]]) -> Table:
    """One row per image: file, verdict, p_fake, reason, heatmap file, error."""
    table = Table(box=box.SIMPLE_HEAD, show_edge=False, pad_edge=False)
    for col in ("file", "verdict", "p_fake", "reason", "heatmap", "error"):
        table.add_column(col, overflow="fold")
    for v, target in rows:
        table.add_row(
            Text(v.path),
            f"[{STYLES.get(v.verdict, '')}]{v.verdict}[/]" if v.verdict else "",
            "" if v.p_fake is None else f"{v.p_fake:.3f}",
            v.reason,
            Text(target),
            Text(v.error),
        )
    return table
