"""Safe image decoding: one function every reader in fakescope goes through.

* EXIF orientation is applied (phone photos come out upright);
* every mode (L, P, RGBA, CMYK, I;16, ...) becomes 8-bit RGB (alpha composited on white);
* decompression bombs (more than ``max_pixels``) are refused;
* corrupt, truncated, zero-byte and non-image files raise :class:`DecodeError`
  with a one-line reason, so callers can record a per-file error.
"""

from __future__ import annotations

import io
import warnings
from pathlib import Path

from PIL import Image, ImageOps, UnidentifiedImageError

from fakescope.errors import DecodeError

#: Default limit on decoded pixels (about 16k x 16k): larger images are refused as bombs.
MAX_PIXELS = 256_000_000


def load_image(source: str | Path | bytes, *, max_pixels: int = MAX_PIXELS) -> Image.Image:
    """Decode ``source`` (a path or encoded bytes) into an upright 8-bit RGB image.

    Raises :class:`DecodeError` with a one-line reason on any failure.
    """
    name = "<bytes>" if isinstance(source, bytes) else str(source)
    try:
        if isinstance(source, bytes):
            if not source:
                raise DecodeError(f"{name}: empty input (0 bytes)")
            fp: io.BytesIO | Path = io.BytesIO(source)
        else:
            fp = Path(source)
            if fp.stat().st_size == 0:
                raise DecodeError(f"{name}: empty file (0 bytes)")
        with warnings.catch_warnings():
            # our max_pixels check below replaces PIL's own (89 Mpx) warning
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            with Image.open(fp) as img:
                w, h = img.size
                if w * h > max_pixels:
                    raise DecodeError(
                        f"{name}: {w}x{h} exceeds the {max_pixels:,}-pixel limit "
                        "(decompression bomb?)"
                    )
                img.load()
                upright = ImageOps.exif_transpose(img) or img
                return to_rgb(upright)
    except DecodeError:
        raise
    except FileNotFoundError:
        raise DecodeError(f"{name}: no such file") from None
    except IsADirectoryError:
        raise DecodeError(f"{name}: is a directory, not an image") from None
    except UnidentifiedImageError:
        raise DecodeError(f"{name}: not an image file (unknown format)") from None
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise DecodeError(f"{name}: refused as a decompression bomb ({exc})") from None
    except (OSError, SyntaxError, ValueError) as exc:
        raise DecodeError(f"{name}: corrupt or truncated image ({exc})") from None


def to_rgb(img: Image.Image) -> Image.Image:
    """Convert any PIL mode to 8-bit RGB; transparency is composited on white."""
    if img.mode == "RGB":
        return img
    if img.mode in ("I;16", "I;16B", "I;16L", "I"):
        img = img.point(lambda v: v / 256).convert("L")
    if img.mode == "P" and "transparency" in img.info:
        img = img.convert("RGBA")
    if img.mode in ("RGBA", "LA", "PA"):
        rgba = img.convert("RGBA")
        background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return Image.alpha_composite(background, rgba).convert("RGB")
    return img.convert("RGB")
