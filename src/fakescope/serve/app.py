"""The HTTP app (FastAPI): ``POST /v1/detect``, health/readiness, model info, the web page.

Build it with :func:`create_app` and run it with any ASGI server
(``fakescope serve`` uses uvicorn). Endpoints:

* ``GET /health`` - 200 while the process is alive.
* ``GET /ready`` - 200 once the model is loaded, 503 before (or when loading failed).
* ``GET /v1/model`` - bundle info (detector, classes, threshold, calibration,
  unsure band, OOD scorer, training meta); 503 until ready.
* ``POST /v1/detect[?explain=1][&faces=1]`` - one result per input image, in order:
  ``{"results": [{"filename", "p_fake", "p_fake_raw", "verdict", "reason",
  "ood_score", "ood", "class", "error"}]}``. ``p_fake`` is the calibrated
  P(fake) in [0, 1] (raw when the bundle has no calibration; higher = more
  likely fake). All verdict logic is :mod:`fakescope.inference.decision`'s.
  ``faces=1`` (or a server started with ``faces=True``; ``faces=0`` turns it
  off per request) scores every detected face and judges the image by its
  most-fake face; each result then has ``faces``: a list of ``{"box", "crop",
  "p_fake", "p_fake_raw", "verdict", "reason", "ood_score", "class"}`` (boxes
  ``[x0, y0, x1, y1]`` in pixels of the uploaded image; empty when no face was
  found and the whole image was scored).
* ``GET /`` - the web page (static files in ``serve/static``, no CDN).

Errors are always one-line JSON ``{"error": "..."}``. Input policy: a file
that cannot be used (not an image, truncated, too many pixels, bad base64)
gets a result with ``error`` set and empty ``verdict`` while the other files
are still judged; when *no* input of the request is usable the whole request
is 400. Wrong content type 415; body over the size limit or too many files
413; concurrency or queue full 503 with ``Retry-After``; model not ready 503;
request over its time limit 504; ``explain=1`` without a heatmap module 501;
``faces=1`` without OpenCV 501.
"""

from __future__ import annotations

import asyncio
import base64
import math
import threading
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import anyio
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, JSONResponse
from fastapi.staticfiles import StaticFiles
from PIL import Image
from starlette.exceptions import HTTPException as StarletteHTTPException

from fakescope.data.faces import FaceSettings
from fakescope.errors import DecodeError
from fakescope.serve.batcher import BatcherClosedError, MicroBatcher, QueueFullError
from fakescope.serve.explain_hook import explain_unavailable, find_explainer
from fakescope.serve.inputs import (
    DETECT_OPENAPI,
    ApiError,
    BodyLimitMiddleware,
    Upload,
    read_uploads,
    validation_message,
)
from fakescope.serve.limits import ServeLimits, decode_image
from fakescope.serve.model_info import model_info

STATIC = Path(__file__).parent / "static"


@dataclass
class _Job:
    name: str
    image: Image.Image
    explain: bool
    faces: bool = False


@dataclass
class _Output:
    verdict: Any
    png: bytes | None
    explain_error: str


