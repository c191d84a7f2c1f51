"""Request bodies of ``POST /v1/detect`` -> uploads, and the HTTP errors around them.

Two body forms are accepted:

* ``multipart/form-data`` with one or more file parts named ``files``;
* ``application/json`` ``{"images": [{"filename": "a.jpg", "data": "<base64>"}]}``
  (``data`` may also be a ``data:image/...;base64,`` URL).

:func:`read_uploads` returns one :class:`Upload` per input, in order; an input
that is broken on its own (malformed base64, a text part instead of a file)
carries an ``error`` instead of bytes, so one bad file never fails the others.
Problems with the request as a whole raise :class:`ApiError` (status + one-line
message). :class:`BodyLimitMiddleware` enforces the upload size on the raw
body - from ``Content-Length`` up front and by counting bytes while they are
read - before anything is parsed.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Awaitable, Callable, MutableMapping
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel, ConfigDict, ValidationError
from starlette.datastructures import UploadFile
from starlette.requests import Request

from fakescope.serve.limits import ServeLimits

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

#: The multipart field that carries the images.
FILES_FIELD = "files"

#: The request bodies of POST /v1/detect for /openapi.json (the body is parsed by hand).
DETECT_OPENAPI: dict[str, Any] = {
    "parameters": [
        {"name": "explain", "in": "query", "required": False, "schema": {"type": "boolean"}}
    ],
    "requestBody": {
        "required": True,
        "content": {
            "multipart/form-data": {
                "schema": {
                    "type": "object",
                    "required": ["files"],
                    "properties": {
                        "files": {"type": "array", "items": {"type": "string", "format": "binary"}}
                    },
                }
            },
            "application/json": {
                "schema": {
                    "type": "object",
                    "required": ["images"],
                    "properties": {
                        "images": {
                            "type": "array",
                            "items": {
                                "type": "object",
                                "required": ["data"],
                                "properties": {
                                    "filename": {"type": "string"},
                                    "data": {"type": "string", "format": "byte"},
                                },
                            },
                        }
                    },
                }
            },
        },
    },
}


class ApiError(Exception):
    """A request-level error: HTTP ``status`` and a one-line ``message`` (+ extra headers)."""

    def __init__(self, status: int, message: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = " ".join(message.split())
        self.headers = headers or {}


@dataclass
class Upload:
    """One input image: its name and raw bytes, or the one-line reason it is unusable."""

    filename: str
    data: bytes | None = None
    error: str = ""


class _ImageIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    filename: str = ""
    data: str


class _DetectJson(BaseModel):
    model_config = ConfigDict(extra="forbid")
    images: list[_ImageIn]


def validation_message(exc: ValidationError | Any) -> str:
    """One line from a pydantic / FastAPI validation error: ``where: what`` of the first problem."""
    errors = exc.errors() if hasattr(exc, "errors") else []
    if not errors:
        return "invalid request"
    first = errors[0]
    where = ".".join(str(p) for p in first.get("loc", ()) if p != "body")
    more = f" (+{len(errors) - 1} more)" if len(errors) > 1 else ""
    return f"{where or 'request'}: {first.get('msg', 'invalid')}{more}"


def decode_base64(data: str) -> bytes:
    """Bytes of a base64 string or ``data:...;base64,`` URL; raises ValueError when malformed."""
    text = data.strip()
    if text.startswith("data:"):
        head, sep, text = text.partition(",")
        if not sep or ";base64" not in head:
            raise ValueError("data URL is not base64-encoded")
    try:
        return base64.b64decode("".join(text.split()), validate=True)
    except (binascii.Error, ValueError) as exc:
        raise ValueError(f"malformed base64 ({exc})") from None


async def read_uploads(request: Request, limits: ServeLimits) -> list[Upload]:
    """Parse the body of a detect request into uploads (see module docstring).

    Raises :class:`ApiError`: 415 for another content type, 400 for a body
    that is not valid multipart / JSON or has no images, 413 for too many files.
    """
    ctype = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if ctype == "multipart/form-data":
        uploads = await _read_multipart(request, limits)
    elif ctype == "application/json":
        uploads = _read_json(await request.body())
    else:
        raise ApiError(
            415,
            f"unsupported content type {ctype or '(none)'!r}; send multipart/form-data with "
            f"field {FILES_FIELD!r} or application/json with an 'images' list",
        )
    if not uploads:
        raise ApiError(
            400,
            f"no images: send one or more multipart parts named {FILES_FIELD!r} "
            "(or JSON {'images': [...]})",
        )
    if len(uploads) > limits.max_files:
        raise ApiError(
            413, f"{len(uploads)} images in one request; the limit is {limits.max_files}"
        )
    return uploads


async def _read_multipart(request: Request, limits: ServeLimits) -> list[Upload]:
    # max_files + 1 so that "too many files" is our 413, not the parser's 400
    form = await request.form(max_files=limits.max_files + 1, max_fields=limits.max_files + 16)
    uploads: list[Upload] = []
    for i, part in enumerate(form.getlist(FILES_FIELD)):
        if isinstance(part, UploadFile):
            uploads.append(Upload(part.filename or f"file{i}", await part.read()))
        else:
            uploads.append(
                Upload(f"file{i}", error=f"field {FILES_FIELD!r} holds text, not a file")
            )
    await form.close()
    return uploads


def _read_json(body: bytes) -> list[Upload]:
    try:
        raw = json.loads(body)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ApiError(400, f"body is not valid JSON ({exc})") from None
    try:
        parsed = _DetectJson.model_validate(raw)
    except ValidationError as exc:
        raise ApiError(400, f"bad JSON request: {validation_message(exc)}") from None
    uploads = []
    for i, item in enumerate(parsed.images):
        name = item.filename or f"image{i}"
        try:
            uploads.append(Upload(name, decode_base64(item.data)))
        except ValueError as exc:
            uploads.append(Upload(name, error=str(exc)))
    return uploads


def _json_bytes(payload: dict[str, Any]) -> bytes:
    return json.dumps(payload).encode()


async def send_json(
    send: Send, status: int, payload: dict[str, Any], headers: dict[str, str] | None = None
) -> None:
    """Send a complete JSON response through a raw ASGI ``send``."""
    body = _json_bytes(payload)
    raw_headers = [
        (b"content-type", b"application/json"),
        (b"content-length", str(len(body)).encode()),
        (b"connection", b"close"),
    ] + [(k.lower().encode(), v.encode()) for k, v in (headers or {}).items()]
    await send({"type": "http.response.start", "status": status, "headers": raw_headers})
    await send({"type": "http.response.body", "body": body})


class _TooLargeError(Exception):
    pass


class BodyLimitMiddleware:
    """Pure ASGI middleware: 413 when a request body exceeds ``max_bytes``.

    Checks ``Content-Length`` before reading and counts the bytes actually
    received (chunked bodies, lying headers), aborting the request as soon
    as the count passes the limit.
    """

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    def _message(self) -> str:
        return f"request body larger than the limit of {self.max_bytes} bytes; send fewer or smaller images"

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        length = dict(scope.get("headers") or []).get(b"content-length")
        if length is not None:
            try:
                declared = int(length)
            except ValueError:
                await send_json(send, 400, {"error": "Content-Length is not a number"})
                return
            if declared > self.max_bytes:
                await send_json(send, 413, {"error": self._message()})
                return
        received = 0
        started = False

        async def counting_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_bytes:
                    raise _TooLargeError
            return message

        async def tracking_send(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, counting_receive, tracking_send)
        except _TooLargeError:
            if not started:
                await send_json(send, 413, {"error": self._message()})
