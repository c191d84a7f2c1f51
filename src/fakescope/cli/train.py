"""``fakescope train``: parse options, call :func:`fakescope.inference.fit_bundle.fit_bundle`, save."""

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
            help="Fit P(fake) calibration + the conformal unsure band on held-out val images.",
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
    cal_fraction: Annotated[
        float,
        typer.Option(
            "--cal-fraction",
            help="Share of the val split held out (per label) for calibration, the unsure band "
            "and the OOD threshold; the rest sets early stopping and the threshold.",
        ),
    ] = 0.5,
    progress: ProgressOpt = True,
) -> None:
    """Train a detector on the train split and save it as a bundle.

    The val split is divided (per label, seeded): one part sets early stopping
    and the threshold, the other (--cal-fraction) the P(fake) calibrator with its
    conformal "unsure" band (calibration.json) and the OOD abstainer's threshold
    (ood.json), unless --no-calibrate / --no-ood. meta.json records which data
    set what ('fakescope bundle info' shows it).
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
        from rich.text import Text

        from fakescope.data.schema import SPLIT
        from fakescope.detectors.catalog import DETECTORS
        from fakescope.errors import ConfigError, DataError
        from fakescope.inference.fit_bundle import fit_bundle

        if not 0.0 < alpha < 1.0:
            raise ConfigError(f"--alpha must be between 0 and 1 (exclusive), got {alpha}")
        if not 0.0 < cal_fraction < 1.0:
            raise ConfigError(
                f"--cal-fraction must be between 0 and 1 (exclusive), got {cal_fraction}"
            )

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
        result = fit_bundle(
            det,
            train_rows,
            val_rows,
            workdir=cfg.workdir,
            calibrate=calibrate,
            alpha=alpha,
            ood=ood,
            cal_fraction=cal_fraction,
            seed=det.params.seed,
            progress=progress,
        )
        for line in result.notes:
            out.print(line)
        for line in result.warnings:
            err.print(Text(f"warning: {line}", style="yellow"))
        where = result.bundle.save(cfg.out)
        classes = ", ".join(det.check_fitted())
        out.print(f"saved bundle to {where} (classes: {classes}; threshold {det.threshold_:.4g})")
