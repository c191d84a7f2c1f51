"""``fakescope scan``: score image files with a trained bundle, write CSV/JSONL."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.text import Text

from fakescope.cli.common import (
    BatchOpt,
    ProgressOpt,
    WorkersOpt,
    cli_errors,
    describe_progress,
    err,
    frame_table,
    out,
)

#: Rows printed to the terminal when no --out file is given.
PREVIEW_ROWS = 50

BackendOpt = Annotated[
    str,
    typer.Option(
        "--backend",
        help="torch (the bundle's weights) or onnxruntime (its model.onnx on CPU; "
        "write it with 'fakescope export BUNDLE --format onnx').",
    ),
]
ModelOpt = Annotated[
    Path | None,
    typer.Option(
        "--model",
        "-m",
        help="Bundle folder written by 'fakescope train'; default: fakescope's default model "
        "(the bundle named by FAKESCOPE_DEFAULT_MODEL, else the one installed with fakescope).",
        show_default=False,
    ),
]
FacesOpt = Annotated[
    bool,
    typer.Option(
        "--faces",
        help="Score each detected face (Haar cascade, square crop with 30% margin); "
        "an image's verdict is its most-fake face, the whole image when no face is found.",
    ),
]


def scan(
    targets: Annotated[
        list[str],
        typer.Argument(
            help="Image files, folders (recursive) or quoted glob patterns.", show_default=False
        ),
    ],
    model: ModelOpt = None,
    out_file: Annotated[
        Path | None,
        typer.Option("--out", "-o", help="Results file (.csv or .jsonl); written atomically."),
    ] = None,
    threshold: Annotated[
        float | None,
        typer.Option(
            "--threshold",
            "-t",
            help="Cut on the raw detector P(fake) (p_fake_raw); default: the bundle's validation threshold.",
        ),
    ] = None,
    batch_size: BatchOpt = None,
    workers: WorkersOpt = None,
    progress: ProgressOpt = True,
    backend: BackendOpt = "torch",
    faces: FacesOpt = False,
) -> None:
    """Scan FILE, DIR or GLOB: one row per file with path, p_fake, p_fake_raw, verdict, reason, ood_score, (class,) error.

    Without --model the default model answers; its name, version and training data
    are printed first ("model: ...").

    Verdicts are "real", "fake" or "unsure" (near the threshold, or out of
    distribution) from the bundle's calibration and OOD abstainer when it has them.
    Per-file errors (corrupt, truncated, not an image) are rows, not failures:
    the exit code is 0 whenever the scan ran. With --faces two columns are added:
    faces (count) and face_boxes (JSON: box, p_fake, verdict per face).
    """
    with cli_errors():
        from fakescope.inference.default_model import resolve_model
        from fakescope.inference.scan import (
            check_threshold,
            collect_paths,
            output_format,
            scan_paths,
            summarize,
            write_results,
        )
        from fakescope.inference.verdict import NO_CALIBRATION, VerdictModel

        if out_file is not None:
            output_format(out_file)
        if threshold is not None:
            check_threshold(threshold)
        resolved = resolve_model(model)
        paths = collect_paths(targets)
        model_ = VerdictModel.load(resolved.path, backend=backend)
        if resolved.is_default:
            out.print(Text(resolved.line()))
        cut = model_.threshold if threshold is None else threshold
        if faces:
            import pandas as pd

            from fakescope.inference.face_verdicts import face_columns
            from fakescope.inference.scan import verdict_table

            verdicts = model_.decide_paths(paths, threshold=cut, batch_size=batch_size, faces=True)
            table = verdict_table(verdicts, multiclass=len(model_.classes) > 2)
            insert_at = list(table.columns).index("error")
            for offset, (name, values) in enumerate(face_columns(verdicts).items()):
                table.insert(insert_at + offset, name, pd.Series(values, dtype=object))
        else:
            table = scan_paths(
                model_,
                paths,
                threshold=cut,
                batch_size=batch_size,
                num_workers=workers,
                progress=describe_progress(progress, "scanning"),
            )
        calibrated = None if model_.calibrator is None else model_.calibrated_threshold(cut)
        summary = summarize(table, cut, calibrated)
        if out_file is None:
            out.print(frame_table(table, max_rows=PREVIEW_ROWS))
            if len(table) > PREVIEW_ROWS:
                out.print(f"(first {PREVIEW_ROWS} of {len(table)} rows; use --out FILE for all)")
        else:
            written = write_results(table, out_file)
            out.print(f"wrote {len(table)} rows to {written}")
        out.print(summary.line())
        if model_.calibrator is None:
            err.print(f"note: {NO_CALIBRATION}")