@dataclass
class ServerState:
    """Everything one app instance shares between requests (the model is only used by the worker)."""

    limits: ServeLimits
    bundle: Path | None
    model: Any = None
    load_error: str = ""
    info: dict[str, Any] = field(default_factory=dict)
    batcher: MicroBatcher[_Job, _Output] | None = None
    explainer: Callable[[Any, Image.Image], bytes] | None = None
    no_explain: str = "the model is not loaded yet"
    in_flight: int = 0
    faces: bool = False
    face_settings: FaceSettings | None = None
    _no_faces: str | None = None

    def set_model(self, model: Any) -> None:
        """Install a loaded model (info and explain availability first, then readiness)."""
        self.no_explain = explain_unavailable(model, self.explainer)
        self.info = model_info(model, self.bundle, not self.no_explain)
        self.model = model

    def faces_unavailable(self) -> str:
        """Why ``faces=1`` cannot work here ("" when it can; checked once: OpenCV present)."""
        if self._no_faces is None:
            from fakescope.data.faces import detect_faces

            try:
                detect_faces(Image.new("RGB", (32, 32)), self.face_settings)
                self._no_faces = ""
            except Exception as exc:  # ConfigError: "face detection needs OpenCV; ..."
                self._no_faces = " ".join(str(exc).split()) or type(exc).__name__
        return self._no_faces

    def _verdicts(self, jobs: list[_Job]) -> list[Any]:
        """One ``decide_images`` call per face setting present in the batch, merged in order."""
        verdicts: list[Any] = [None] * len(jobs)
        for faces in (False, True):
            idx = [i for i, j in enumerate(jobs) if j.faces == faces]
            if not idx:
                continue
            images, names = [jobs[i].image for i in idx], [jobs[i].name for i in idx]
            if faces:
                got = self.model.decide_images(
                    images, names, faces=True, face_settings=self.face_settings
                )
            else:  # plain call: stand-in models need not know about faces
                got = self.model.decide_images(images, names)
            for i, v in zip(idx, got, strict=True):
                verdicts[i] = v
        return verdicts

    def run_batch(self, jobs: list[_Job]) -> list[_Output]:
        """Worker-thread side: verdicts for a micro-batch (+ heatmaps where asked).

        A heatmap that fails is that image's ``explain_error``, never the batch's failure.
        """
        verdicts = self._verdicts(jobs)
        out: list[_Output] = []
        for job, verdict in zip(jobs, verdicts, strict=True):
            png, problem = None, ""
            if job.explain and self.explainer is not None and not getattr(verdict, "error", ""):
                try:
                    png = self.explainer(self.model, job.image)
                except Exception as exc:
                    problem = " ".join(str(exc).split()) or type(exc).__name__
            out.append(_Output(verdict, png, problem))
        return out


def _clean(value: Any) -> Any:
    """JSON-safe scalar: NaN/inf -> None, numpy scalars -> Python."""
    if hasattr(value, "item") and not isinstance(value, str | bytes):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def verdict_json(filename: str, output: _Output) -> dict[str, Any]:
    """The JSON result of one judged image (``filename`` as the client sent it)."""
    verdict, png = output.verdict, output.png
    ood_score = _clean(getattr(verdict, "ood_score", None))
    result = {
        "filename": filename,
        "p_fake": _clean(getattr(verdict, "p_fake", None)),
        "p_fake_raw": _clean(getattr(verdict, "p_fake_raw", None)),
        "verdict": getattr(verdict, "verdict", None) or "",
        "reason": getattr(verdict, "reason", ""),
        "ood_score": ood_score,
        "ood": None if ood_score is None else bool(getattr(verdict, "ood", False)),
        "class": getattr(verdict, "cls", None) or "",
        "error": getattr(verdict, "error", "") or "",
    }
    faces = getattr(verdict, "faces", None)
    if faces is not None:
        result["faces"] = [
            {k: _clean(v) if not isinstance(v, list) else v for k, v in f.to_dict().items()}
            for f in faces
        ]
    if png is not None:
        result["heatmap_png"] = base64.b64encode(png).decode("ascii")
    if output.explain_error:
        result["explain_error"] = output.explain_error
    return result


def error_json(filename: str, error: str) -> dict[str, Any]:
    """The JSON result of an input that could not be judged."""
    return {
        "filename": filename,
        "p_fake": None,
        "p_fake_raw": None,
        "verdict": "",
        "reason": "",
        "ood_score": None,
        "ood": None,
        "class": None,
        "error": error,
    }


