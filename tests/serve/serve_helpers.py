"""Stand-in models and image bytes for the HTTP app tests (no torch model needed).

:class:`MeanModel` answers P(fake) = mean pixel value / 255 of each image (a
hand computation the tests can repeat), records the size of every batch it
gets, and can be held at a gate so tests control when the worker proceeds.
"""

from __future__ import annotations

import io
import struct
import threading
import time
import zlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

#: Upper bound of every wait loop in these tests (they normally end in milliseconds).
WAIT_S = 20.0


@dataclass(frozen=True)
class FakeVerdict:
    """Same fields as :class:`fakescope.inference.verdict.Verdict`."""

    path: str
    p_fake: float | None
    p_fake_raw: float | None
    verdict: str
    reason: str
    ood_score: float | None
    cls: str
    error: str


class MeanModel:
    """P(fake) = mean(pixels) / 255; "fake" at >= 0.5. Optionally blocks on ``gate``."""

    def __init__(self, gated: bool = False) -> None:
        self.batch_sizes: list[int] = []
        self.gate = threading.Event()
        if not gated:
            self.gate.set()
        self.entered = threading.Event()
        self.threads: set[str] = set()

    def decide_images(
        self, images: Sequence[Image.Image], names: Sequence[str] | None = None
    ) -> list[FakeVerdict]:
        self.threads.add(threading.current_thread().name)
        self.batch_sizes.append(len(images))
        self.entered.set()
        assert self.gate.wait(WAIT_S), "test gate never opened"
        names = list(names) if names is not None else [f"image-{i}" for i in range(len(images))]
        out = []
        for name, img in zip(names, images, strict=True):
            p = float(np.asarray(img.convert("RGB"), dtype=np.float64).mean() / 255.0)
            verdict = "fake" if p >= 0.5 else "real"
            out.append(FakeVerdict(name, p, p, verdict, f"{verdict} by mean", None, verdict, ""))
        return out


def image_bytes(value: int, size: int = 8, fmt: str = "PNG") -> bytes:
    """A flat ``size`` x ``size`` RGB image of grey level ``value``, encoded as ``fmt``."""
    buf = io.BytesIO()
    Image.new("RGB", (size, size), (value, value, value)).save(buf, format=fmt)
    return buf.getvalue()


def png_bomb(width: int = 100_000, height: int = 100_000) -> bytes:
    """A tiny PNG whose header claims ``width`` x ``height`` pixels (a decompression bomb)."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return (
            struct.pack(">I", len(data))
            + kind
            + data
            + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)
        )

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    idat = zlib.compress(b"\x00" * 64)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", idat) + chunk(b"IEND", b"")


def wait_until(cond: Callable[[], bool], what: str) -> None:
    """Poll ``cond`` every 10 ms for at most :data:`WAIT_S` seconds; fail with ``what``."""
    deadline = time.monotonic() + WAIT_S
    while not cond():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.01)


def tiny_bundle_at(root: Path) -> Path:
    """Fit the test-only ``tiny-test`` detector (mean colours) on a tiny dataset; its bundle.

    Needs :func:`tests.cli.tiny_detector.tiny_registered` active (import it into the test module).
    """
    from fakescope.data.index import index_dataset
    from fakescope.data.schema import SPLIT
    from tests.cli.tiny_detector import TinyDetector, make_dataset

    data = make_dataset(root / "data", n=6, generators=("gan",))
    table = index_dataset(data)
    det = TinyDetector({"steps": 100, "num_workers": 0})
    det.fit(table[table[SPLIT] == "train"], table[table[SPLIT] == "val"])
    return det.save(root / "bundle")


@pytest.fixture(scope="module")
def tiny_bundle(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A ``tiny-test`` bundle (no calibration, no OOD) fitted once per test module."""
    from fakescope.detectors.base import DETECTORS
    from tests.cli.tiny_detector import NAME, TinyDetector

    added = NAME not in DETECTORS
    if added:
        DETECTORS.register(NAME)(TinyDetector)
    try:
        return tiny_bundle_at(tmp_path_factory.mktemp("serve-tiny"))
    finally:
        if added:
            DETECTORS.unregister(NAME)
