"""``fakescope train``: index a dataset, fit a detector on its train split, save a bundle."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from fakescope.cli.common import ConfigOpt, DeviceOpt, SetOpt, build_config, cli_errors, out

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


def load_table(data: DataConfig) -> pd.DataFrame:
    """Index ``data.root`` with its layout, family map and split settings (a sample table)."""
    from fakescope.data.index import index_dataset
    from fakescope.errors import ConfigError

    if data.root is None:
        raise ConfigError("no dataset given; pass --data ROOT or set data.root in the config")
    return index_dataset(data.root, data.layout, family_map=data.family_map, split=data.split)


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
) -> None:
    """Train a detector on the train split (threshold chosen on val) and save it as a bundle."""
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
        from fakescope.errors import DataError

        # Validate the detector name and params before the (possibly slow) indexing.
        det = DETECTORS.get(cfg.detector.name)(cfg.detector.params)
        table = load_table(cfg.data)
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
