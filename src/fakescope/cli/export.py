"""``fakescope export``: write a bundle's detector in another runtime format (ONNX)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from fakescope.cli.common import cli_errors, out

#: Formats ``fakescope export`` writes.
FORMATS = ("onnx",)


def export(
    bundle: Annotated[Path, typer.Argument(help="Bundle folder written by 'fakescope train'.")],
    fmt: Annotated[
        str, typer.Option("--format", "-f", help=f"Output format: {', '.join(FORMATS)}.")
    ] = "onnx",
    tol: Annotated[
        float,
        typer.Option(
            "--tol",
            help="Refuse to write when max |p_torch - p_onnx| on generated inputs exceeds this.",
        ),
    ] = 1e-4,
) -> None:
    """Export BUNDLE to ONNX: writes BUNDLE/model.onnx (verified against torch) for --backend onnxruntime.

    The graph maps a preprocessed batch [B, 3, H, W] to proba, logits and
    embedding (so OOD scoring still works); the preprocessing and the sha256 of
    the bundle's weights are stored in its metadata and checked on load.
    """
    with cli_errors():
        from fakescope.errors import ConfigError
        from fakescope.inference.onnx_export import export_onnx

        if fmt not in FORMATS:
            raise ConfigError(f"unknown export format {fmt!r}; use one of {', '.join(FORMATS)}")
        if not tol > 0:
            raise ConfigError(f"--tol must be a positive number, got {tol}")
        report = export_onnx(bundle, tol=tol)
        out.print(report.line())