def _error(status: int, message: str, headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse({"error": " ".join(str(message).split())}, status, headers=headers)


def _decode_all(uploads: Sequence[Upload], max_pixels: int) -> list[Image.Image | str]:
    out: list[Image.Image | str] = []
    for up in uploads:
        if up.data is None:
            out.append(up.error)
            continue
        try:
            out.append(decode_image(up.data, max_pixels))
        except DecodeError as exc:
            out.append(str(exc))
    return out


def _parse_flag(value: str | None, name: str, default: bool = False) -> bool:
    if value is None:
        return default
    v = value.strip().lower()
    if v in ("1", "true", "yes", "on"):
        return True
    if v in ("", "0", "false", "no", "off"):
        return False
    raise ApiError(400, f"query parameter {name}={value!r} must be 1/true or 0/false")


def _load_in_background(state: ServerState, backend: str, device: str | None) -> None:
    try:
        from fakescope.inference.verdict import VerdictModel

        assert state.bundle is not None
        state.set_model(VerdictModel.load(state.bundle, backend=backend, device=device))
    except Exception as exc:  # reported by /ready; the process stays up
        state.load_error = " ".join(str(exc).split()) or type(exc).__name__


def create_app(
    bundle: str | Path | None = None,
    *,
    model: Any = None,
    limits: ServeLimits | None = None,
    backend: str = "torch",
    device: str | None = None,
    explainer: Callable[[Any, Image.Image], bytes] | bool | None = True,
    faces: bool = False,
    face_settings: FaceSettings | None = None,
) -> FastAPI:
    """A FastAPI app serving ``bundle`` (loaded in the background at startup) or ``model``.

    ``model`` is a ready :class:`~fakescope.inference.verdict.VerdictModel` (or
    anything with ``decide_images``); ``bundle`` is still read for ``/v1/model``
    when given. ``backend`` / ``device``: how ``bundle`` is loaded.
    ``explainer``: True = use :func:`find_explainer`, False/None = none, or a
    callable ``(model, image) -> PNG bytes``. ``faces``: score faces unless a request
    says ``faces=0`` (``face_settings``: detection and crop margin; default
    :class:`~fakescope.data.faces.FaceSettings`).
    """
    if bundle is None and model is None:
        raise ValueError("create_app needs a bundle path or a model")
    lim = limits or ServeLimits()
    if explainer is True:
        explain_fn = find_explainer()
    else:
        explain_fn = explainer if callable(explainer) else None
    state = ServerState(
        lim,
        Path(bundle) if bundle is not None else None,
        explainer=explain_fn,
        faces=faces,
        face_settings=face_settings,
    )

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        state.batcher = MicroBatcher(
            state.run_batch,
            max_batch=lim.max_batch,
            max_wait_ms=lim.max_wait_ms,
            max_queue=lim.max_queue,
        )
        if model is not None:
            state.set_model(model)
        else:
            threading.Thread(
                target=_load_in_background, args=(state, backend, device), daemon=True
            ).start()
        try:
            yield
        finally:
            state.batcher.close()

    app = FastAPI(
        title="fakescope",
        summary="Is this image AI-generated? P(fake), verdicts, unsure band, OOD flag.",
        lifespan=lifespan,
        docs_url=None,  # FastAPI's docs pages load from a CDN; the schema is at /openapi.json
        redoc_url=None,
    )
    app.state.fakescope = state
    app.add_middleware(BodyLimitMiddleware, max_bytes=lim.max_upload_bytes)
    _install_error_handlers(app)

    def not_ready() -> JSONResponse:
        msg = (
            f"model failed to load: {state.load_error}"
            if state.load_error
            else "model is still loading; retry shortly"
        )
        retry = {} if state.load_error else {"Retry-After": str(lim.retry_after_s)}
        return _error(503, msg, retry)

    @app.get("/health")
    async def health() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/ready")
    async def ready() -> Any:
        return {"status": "ready"} if state.model is not None else not_ready()

    @app.get("/v1/model")
    async def model_endpoint() -> Any:
        return state.info if state.model is not None else not_ready()

    @app.post("/v1/detect", openapi_extra=DETECT_OPENAPI)
    async def detect(request: Request) -> Any:
        if state.model is None:
            return not_ready()
        if state.in_flight >= lim.max_concurrent:
            return _error(
                503,
                f"server busy: {state.in_flight} requests in progress (limit {lim.max_concurrent}); retry shortly",
                {"Retry-After": str(lim.retry_after_s)},
            )
        state.in_flight += 1
        try:
            explain = _parse_flag(request.query_params.get("explain"), "explain")
            if explain and state.no_explain:
                return _error(501, f"explain=1 is not available: {state.no_explain}")
            faces = _parse_flag(request.query_params.get("faces"), "faces", state.faces)
            if faces and state.faces_unavailable():
                return _error(501, f"faces=1 is not available: {state.faces_unavailable()}")
            uploads = await read_uploads(request, lim)
            try:
                results = await asyncio.wait_for(
                    _judge(state, uploads, explain, faces), lim.timeout_s
                )
            except TimeoutError:
                return _error(504, f"request took longer than {lim.timeout_s:g} s; retry later")
            return {"results": results}
        except ApiError as exc:
            return _error(exc.status, exc.message, exc.headers)
        finally:
            state.in_flight -= 1

    @app.get("/", include_in_schema=False)
    async def index() -> FileResponse:
        return FileResponse(STATIC / "index.html", headers={"Cache-Control": "no-cache"})

    app.mount("/static", StaticFiles(directory=STATIC), name="static")
    return app


async def _judge(
    state: ServerState, uploads: list[Upload], explain: bool, faces: bool = False
) -> list[dict[str, Any]]:
    """Decode (worker threads), queue the good images for the model, and merge in order."""
    decoded = await anyio.to_thread.run_sync(_decode_all, uploads, state.limits.max_pixels)
    good = [(i, d) for i, d in enumerate(decoded) if isinstance(d, Image.Image)]
    if not good:
        if len(uploads) == 1:
            raise ApiError(400, f"{uploads[0].filename}: {decoded[0]}")
        raise ApiError(
            400,
            f"none of the {len(uploads)} inputs is a usable image; first: "
            f"{uploads[0].filename}: {decoded[0]}",
        )
    assert state.batcher is not None
    try:
        futures = state.batcher.submit(
            [_Job(uploads[i].filename, img, explain, faces) for i, img in good]
        )
    except QueueFullError as exc:
        raise ApiError(
            503, f"server busy: {exc}", {"Retry-After": str(state.limits.retry_after_s)}
        ) from None
    except BatcherClosedError as exc:
        raise ApiError(503, str(exc)) from None
    wrapped = [asyncio.wrap_future(f) for f in futures]
    try:
        outputs = await asyncio.gather(*wrapped)
    except asyncio.CancelledError:
        for f in futures:
            f.cancel()
        raise
    by_index = {i: out for (i, _), out in zip(good, outputs, strict=True)}
    results = []
    for i, (up, d) in enumerate(zip(uploads, decoded, strict=True)):
        if i in by_index:
            results.append(verdict_json(up.filename, by_index[i]))
        else:
            results.append(error_json(up.filename, str(d)))
    return results


def _install_error_handlers(app: FastAPI) -> None:
    """Every error becomes one-line JSON ``{"error": ...}`` (never FastAPI's verbose 422)."""

    @app.exception_handler(RequestValidationError)
    async def _validation(_: Request, exc: RequestValidationError) -> JSONResponse:
        return _error(400, f"bad request: {validation_message(exc)}")

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        where = f"{request.method} {request.url.path}"
        if exc.status_code == 404:
            message = f"no such endpoint: {where}; the API is described at /openapi.json"
        elif exc.status_code == 405:
            message = f"method not allowed: {where}; the API is described at /openapi.json"
        else:
            message = str(exc.detail)
        return _error(exc.status_code, message, getattr(exc, "headers", None))

    @app.exception_handler(Exception)
    async def _unexpected(_: Request, exc: Exception) -> JSONResponse:
        return _error(500, f"internal error: {type(exc).__name__}: {exc}")
