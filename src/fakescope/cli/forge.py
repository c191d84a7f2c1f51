"""``fakescope forge build``: make a format-matched fake-image benchmark from real images.

``fakescope bench build`` is the old name of the same command."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from fakescope.cli.common import DeviceOpt, cli_errors, kv_table, out

#: The console (the ``build`` command's ``--out`` parameter shadows the name ``out``).
console = out

app = typer.Typer(
    help="Make fake images from real ones: the dataset builder.", no_args_is_help=True
)


@app.command("build")
def build(
    source: Annotated[
        Path,
        typer.Argument(help="Folder or .zip of real images (its train/test folders are kept)."),
    ],
    out: Annotated[Path, typer.Option("--out", "-o", help="Folder to write the benchmark to.")],
    preset: Annotated[
        str, typer.Option("--preset", "-p", help="smoke, mini, cifar, faces or aligned.")
    ] = "mini",
    generators: Annotated[
        str | None,
        typer.Option(
            "--generators", "-g", help="Comma-separated generators (default: the preset's)."
        ),
    ] = None,
    decoders: Annotated[
        str | None,
        typer.Option(
            "--decoders",
            help="aligned preset: comma-separated decoders among sd, sdxl, sd3, flux1, flux2 "
            "(default: all five).",
        ),
    ] = None,
    weights: Annotated[
        Path | None,
        typer.Option(
            "--weights",
            help="Folder or .zip with the decoders' weights (default: $FAKESCOPE_WEIGHTS).",
        ),
    ] = None,
    history: Annotated[
        str | None,
        typer.Option(
            "--history",
            help="equalize (one JPEG history for reals and fakes) or keep (match the source "
            "format); default: the preset's.",
        ),
    ] = None,
    seed: Annotated[
        int | None, typer.Option("--seed", help="Build seed (default: the preset's, 0).")
    ] = None,
    resolution: Annotated[
        int | None,
        typer.Option(
            "--resolution", min=8, help="Working resolution in px (default: the preset's)."
        ),
    ] = None,
    resume: Annotated[
        bool, typer.Option("--resume", help="Continue an interrupted build of the same benchmark.")
    ] = False,
    force: Annotated[
        bool, typer.Option("--force", help="Wipe a benchmark already in --out and rebuild.")
    ] = False,
    device: DeviceOpt = None,
    progress: Annotated[
        bool, typer.Option("--progress/--no-progress", help="Show progress bars.")
    ] = True,
) -> None:
    """Train small generators on real images and write a format-matched fake-image benchmark."""
    with cli_errors():
        import json

        from fakescope.errors import ConfigError
        from fakescope.forge.build import BENCHMARK_JSON, build_benchmark
        from fakescope.forge.generators.tae import decoder_generators
        from fakescope.forge.summary import SUMMARY

        if decoders is not None:
            if generators is not None:
                raise ConfigError("pass either --decoders or --generators, not both")
            generators = ",".join(decoder_generators(decoders))
        if history is not None and history not in ("keep", "equalize"):
            raise ConfigError(f"unknown --history {history!r}; choose equalize or keep")
        root = build_benchmark(
            source,
            out,
            preset,
            generators=generators,
            seed=seed,
            resolution=resolution,
            resume=resume,
            force=force,
            progress=progress,
            device=device or "cpu",
            history=history,
            weights=weights,
        )
        info = json.loads((root / BENCHMARK_JSON).read_text())
        rows = []
        for name, gen in sorted(info["generators"].items()):
            quality = gen.get("quality") or {}
            audit = gen.get("audit") or {}
            flag = " (flag)" if audit.get("file_size_flag") else ""
            fd = quality.get("fd")
            ref = quality.get("fd_real_vs_real")
            rows.append(
                (
                    name,
                    f"{gen['family']}, {gen['steps']} steps, {gen['train_seconds']:.1f} s training, "
                    f"{gen['write_seconds']:.1f} s writing, "
                    f"FD {'-' if fd is None else f'{fd:.1f}'} (real-vs-real "
                    f"{'-' if ref is None else f'{ref:.1f}'}), "
                    f"file-size AUC {audit.get('file_size_auc', float('nan')):.2f}{flag}",
                )
            )
        title = f"benchmark {info['preset']['name']}: {info['format']['description']}"
        console.print(kv_table(rows, title=title))
        console.print(f"benchmark: {root}")
        console.print(f"summary: {root / SUMMARY}")
