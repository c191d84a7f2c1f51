"""``fakescope serve``: the HTTP API and web page for one bundle (uvicorn + FastAPI)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.text import Text

from fakescope.cli.common import DeviceOpt, cli_errors, out
from fakescope.cli.scan import BackendOpt, FacesOpt, ModelOpt

if TYPE_CHECKING:
    from fakescope.serve.limits import ServeLimits

MaxUploadOpt = Annotated[
    float,
    typer.Option("--max-upload-mb", min=0.001, help="Largest request body in MB (413 above)."),
]
MaxFilesOpt = Annotated[int, typer.Option("--max-files", min=1, help="Most images per request.")]
ConcurrentOpt = Annotated[
    int,
    typer.Option("--max-concurrent", min=1, help="Requests handled at once (503 above)."),
]
QueueOpt = Annotated[
    int, typer.Option("--max-queue", min=1, help="Images waiting for the model (503 above).")
]
BatchOpt = Annotated[int, typer.Option("--max-batch", min=1, help="Largest micro-batch.")]
WaitOpt = Annotated[
    float,
    typer.Option("--max-wait-ms", min=0, help="How long a micro-batch waits to fill (ms)."),
]
TimeoutOpt = Annotated[
    float, typer.Option("--timeout", min=0.001, help="Seconds per request (504 after).")
]
PixelsOpt = Annotated[
    int, typer.Option("--max-pixels", min=1, help="Largest image (width x height) accepted.")
]


def limits_from_flags(
    max_upload_mb: float,
    max_files: int,
    max_concurrent: int,
    max_queue: int,
    max_batch: int,
    max_wait_ms: float,
    timeout: float,
    max_pixels: int,
) -> ServeLimits:
    """A :class:`~fakescope.serve.limits.ServeLimits` from the CLI flags."""
    from fakescope.serve.limits import MB, ServeLimits

    return ServeLimits(
        max_upload_bytes=int(max_upload_mb * MB),
        max_files=max_files,
        max_concurrent=max_concurrent,
        max_queue=max_queue,
        max_batch=max_batch,
        max_wait_ms=max_wait_ms,
        timeout_s=timeout,
        max_pixels=max_pixels,
    )


def _check_backend(model: Path, backend: str, device: str | None) -> None:
    """A one-line error now for an unknown backend or a missing ONNX export (a stale one
    is reported by /ready once the background load finds it)."""
    from fakescope.errors import BundleError, ConfigError
    from fakescope.inference.verdict import BACKENDS

    if backend not in BACKENDS:
        raise ConfigError(f"backend {backend!r} is not available; use one of {', '.join(BACKENDS)}")
    if backend == "onnxruntime":
        from fakescope.inference.onnx_runtime import ONNX_FILE, export_hint

        if device is not None:
            raise ConfigError("--device is for the torch backend; onnxruntime runs on CPU")
        if not (model / ONNX_FILE).is_file():
            raise BundleError(f"{model} has no {ONNX_FILE}; run {export_hint(model)}")


def _check_faces() -> None:
    """A one-line error now when face detection cannot run (OpenCV missing)."""
    from PIL import Image

    from fakescope.data.faces import detect_faces

    detect_faces(Image.new("RGB", (32, 32)))


def _check_listen(host: str, port: int) -> None:
    import socket

    from fakescope.errors import ConfigError

    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    try:
        with socket.socket(family, socket.SOCK_STREAM) as s:
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            s.bind((host, port))
    except OSError as exc:
        raise ConfigError(
            f"cannot listen on {host}:{port} ({exc.strerror or exc}); choose another --port or --host"
        ) from None


def serve(
    model: ModelOpt = None,
    host: Annotated[
        str, typer.Option("--host", help="Address to listen on (127.0.0.1 = this machine only).")
    ] = "127.0.0.1",
    port: Annotated[int, typer.Option("--port", "-p", min=0, max=65535, help="TCP port.")] = 8000,
    max_upload_mb: MaxUploadOpt = 20.0,
    max_files: MaxFilesOpt = 64,
    max_concurrent: ConcurrentOpt = 32,
    max_queue: QueueOpt = 256,
    max_batch: BatchOpt = 32,
    max_wait_ms: WaitOpt = 5.0,
    timeout: TimeoutOpt = 30.0,
    max_pixels: PixelsOpt = 40_000_000,
    device: DeviceOpt = None,
    backend: BackendOpt = "torch",
    faces: FacesOpt = False,
    log_level: Annotated[
        str, typer.Option("--log-level", help="uvicorn log level (warning, info, debug).")
    ] = "info",
) -> None:
    """Serve a bundle: POST /v1/detect, GET /v1/model, /health, /ready, and a web page at /.

    Without --model it serves fakescope's default model (named in the first line;
    GET /v1/model shows its release and training data). With --faces every request
    scores faces unless it says ?faces=0; without it a request asks for faces with ?faces=1.
    """
    with cli_errors():
        from fakescope.bundle import read_meta
        from fakescope.inference.default_model import describe, resolve_model

        resolved = resolve_model(model)
        model = resolved.path
        read_meta(model)  # a bad bundle is a one-line error now, not a 503 later
        _check_backend(model, backend, device)
        if faces:
            _check_faces()
        limits = limits_from_flags(
            max_upload_mb, max_files, max_concurrent, max_queue, max_batch, max_wait_ms, timeout,
            max_pixels,
        )  # fmt: skip
        _check_listen(host, port)
        import uvicorn

        from fakescope.serve.app import create_app

        app = create_app(model, limits=limits, backend=backend, device=device, faces=faces)
        shown = f"[{host}]" if ":" in host else host
        extras = f" ({backend}{', faces' if faces else ''})"
        name = describe(resolved.meta) if resolved.is_default else str(model)
        out.print(
            Text(
                f"serving {name}{extras} on http://{shown}:{port}/ "
                "(API schema at /openapi.json; Ctrl-C stops)"
            )
        )
        if host not in ("127.0.0.1", "localhost", "::1"):
            out.print(
                "[yellow]note: listening beyond this machine; the API has no authentication[/]"
            )
        uvicorn.run(app, host=host, port=port, log_level=log_level)
