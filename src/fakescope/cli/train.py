"""``fakescope train``: index a dataset, fit a detector on its train split, save a bundle."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from fakescope.cli.common import (
    ConfigOpt,
    DeviceOpt,
    ProgressOpt,
    SetOpt,
    build_config,
    cli_errors,
    err,
    out,
)

if TYPE_CHECKING:
    import pandas as pd

    from fakescope.config import DataConfig
    from fakescope.detectors.base import Detector

DataOpt = Annotated[
    Path | None, typer.Option("--data", "-d", help="Dataset root folder (or manifest) [data.root].")
]
LayoutOpt = Annotated[
    str | None, typer.Option("--layout", help="Folder layout name, or 'auto' [data.layout].")
]
FamilyMapOpt = Annotated[
    Path | None,
    typer.Option("--family-map", help="YAML mapping generator -> family [data.family_map]."),
]


def load_table(data: DataConfig, *, audit: bool = False, progress: bool = True) -> pd.DataFrame:
    """The sample table of ``data`` (indexed, normalised when ``data.normalize`` is set).

    ``audit``: also run the quick format audit and print its one-line warning
    when the file format alone separates real from fake (train / eval).
    ``progress``: bars while indexing / normalising.
    """
    from fakescope.data.prepare import index_config, quick_audit_warning

    table = index_config(data, progress=progress)
    if audit:
        warning = quick_audit_warning(table)
        if warning:
            from rich.text import Text

            from fakescope.cli.common import err

            err.print(Text(f"warning: {warning}", style="yellow"))
    return table


def train(
    config: ConfigOpt = None,
    data: DataOpt = None,
    layout: LayoutOpt = None,
    family_map: FamilyMapOpt = None,
    detector: Annotated[
        str | None, typer.Option("--detector", help="Registered detector name [detector.name].")
    ] = None,
    out_dir: Annotated[
        Path | None, typer.Option("--out", "-o", help="Bundle folder to write [out].")
    ] = None,
    epochs: Annotated[
        int | None,
        typer.Option("--epochs", min=1, help="Training epochs [detector.params.epochs]."),
    ] = None,
    device: DeviceOpt = None,
    workdir: Annotated[
        Path | None, typer.Option("--workdir", help="Checkpoints and caches (resumable) [workdir].")
    ] = None,
    sets: SetOpt = None,
    calibrate: Annotated[
        bool,
        typer.Option(
            "--calibrate/--no-calibrate",
            help="Fit P(fake) calibration + the conformal unsure band on the val split.",
        ),
    ] = True,
    alpha: Annotated[
        float,
        typer.Option(
            "--alpha",
            help="Target error of the unsure band (per-class coverage >= 1 - alpha).",
        ),
    ] = 0.05,
    ood: Annotated[
        bool,
        typer.Option(
            "--ood/--no-ood",
            help="Fit the default OOD abstainer (unsure: out of distribution).",
        ),
    ] = True,
    progress: ProgressOpt = True,
) -> None:
    """Train a detector on the train split (threshold chosen on val) and save it as a bundle.

    Then, on the validation split: a P(fake) calibrator with a conformal "unsure"
    band (calibration.json) and the default OOD abstainer (ood.json), unless
    --no-calibrate / --no-ood.
    """
    with cli_errors():
        cfg = build_config(
            config,
            {
                "data.root": data,
                "data.layout": layout,
                "data.family_map": family_map,
                "detector.name": detector,
                "out": out_dir,
                "detector.params.epochs": epochs,
                "detector.params.device": device,
                "workdir": workdir,
            },
            sets,
        )
        from fakescope.data.schema import SPLIT
        from fakescope.detectors import DETECTORS
        from fakescope.errors import ConfigError, DataError

        if not 0.0 < alpha < 1.0:
            raise ConfigError(f"--alpha must be between 0 and 1 (exclusive), got {alpha}")

        # Validate the detector name and params before the (possibly slow) indexing.
        det = DETECTORS.get(cfg.detector.name)(cfg.detector.params)
        if not progress:
            det = DETECTORS.get(cfg.detector.name)(det.params.quiet())
        table = load_table(cfg.data, audit=True, progress=progress)
        train_rows = table[table[SPLIT] == "train"]
        val_rows = table[table[SPLIT] == "val"]
        if train_rows.empty:
            raise DataError(
                f"{cfg.data.root} has no images in the train split; check the layout or split"
            )
        out.print(
            f"training {cfg.detector.name} on {len(train_rows)} images "
            f"(validation: {len(val_rows)}) from {cfg.data.root}"
        )
        det.fit(train_rows, val_rows if len(val_rows) else None, workdir=cfg.workdir)
        where = det.save(cfg.out)
        classes = ", ".join(det.check_fitted())
        out.print(f"saved bundle to {where} (classes: {classes}; threshold {det.threshold_:.4g})")
        if calibrate:
            _add_calibration(det, val_rows, where, alpha, progress=progress)
        if ood:
            _add_abstainer(det, train_rows, val_rows, where, progress=progress)


def _add_calibration(
    det: Detector, val_rows: pd.DataFrame, where: Path, alpha: float, *, progress: bool
) -> None:
    """Fit and store the calibrator; a problem is a warning (the bundle works without it)."""
    from rich.text import Text

    from fakescope.errors import DataError
    from fakescope.inference.calibration import calibrate_detector

    try:
        label = "calibrating" if progress else None
        cal = calibrate_detector(det, val_rows, alpha=alpha, progress=label)
    except DataError as exc:
        err.print(Text(f"warning: not calibrated: {exc}", style="yellow"))
        return
    cal.save(where)
    out.print(cal.describe())


def _add_abstainer(
    det: Detector, train_rows: pd.DataFrame, val_rows: pd.DataFrame, where: Path, *, progress: bool
) -> None:
    """Fit and store the default OOD abstainer; a problem is a warning."""
    from rich.text import Text

    from fakescope.errors import DataError
    from fakescope.ood.abstain import Abstainer

    if val_rows.empty:
        err.print(Text("warning: no OOD abstainer: the validation split is empty", style="yellow"))
        return
    try:
        ab = Abstainer.fit(det, train_rows, val_rows, progress=progress)
    except DataError as exc:
        err.print(Text(f"warning: no OOD abstainer: {exc}", style="yellow"))
        return
    ab.save(where)
    out.print(
        f"OOD abstainer ({ab.scorer}): threshold {ab.threshold_:.4g} keeps {ab.keep:.0%} of val"
    )
