"""Speed and memory benchmark of a detector (``fakescope perf speed``).

Two numbers, both the median over ``repeats`` runs:

* **forward img/s**: the bare model on pre-decoded, pre-transformed tensors
  [B, 3, H, W] (no file I/O, no decoding) - the ceiling;
* **scan img/s**: :func:`fakescope.inference.scan.scan_paths` end to end (decode +
  transforms in DataLoader workers + forward + writing a CSV).

Their ratio shows how much the input pipeline costs. :func:`compare_backends`
runs both for a bundle's torch weights and its ``model.onnx`` (onnxruntime) on
the same images in one process and reports onnxruntime / torch. Memory: the main
process's resident set size (RSS) is sampled in a background thread while the
scans run; the RSS at 10% of the scan time and at the end show whether memory
stays flat (a leak grows between the two), plus the peak.
"""

from __future__ import annotations

import gc
import resource
import statistics
import sys
import tempfile
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from fakescope.data.decode import load_image
from fakescope.data.transforms import eval_transform
from fakescope.detectors.base import Detector
from fakescope.errors import ConfigError, DataError, DecodeError
from fakescope.inference.scan import P_FAKE_RAW_COL, scan_paths, write_results

MB = 1024.0 * 1024.0


def current_rss() -> int:
    """Resident set size of this process in bytes (psutil, else /proc, else the peak)."""
    try:
        import psutil

        return int(psutil.Process().memory_info().rss)
    except ImportError:
        pass
    try:
        pages = int(Path("/proc/self/statm").read_text().split()[1])
        return pages * resource.getpagesize()
    except (OSError, IndexError, ValueError):
        return peak_rss()


def peak_rss() -> int:
    """Peak resident set size of this process so far, in bytes (``getrusage``)."""
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return int(peak if sys.platform == "darwin" else peak * 1024)


class RssSampler:
    """Background thread recording ``(seconds since start, RSS bytes)`` every ``interval`` s.

    Use as a context manager; :meth:`at_fraction` reads the RSS at a fraction of
    the sampled time span.
    """

    def __init__(self, interval: float = 0.05) -> None:
        self.interval = interval
        self.samples: list[tuple[float, int]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="rss-sampler", daemon=True)
        self._t0 = 0.0

    def _loop(self) -> None:
        while True:
            self.samples.append((time.perf_counter() - self._t0, current_rss()))
            if self._stop.wait(self.interval):
                break

    def __enter__(self) -> RssSampler:
        self._t0 = time.perf_counter()
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self.samples.append((time.perf_counter() - self._t0, current_rss()))

    def at_fraction(self, fraction: float) -> int:
        """RSS (bytes) of the first sample taken at or after ``fraction`` of the time span."""
        if not self.samples:
            return current_rss()
        end = self.samples[-1][0]
        for t, rss in self.samples:
            if t >= fraction * end:
                return rss
        return self.samples[-1][1]

    @property
    def peak(self) -> int:
        """Largest sampled RSS in bytes."""
        return max((rss for _, rss in self.samples), default=current_rss())


@dataclass
class SpeedResult:
    """Benchmark numbers (img/s are medians over ``repeats``; memory in MiB)."""

    n_images: int
    batch_size: int
    num_workers: int | None
    repeats: int
    device: str
    forward_ips: float
    scan_ips: float
    rss_10pct_mb: float
    rss_end_mb: float
    peak_rss_mb: float
    forward_runs: list[float] = field(default_factory=list)
    scan_runs: list[float] = field(default_factory=list)
    backend: str = "torch"
    #: raw P(fake) [N] of every path from the last scan (NaN for files that failed).
    p_fake: np.ndarray = field(default_factory=lambda: np.zeros(0))

    @property
    def ratio(self) -> float:
        """scan img/s / forward img/s (1.0 = the input pipeline costs nothing)."""
        return self.scan_ips / self.forward_ips if self.forward_ips > 0 else float("nan")

    def rows(self) -> list[tuple[str, str]]:
        """(name, value) pairs for printing."""
        workers = "auto" if self.num_workers is None else str(self.num_workers)
        return [
            ("images", str(self.n_images)),
            ("backend", self.backend),
            ("batch size / workers / device", f"{self.batch_size} / {workers} / {self.device}"),
            ("repeats (median)", str(self.repeats)),
            ("forward img/s (pre-decoded tensors)", f"{self.forward_ips:,.1f}"),
            ("scan img/s (decode+transform+forward+CSV)", f"{self.scan_ips:,.1f}"),
            ("scan / forward", f"{self.ratio:.2f}"),
            ("RSS at 10% of scan time (MiB)", f"{self.rss_10pct_mb:,.0f}"),
            ("RSS at end (MiB)", f"{self.rss_end_mb:,.0f}"),
            ("peak RSS during scans (MiB)", f"{self.peak_rss_mb:,.0f}"),
        ]


