"""``fakescope perf``: ``speed`` (scan throughput and memory, torch vs onnxruntime),
``latency`` (single-image warm latency and cold start), ``decoders`` (real-decoder
autoencoder images/s), ``heads`` (probe head fit times)
and ``serve`` (load-test the HTTP server). ``fakescope bench`` is the old name."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from fakescope.cli.common import (
    BatchOpt,
    ConfigOpt,
    DeviceOpt,
    ProgressOpt,
    SetOpt,
    WorkersOpt,
    build_config,
    cli_errors,
    kv_table,
    out,
)
from fakescope.cli.scan import BackendOpt

#: The console (kept as a second name: commands with an ``--out`` parameter shadow ``out``).
console = out

app = typer.Typer(help="Benchmarks that print numbers.", no_args_is_help=True)


@app.command("speed")
def speed(
    images: Annotated[
        Path, typer.Option("--images", "-i", help="Folder of images to scan (recursive).")
    ],
    model: Annotated[
        Path | None, typer.Option("--model", "-m", help="A trained bundle to benchmark.")
    ] = None,
    detector: Annotated[
        str | None,
        typer.Option(
            "--detector", help="Benchmark an untrained detector of this kind [detector.name]."
        ),
    ] = None,
    arch: Annotated[
        str | None,
        typer.Option(
            "--arch", help="Architecture of the untrained detector [detector.params.arch]."
        ),
    ] = None,
    img_size: Annotated[
        int | None, typer.Option("--img-size", min=8, help="Input size [detector.params.img_size].")
    ] = None,
    limit: Annotated[int, typer.Option("--limit", "-n", min=1, help="Use at most N images.")] = 500,
    repeats: Annotated[
        int, typer.Option("--repeats", "-r", min=1, help="Runs per measurement (median).")
    ] = 3,
    batch_size: BatchOpt = 64,
    workers: WorkersOpt = None,
    device: DeviceOpt = None,
    config: ConfigOpt = None,
    sets: SetOpt = None,
    progress: ProgressOpt = False,
    backend: BackendOpt = "torch",
    compare_backends: Annotated[
        bool,
        typer.Option(
            "--compare-backends",
            help="With --model: run torch and onnxruntime (CPU) on the same images in this run "
            "and print onnxruntime / torch.",
        ),
    ] = False,
) -> None:
    """Print forward img/s (pre-decoded tensors), scan img/s (end to end), their ratio, and RSS."""
    with cli_errors():
        from fakescope.errors import ConfigError
        from fakescope.inference.verdict import BACKENDS

        if model is not None and any(v is not None for v in (detector, arch, img_size, device)):
            raise ConfigError(
                "--detector/--arch/--img-size/--device build an untrained model; drop them with --model"
            )
        if backend not in BACKENDS:
            raise ConfigError(
                f"backend {backend!r} is not available; use one of {', '.join(BACKENDS)}"
            )
        if model is None and (backend != "torch" or compare_backends):
            raise ConfigError(
                "--backend onnxruntime and --compare-backends need --model BUNDLE (with model.onnx)"
            )
        if compare_backends and backend != "torch":
            raise ConfigError("--compare-backends runs both backends; drop --backend")
        if model is None and detector is None and config is None:
            raise ConfigError(
                "pass --model BUNDLE, or --detector NAME for an untrained model (e.g. --detector cnn)"
            )
        from fakescope.inference.scan import collect_paths
        from fakescope.inference.verdict import VerdictModel
        from fakescope.perf.speed import compare_backends as compare
        from fakescope.perf.speed import measure_speed, untrained_detector

        paths = collect_paths([images])[:limit]
        if model is not None and compare_backends:
            both = compare(
                model,
                paths,
                batch_size=batch_size or 64,
                num_workers=workers,
                repeats=repeats,
                progress=progress,
            )
            out.print(kv_table(both.rows(), title=f"torch vs onnxruntime (CPU) for {model}"))
            return
        if model is not None:
            det = VerdictModel.load(model, backend=backend).detector
            what = f"{model} ({backend})"
        else:
            cfg = build_config(
                config,
                {
                    "detector.name": detector,
                    "detector.params.arch": arch,
                    "detector.params.img_size": img_size,
                    "detector.params.device": device,
                },
                sets,
            )
            out.print(f"building an untrained {cfg.detector.name} detector ...")
            det = untrained_detector(cfg.detector.name, cfg.detector.params)
            what = f"untrained {cfg.detector.name} {cfg.detector.params}"
        result = measure_speed(
            det,
            paths,
            batch_size=batch_size or 64,
            num_workers=workers,
            repeats=repeats,
            progress=progress,
        )
        out.print(kv_table(result.rows(), title=f"speed of {what}"))


@app.command("latency")
def latency(
    model: Annotated[Path, typer.Option("--model", "-m", help="A trained bundle.")],
    images: Annotated[
        Path, typer.Option("--images", "-i", help="Folder of images (recursive) to judge.")
    ],
    n: Annotated[int, typer.Option("--n", "-n", min=1, help="Timed single-image calls.")] = 50,
    warmup: Annotated[int, typer.Option("--warmup", min=0, help="Untimed calls first.")] = 3,
    cold_runs: Annotated[
        int, typer.Option("--cold-runs", min=0, help="Fresh processes for the cold start.")
    ] = 3,
    threads: Annotated[
        int | None,
        typer.Option("--threads", min=1, help="Intra-op threads (emulate a small machine)."),
    ] = None,
    backend: BackendOpt = "torch",
) -> None:
    """Print warm single-image latency (median / p95 ms, VerdictModel.decide_images on
    decoded images) and cold start (new process: imports + bundle load + first image)."""
    with cli_errors():
        from fakescope.bundle import read_meta
        from fakescope.inference.scan import collect_paths
        from fakescope.perf.latency import measure_latency

        read_meta(model)
        result = measure_latency(
            model,
            collect_paths([images]),
            n=n,
            warmup=warmup,
            cold_runs=cold_runs,
            backend=backend,
            threads=threads,
        )
        console.print(kv_table(result.rows(), title=f"single-image latency of {model}"))


@app.command("decoders")
def decoders(
    names: Annotated[
        str, typer.Option("--decoders", help="Comma-separated decoders to time.")
    ] = "sd,sdxl,sd3,flux1,flux2",
    weights: Annotated[
        Path | None,
        typer.Option(
            "--weights", help="Folder or .zip of the weights (default: $FAKESCOPE_WEIGHTS)."
        ),
    ] = None,
    size: Annotated[int, typer.Option("--size", min=8, help="Square image side in px.")] = 256,
    batch: Annotated[int, typer.Option("--batch", min=1, help="Images per call.")] = 8,
    repeats: Annotated[
        int, typer.Option("--repeats", "-r", min=1, help="Timed batches per decoder (median).")
    ] = 3,
    threads: Annotated[
        int | None, typer.Option("--threads", min=1, help="Torch intra-op threads.")
    ] = None,
) -> None:
    """Print images/s of encode + decode for each real-decoder autoencoder (aligned-build cost)."""
    with cli_errors():
        import pandas as pd

        from fakescope.perf.decoders import time_decoders

        chosen = tuple(d.strip() for d in names.split(",") if d.strip())
        rows = time_decoders(
            chosen, weights=weights, size=size, batch=batch, repeats=repeats, threads=threads
        )
        out.print(f"encode + decode, {size} px, batch {batch} (median of {repeats})")
        out.print(pd.DataFrame([r.row() for r in rows]).to_string(index=False))


@app.command("heads")
def heads(
    n: Annotated[int, typer.Option("--n", "-n", min=4, help="Embeddings to fit on.")] = 20_000,
    dim: Annotated[int, typer.Option("--dim", min=1, help="Embedding width D.")] = 1280,
    names: Annotated[
        str, typer.Option("--heads", help="Comma-separated heads to time.")
    ] = "logistic,random_forest,svm_rbf,knn",
    repeats: Annotated[
        int, typer.Option("--repeats", "-r", min=1, help="Fits per head (median).")
    ] = 3,
    seed: Annotated[int, typer.Option("--seed", help="Seed of the synthetic embeddings.")] = 0,
) -> None:
    """Print the median seconds to fit and apply each probe head on N x D embeddings."""
    with cli_errors():
        from fakescope.perf.heads import synthetic_embeddings, time_heads

        x, y = synthetic_embeddings(n, dim, seed=seed)
        chosen = [h.strip() for h in names.split(",") if h.strip()]
        rows = [t.row() for t in time_heads(x, y, chosen, repeats=repeats, seed=seed)]
        import pandas as pd

        out.print(f"probe heads on {n} synthetic embeddings of width {dim} (medians of {repeats})")
        out.print(pd.DataFrame(rows).to_string(index=False))


@app.command("serve")
def serve_load(
    model: Annotated[Path, typer.Option("--model", "-m", help="The bundle to serve.")],
    images: Annotated[
        Path | None,
        typer.Option("--images", "-i", help="Folder of images to send (default: 16 synthetic)."),
    ] = None,
    clients: Annotated[int, typer.Option("--clients", min=1, help="Concurrent clients.")] = 8,
    requests: Annotated[
        int, typer.Option("--requests", min=1, help="One-image requests in the load phase.")
    ] = 400,
    duration: Annotated[
        float, typer.Option("--duration", min=1, help="Stop the load phase after this many s.")
    ] = 60.0,
    overload: Annotated[
        int | None,
        typer.Option(
            "--overload", min=0, help="Requests in the burst (default 3 x --max-concurrent)."
        ),
    ] = None,
    limit: Annotated[int, typer.Option("--limit", "-n", min=1, help="Use at most N images.")] = 64,
    max_concurrent: Annotated[
        int, typer.Option("--max-concurrent", min=1, help="Server's concurrent-request limit.")
    ] = 32,
    max_batch: Annotated[int, typer.Option("--max-batch", min=1, help="Largest micro-batch.")] = 32,
    max_wait_ms: Annotated[
        float, typer.Option("--max-wait-ms", min=0, help="Micro-batch fill wait (ms).")
    ] = 5.0,
    device: DeviceOpt = None,
) -> None:
    """Load-test 'fakescope serve' in-process on 127.0.0.1: latency, images/s, vs a bare forward."""
    with cli_errors():
        from fakescope.bundle import read_meta
        from fakescope.perf.loadtest import folder_images, run_loadtest, synthetic_images
        from fakescope.serve.limits import ServeLimits

        read_meta(model)
        if images is not None:
            from fakescope.inference.scan import collect_paths

            pics = folder_images(collect_paths([images])[:limit])
        else:
            pics = synthetic_images(min(limit, 16))
        limits = ServeLimits(
            max_concurrent=max_concurrent, max_batch=max_batch, max_wait_ms=max_wait_ms
        )
        report = run_loadtest(
            model,
            pics,
            clients=clients,
            requests=requests,
            duration_s=duration,
            overload=overload,
            limits=limits,
            device=device,
        )
        title = f"serving {model} ({len(pics)} distinct images, one per request)"
        console.print(kv_table(report.rows(), title=title))
