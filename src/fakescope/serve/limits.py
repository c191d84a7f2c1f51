"""Limits of the HTTP server and the safe decoding of uploaded image bytes.

:class:`ServeLimits` holds every bound the server enforces (upload size,
files per request, concurrency, queue, micro-batch size and wait, request
timeout, decoded pixels). :func:`decode_image` turns uploaded bytes into an
RGB PIL image or raises :class:`~fakescope.errors.DecodeError` with a one-line
reason - it never lets a hostile file (zero bytes, truncated, not an image, a
decompression bomb) escape as anything else.
"""

from __future__ import annotations

import io
from dataclasses import dataclass

from PIL import Image, UnidentifiedImageError

from fakescope.errors import ConfigError, DecodeError

MB = 1024 * 1024


@dataclass(frozen=True)
class ServeLimits:
    """Bounds the server enforces; the defaults suit one CPU box.

    * ``max_upload_bytes``: largest request body (413 above it).
    * ``max_files``: most images in one request (413 above it).
    * ``max_concurrent``: requests handled at once (503 + Retry-After above it).
    * ``max_queue``: images waiting for the model at once (503 + Retry-After above it).
    * ``max_batch`` / ``max_wait_ms``: micro-batching - the model worker runs at
      most ``max_batch`` images together and waits at most ``max_wait_ms`` for a
      batch to fill once a first image arrived.
    * ``timeout_s``: seconds a request may take from decoding to its verdicts (504 after).
    * ``max_pixels``: largest decoded image (width x height); bigger is a bad image.
    * ``retry_after_s``: the Retry-After hint of a 503.
    """

    max_upload_bytes: int = 20 * MB
    max_files: int = 64
    max_concurrent: int = 32
    max_queue: int = 256
    max_batch: int = 32
    max_wait_ms: float = 5.0
    timeout_s: float = 30.0
    max_pixels: int = 40_000_000
    retry_after_s: int = 1

    def __post_init__(self) -> None:
        for name in ("max_upload_bytes", "max_files", "max_concurrent", "max_queue", "max_batch"):
            if getattr(self, name) < 1:
                raise ConfigError(f"serve limit {name} must be >= 1, got {getattr(self, name)}")
        for name in ("max_wait_ms", "timeout_s"):
            if getattr(self, name) < 0:
                raise ConfigError(f"serve limit {name} must be >= 0, got {getattr(self, name)}")
        if self.timeout_s == 0:
            raise ConfigError("serve limit timeout_s must be > 0")
        if self.max_pixels < 1:
            raise ConfigError(f"serve limit max_pixels must be >= 1, got {self.max_pixels}")


def decode_image(data: bytes, max_pixels: int) -> Image.Image:
    """Decode ``data`` into an RGB image of at most ``max_pixels`` pixels (first frame).

    The size is checked from the header before any pixel is decoded, so a
    small file claiming huge dimensions costs nothing. Raises
    :class:`DecodeError` (one line) for empty, truncated, non-image or oversized data.
    """
    if not data:
        raise DecodeError("empty file (0 bytes); send the image's bytes")
    limit = min(max_pixels, Image.MAX_IMAGE_PIXELS or max_pixels)
    try:
        with Image.open(io.BytesIO(data)) as img:
            width, height = img.size
            if width * height > limit:
                raise DecodeError(
                    f"image too large: {width}x{height} pixels exceeds the limit of {limit}; "
                    "downscale it first"
                )
            img.load()
            return img.convert("RGB")
    except DecodeError:
        raise
    except Image.DecompressionBombError as exc:
        raise DecodeError(f"image too large (decompression bomb): {exc}") from None
    except UnidentifiedImageError:
        raise DecodeError("not an image (unrecognised format); send a JPEG, PNG or WebP") from None
    except Exception as exc:  # Pillow raises OSError, ValueError, SyntaxError, ... on bad data
        reason = " ".join(str(exc).split()) or type(exc).__name__
        raise DecodeError(f"cannot decode image: {reason}") from None