def predecode(detector: Detector, paths: Sequence[str | Path]) -> torch.Tensor:
    """Decode and transform the decodable files of ``paths``: tensor [N, 3, S, S]."""
    transform = eval_transform(detector.input_config)
    tensors = []
    for p in paths:
        try:
            tensors.append(transform(load_image(p)))
        except DecodeError:
            continue
    if not tensors:
        raise DataError("none of the benchmark images could be decoded; pass a folder of images")
    return torch.stack(tensors)


def time_forward(detector: Detector, x: torch.Tensor, batch_size: int) -> float:
    """Images per second of the bare model on ``x`` [N, 3, H, W] (after one warm-up batch)."""
    with torch.inference_mode():
        detector._proba_batch(x[:batch_size])
        start = time.perf_counter()
        for i in range(0, len(x), batch_size):
            detector._proba_batch(x[i : i + batch_size])
        elapsed = time.perf_counter() - start
    return len(x) / max(elapsed, 1e-9)


def untrained_detector(name: str, params: Mapping[str, Any] | None = None) -> Detector:
    """A ``name`` detector with (essentially) random weights, for speed benchmarks only.

    Built through the public API so it works for every detector: fitted on four
    synthetic noise images (two per label) for one epoch when the detector has an
    ``epochs`` param (unless ``params`` sets it). Its scores mean nothing; its
    speed is the real one.
    """
    import numpy as np
    from PIL import Image

    from fakescope.data.schema import Sample, make_table
    from fakescope.detectors.catalog import DETECTORS

    cls = DETECTORS.get(name)
    raw = dict(params or {})
    if "epochs" in cls.Params.model_fields:
        raw.setdefault("epochs", 1)
    if "progress" in cls.Params.model_fields:
        raw.setdefault("progress", False)
    detector = cls(raw)
    rng = np.random.default_rng(0)
    with tempfile.TemporaryDirectory(prefix="fakescope-untrained-") as tmp:
        samples = []
        for i in range(4):
            path = Path(tmp) / f"{i}.png"
            Image.fromarray(rng.integers(0, 256, (32, 32, 3), dtype=np.uint8)).save(path)
            samples.append(Sample(str(path), label=i % 2, generator="noise", split="train"))
        detector.fit(make_table(samples), None, workdir=Path(tmp) / "work")
    return detector


