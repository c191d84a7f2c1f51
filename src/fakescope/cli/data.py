"""``fakescope data info`` / ``audit`` / ``spectra``: what a dataset holds and what gives it away."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.text import Text

from fakescope.cli.common import ConfigOpt, SetOpt, build_config, cli_errors, err, frame_table, out
from fakescope.cli.train import FamilyMapOpt, LayoutOpt, load_table

app = typer.Typer(help="Inspect datasets.", no_args_is_help=True)


@app.command("info")
def info(
    path: Annotated[
        Path, typer.Argument(help="Dataset root folder (or manifest).", show_default=False)
    ],
    layout: LayoutOpt = None,
    family_map: FamilyMapOpt = None,
    config: ConfigOpt = None,
    sets: SetOpt = None,
) -> None:
    """Print image counts per split, generator and label of the dataset at PATH."""
    with cli_errors():
        cfg = build_config(
            config, {"data.root": path, "data.layout": layout, "data.family_map": family_map}, sets
        )
        from fakescope.data.info import format_summary

        table = load_table(cfg.data)
        out.print(format_summary(table), markup=False, highlight=False)


@app.command("audit")
def audit(
    path: Annotated[
        Path, typer.Argument(help="Dataset root folder (or manifest).", show_default=False)
    ],
    layout: LayoutOpt = None,
    family_map: FamilyMapOpt = None,
    details: Annotated[
        bool, typer.Option("--details", help="Also print each property's rule accuracy.")
    ] = False,
    pixel_sample: Annotated[
        int,
        typer.Option(
            "--pixel-sample",
            min=0,
            help="Images per class and source decoded for the pixel checks (0: skip them).",
        ),
    ] = 100,
    config: ConfigOpt = None,
    sets: SetOpt = None,
) -> None:
    """Can real and fake be told apart without the content? Per generator/source.

    Reads every file's header (container, size, mode, JPEG quality and
    subsampling, EXIF/ICC) and reports the cross-validated AUC of a classifier
    that sees only those (header_auc; 0.5 = nothing to learn) and the AUC of the
    file size per pixel. On a sample of decoded images it scores JPEG
    compression history (quantisation lattice on the 8-px grid; blockiness is
    shown but never flags) and sharpness; their AUCs are signed (above 0.5:
    fakes score higher). Verdict "shortcut (format)" when header_auc >= 0.8
    (fix: data.normalize), "shortcut (jpeg history)" / "(sharpness)" when a
    pixel AUC is far from 0.5 (|AUC - 0.5| >= 0.15, significant, >= 20 images
    per class; re-encoding does not fix it).
    """
    with cli_errors():
        cfg = build_config(
            config, {"data.root": path, "data.layout": layout, "data.family_map": family_map}, sets
        )
        from fakescope.data.audit import (
            PROPERTIES,
            audit_frame,
            audit_table,
            pixel_frame,
            pixel_warning,
            shortcut_warning,
        )
        from fakescope.data.prepare import index_config

        audits = audit_table(index_config(cfg.data), pixel_sample=pixel_sample)
        out.print(frame_table(audit_frame(audits), title="shortcut audit"))
        if pixel_sample:
            title = "pixel checks: real-vs-fake AUC (above 0.5 = fakes score higher)"
            out.print(frame_table(pixel_frame(audits), title=title))
        if details:
            import pandas as pd

            rows = [{"source": a.source, **a.property_accuracy} for a in audits]
            out.print(frame_table(pd.DataFrame(rows, columns=["source", *PROPERTIES])))
        warnings = [w for w in (shortcut_warning(audits), pixel_warning(audits)) if w]
        for warning in warnings:
            err.print(Text(f"warning: {warning}", style="yellow"))
        if not warnings:
            what = (
                "neither the file format nor the decoded pixels separate"
                if pixel_sample
                else "the file format does not separate"
            )
            out.print(f"every source passes: {what} real from fake")


@app.command("normalize")
def normalize(
    path: Annotated[Path, typer.Argument(help="Dataset root folder.", show_default=False)],
    dest: Annotated[Path, typer.Option("--out", "-o", help="New folder for the normalised copy.")],
    scale: Annotated[
        float | None,
        typer.Option("--scale", min=0.01, max=0.99, help="Down-scale first (wipes JPEG history)."),
    ] = None,
    crop: Annotated[int | None, typer.Option("--crop", min=8, help="Centre crop in px.")] = None,
    jpeg_quality: Annotated[
        int | None, typer.Option("--jpeg-quality", min=1, max=100, help="JPEG quality (else PNG).")
    ] = None,
    progress: Annotated[
        bool, typer.Option("--progress/--no-progress", help="Show a progress bar.")
    ] = True,
) -> None:
    """Write a copy of the dataset at PATH with one format for every image (same layout)."""
    with cli_errors():
        from fakescope.config import NormalizeConfig
        from fakescope.data.normalize import normalize_folder

        cfg = NormalizeConfig(scale=scale, crop=crop, jpeg_quality=jpeg_quality)
        if scale is None and crop is None and jpeg_quality is None:
            raise typer.BadParameter("give --scale, --crop and/or --jpeg-quality")
        n = normalize_folder(path, dest, cfg, progress=progress)
        out.print(f"{n} images written to {dest}")


@app.command("spectra")
def spectra(
    path: Annotated[
        Path, typer.Argument(help="Dataset root folder (or manifest).", show_default=False)
    ],
    out_png: Annotated[Path, typer.Option("--out", help="PNG to write (atomically).")] = Path(
        "spectra.png"
    ),
    max_images: Annotated[
        int, typer.Option("--max-images", min=1, help="Images per group averaged, at most.")
    ] = 200,
    crop: Annotated[
        int, typer.Option("--crop", min=8, help="Centre crop side (px); smaller images skipped.")
    ] = 256,
    layout: LayoutOpt = None,
    family_map: FamilyMapOpt = None,
    config: ConfigOpt = None,
    sets: SetOpt = None,
) -> None:
    """Draw the mean noise-residual Fourier spectrum of the reals and of each generator.

    Per image: luminance centre crop minus its 3x3 median filter, centred
    log-magnitude FFT; averaged per group and drawn side by side. Up-sampling
    traces show as bright peaks or lines that the reals lack.
    """
    with cli_errors():
        cfg = build_config(
            config, {"data.root": path, "data.layout": layout, "data.family_map": family_map}, sets
        )
        from fakescope.data.prepare import index_config
        from fakescope.data.spectra import noise_spectra, plot_spectra

        result = noise_spectra(index_config(cfg.data), crop=crop, max_images=max_images)
        written = plot_spectra(result, out_png)
        skipped = sum(result.skipped.values())
        groups = ", ".join(f"{g} ({n})" for g, n in result.counts.items())
        note = (
            f"; {skipped} images skipped (smaller than the crop or unreadable)" if skipped else ""
        )
        out.print(f"wrote {written}: {groups}{note}", markup=False, highlight=False)
