"""Face detection and cropping for face-level deepfake scoring (``--faces``).

Faces are found with OpenCV's frontal-face Haar cascade (the XML shipped in
``opencv-python-headless``, ``cv2.data.haarcascades``; no download, CPU only),
on the grey, histogram-equalised image. Each face box is grown by ``margin``
times its side on every side, made square around the box centre and clipped to
the image (:func:`crop_box`), so a face-swap's blending seam stays inside the crop.

Boxes are ``(x0, y0, x1, y1)`` pixel corners (x1, y1 exclusive) in the
original image.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Any

import numpy as np
from PIL import Image

from fakescope.errors import ConfigError

#: The cascade file inside ``cv2.data.haarcascades``.
CASCADE = "haarcascade_frontalface_default.xml"
#: Default crop margin, as a fraction of the face box side.
MARGIN = 0.3
Box = tuple[int, int, int, int]

_local = threading.local()  # one cascade per thread: detectMultiScale is not thread-safe


def _cascade() -> Any:
    cascade = getattr(_local, "cascade", None)
    if cascade is None:
        try:
            import cv2
        except ImportError:
            raise ConfigError(
                "face detection needs OpenCV; install it with: pip install 'opencv-python-headless<5'"
            ) from None
        folder = str(getattr(cv2, "data").haarcascades)  # noqa: B009 - untyped submodule
        cascade = cv2.CascadeClassifier(folder + CASCADE)
        if cascade.empty():
            raise ConfigError(
                f"OpenCV's {CASCADE} could not be loaded; reinstall opencv-python-headless"
            )
        _local.cascade = cascade
    return cascade


@dataclass(frozen=True)
class FaceSettings:
    """Haar cascade settings: ``scale_factor`` (pyramid step), ``min_neighbors``
    (higher = fewer false faces), ``min_size`` (smallest face as a fraction of the
    image's shorter side, at least 24 px) and the crop ``margin``."""

    scale_factor: float = 1.1
    min_neighbors: int = 5
    min_size: float = 0.1
    margin: float = MARGIN

    def __post_init__(self) -> None:
        if not self.scale_factor > 1.0:
            raise ConfigError(f"face scale_factor must be > 1, got {self.scale_factor}")
        if self.min_neighbors < 0:
            raise ConfigError(f"face min_neighbors must be 0 or more, got {self.min_neighbors}")
        if not 0.0 <= self.margin <= 2.0:
            raise ConfigError(f"face margin must be in [0, 2], got {self.margin}")


def detect_faces(image: Image.Image, settings: FaceSettings | None = None) -> list[Box]:
    """Face boxes ``(x0, y0, x1, y1)`` in ``image``, left to right (empty when none)."""
    cascade = _cascade()  # first: a missing OpenCV is a one-line error
    import cv2

    s = settings or FaceSettings()
    grey = np.asarray(image.convert("L"), dtype=np.uint8)
    h, w = grey.shape
    smallest = max(24, int(s.min_size * min(w, h)))
    if min(w, h) < smallest:
        return []
    found = cascade.detectMultiScale(
        cv2.equalizeHist(grey),
        scaleFactor=s.scale_factor,
        minNeighbors=s.min_neighbors,
        minSize=(smallest, smallest),
    )
    boxes = [(int(x), int(y), int(x + bw), int(y + bh)) for x, y, bw, bh in np.asarray(found)]
    return sorted(boxes)  # left to right (then top to bottom)


def crop_box(box: Box, width: int, height: int, margin: float = MARGIN) -> Box:
    """The square crop around ``box`` grown by ``margin`` x its side, clipped to the image."""
    x0, y0, x1, y1 = box
    side = max(x1 - x0, y1 - y0) * (1.0 + 2.0 * margin)
    cx, cy = (x0 + x1) / 2.0, (y0 + y1) / 2.0
    left, top = round(cx - side / 2.0), round(cy - side / 2.0)
    right, bottom = round(cx + side / 2.0), round(cy + side / 2.0)
    return max(0, left), max(0, top), min(width, right), min(height, bottom)


def face_crops(
    image: Image.Image, settings: FaceSettings | None = None
) -> tuple[list[Box], list[Box], list[Image.Image]]:
    """``(faces, crops, crop_images)``: detected boxes, their crop boxes and the RGB crops."""
    s = settings or FaceSettings()
    faces = detect_faces(image, s)
    crops = [crop_box(b, image.width, image.height, s.margin) for b in faces]
    rgb = image.convert("RGB")
    return faces, crops, [rgb.crop(c) for c in crops]