def measure_speed(
    detector: Detector,
    paths: Sequence[str | Path],
    *,
    batch_size: int = 64,
    num_workers: int | None = None,
    repeats: int = 3,
    forward_images: int = 1024,
    progress: bool = False,
) -> SpeedResult:
    """Benchmark a fitted ``detector`` on the image files ``paths`` (see module docstring).

    The scans run first (so the pre-decoded tensors do not inflate their RSS),
    then the bare forward passes on the first ``forward_images`` files (held in
    memory as tensors, so capped: 60,000 images at 128 px would need 12 GB).
    ``progress`` shows a bar for each scan.
    """
    detector.check_fitted()
    if repeats < 1:
        raise ConfigError(f"repeats must be at least 1, got {repeats}")
    if batch_size < 1:
        raise ConfigError(f"batch size must be at least 1, got {batch_size}")
    if not paths:
        raise DataError("no benchmark images; pass a folder of images")
    scan_runs: list[float] = []
    p_fake = np.zeros(0)
    with tempfile.TemporaryDirectory(prefix="fakescope-bench-") as tmp, RssSampler() as sampler:
        for r in range(repeats):
            start = time.perf_counter()
            table = scan_paths(
                detector,
                paths,
                batch_size=batch_size,
                num_workers=num_workers,
                progress=f"scan {r + 1}/{repeats}" if progress else None,
            )
            write_results(table, Path(tmp) / "scan.csv")
            scan_runs.append(len(paths) / max(time.perf_counter() - start, 1e-9))
            p_fake = table[P_FAKE_RAW_COL].to_numpy(dtype=np.float64)
            del table
    gc.collect()
    x = predecode(detector, paths[: max(forward_images, batch_size)])
    forward_runs = [time_forward(detector, x, batch_size) for _ in range(repeats)]
    return SpeedResult(
        n_images=len(paths),
        batch_size=batch_size,
        num_workers=num_workers,
        repeats=repeats,
        device=str(detector.params.device),
        forward_ips=statistics.median(forward_runs),
        scan_ips=statistics.median(scan_runs),
        rss_10pct_mb=sampler.at_fraction(0.1) / MB,
        rss_end_mb=sampler.samples[-1][1] / MB,
        peak_rss_mb=sampler.peak / MB,
        forward_runs=forward_runs,
        scan_runs=scan_runs,
        backend="onnxruntime" if detector.name == "onnx" else "torch",
        p_fake=p_fake,
    )


@dataclass
class BackendComparison:
    """torch vs onnxruntime on the same images, measured in the same run."""

    torch: SpeedResult
    onnx: SpeedResult

    @property
    def max_abs_diff(self) -> float:
        """Largest |P(fake) torch - P(fake) onnxruntime| over the files both scored."""
        d = np.abs(self.torch.p_fake - self.onnx.p_fake)
        d = d[~np.isnan(d)]
        return float(d.max()) if d.size else float("nan")

    def rows(self) -> list[tuple[str, str]]:
        """(name, value) pairs: both backends' img/s and onnxruntime / torch."""
        t, o = self.torch, self.onnx

        def ratio(a: float, b: float) -> str:
            return f"{a / b:.2f}" if b > 0 else "-"

        return [
            ("images / batch size / repeats", f"{t.n_images} / {t.batch_size} / {t.repeats}"),
            ("torch scan img/s", f"{t.scan_ips:,.1f}"),
            ("onnxruntime scan img/s", f"{o.scan_ips:,.1f}"),
            ("scan onnxruntime / torch", ratio(o.scan_ips, t.scan_ips)),
            ("torch forward img/s", f"{t.forward_ips:,.1f}"),
            ("onnxruntime forward img/s", f"{o.forward_ips:,.1f}"),
            ("forward onnxruntime / torch", ratio(o.forward_ips, t.forward_ips)),
            ("max |p_fake torch - onnxruntime|", f"{self.max_abs_diff:.2e}"),
            ("peak RSS torch / onnxruntime (MiB)", f"{t.peak_rss_mb:,.0f} / {o.peak_rss_mb:,.0f}"),
        ]


def compare_backends(
    bundle: str | Path,
    paths: Sequence[str | Path],
    *,
    batch_size: int = 64,
    num_workers: int | None = None,
    repeats: int = 3,
    progress: bool = False,
) -> BackendComparison:
    """:func:`measure_speed` of ``bundle``'s torch detector, then of its ``model.onnx``
    (onnxruntime, CPU), with the same settings on the same ``paths``; torch runs on the
    CPU too, so both use the same cores.

    A missing or stale export is a one-line error before anything is timed.
    """
    from fakescope.inference.verdict import VerdictModel

    onnx_vm = VerdictModel.load(bundle, backend="onnxruntime")  # fails early when not exported
    torch_vm = VerdictModel.load(bundle, backend="torch", device="cpu")
    kw: dict[str, Any] = {
        "batch_size": batch_size,
        "num_workers": num_workers,
        "repeats": repeats,
        "progress": progress,
    }
    return BackendComparison(
        measure_speed(torch_vm.detector, paths, **kw),
        measure_speed(onnx_vm.detector, paths, **kw),
    )
