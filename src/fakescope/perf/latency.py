"""Single-image latency of a bundle (``fakescope perf latency``): what ``check`` feels like.

Two measurements, neither asserted anywhere (the numbers depend on the machine):

* **cold start**: a fresh Python process (``sys.executable``) that imports
  fakescope, loads the bundle (:meth:`VerdictModel.load`) and judges one image
  file, timed from the parent around the whole process (process start to exit),
  plus the child's own split (imports / bundle load / first image), as the
  median over ``cold_runs`` processes;
* **warm**: ``n`` calls of :meth:`VerdictModel.decide_images` with ONE in-memory
  image each (after ``warmup`` untimed calls) in this process: median, p95 and
  mean milliseconds. Decoding is not included (the images are decoded first);
  the detector's resize/crop/normalise and the forward pass are.

``threads`` caps torch's (and onnxruntime's) intra-op threads in both, to
emulate a small machine; None keeps the defaults.
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image

from fakescope.data.decode import load_image
from fakescope.errors import ConfigError, DataError, DecodeError, FakescopeError

#: The child process of a cold start: argv = bundle, image, backend, threads ("" = default).
#: Prints one JSON line with its own timings in seconds.
_COLD_SCRIPT = """
import json, sys, time
t0 = time.perf_counter()
bundle, image, backend, threads = sys.argv[1:5]
import torch
if threads:
    torch.set_num_threads(int(threads))
from fakescope.inference.verdict import VerdictModel
t1 = time.perf_counter()
vm = VerdictModel.load(bundle, backend=backend, device="cpu" if backend == "torch" else None)
t2 = time.perf_counter()
(v,) = vm.decide_paths([image], num_workers=0)
t3 = time.perf_counter()
print(json.dumps({"import_s": t1 - t0, "load_s": t2 - t1, "first_s": t3 - t2,
                  "p_fake_raw": v.p_fake_raw, "error": v.error}))
"""


@dataclass
class ColdStart:
    """One cold start: ``total_s`` measured by the parent (process start to exit) and the
    child's ``import_s`` / ``load_s`` / ``first_s`` (first image, decode included)."""

    total_s: float
    import_s: float
    load_s: float
    first_s: float


@dataclass
class LatencyResult:
    """Warm per-call milliseconds (``warm_ms`` [n]) and cold starts; ``p_fake_raw`` of the
    first warm image (to check that the model really ran)."""

    backend: str
    threads: int | None
    image_size: tuple[int, int]
    warm_ms: list[float]
    cold: list[ColdStart] = field(default_factory=list)
    p_fake_raw: float | None = None

    @property
    def warm_median_ms(self) -> float:
        return float(statistics.median(self.warm_ms))

    @property
    def warm_p95_ms(self) -> float:
        return float(np.percentile(self.warm_ms, 95))

    def cold_median(self, part: str) -> float:
        """Median seconds of one :class:`ColdStart` field over the cold runs (NaN without any)."""
        values = [getattr(c, part) for c in self.cold]
        return float(statistics.median(values)) if values else float("nan")

    def rows(self) -> list[tuple[str, str]]:
        """(name, value) pairs for printing."""
        w, h = self.image_size
        rows = [
            ("backend / threads", f"{self.backend} / {self.threads or 'default'}"),
            ("first image (W x H)", f"{w} x {h}"),
            (
                f"warm single-image ms (n={len(self.warm_ms)}): median / p95 / mean",
                f"{self.warm_median_ms:.1f} / {self.warm_p95_ms:.1f} / "
                f"{statistics.fmean(self.warm_ms):.1f}",
            ),
        ]
        if self.cold:
            rows += [
                (
                    f"cold start s (median of {len(self.cold)}): process total",
                    f"{self.cold_median('total_s'):.2f}",
                ),
                (
                    "  of which imports / bundle load / first image",
                    f"{self.cold_median('import_s'):.2f} / {self.cold_median('load_s'):.2f} / "
                    f"{self.cold_median('first_s'):.3f}",
                ),
            ]
        return rows


def _set_threads(threads: int | None) -> None:
    if threads is None:
        return
    import torch

    torch.set_num_threads(threads)


def decode_images(paths: Sequence[str | Path], limit: int) -> list[tuple[Path, Image.Image]]:
    """Up to ``limit`` decodable images of ``paths`` as ``(path, PIL image)``, in order."""
    out: list[tuple[Path, Image.Image]] = []
    for p in paths:
        if len(out) >= limit:
            break
        try:
            out.append((Path(p), load_image(p)))
        except DecodeError:
            continue
    if not out:
        raise DataError("none of the latency images could be decoded; pass a folder of images")
    return out


def cold_start(
    bundle: str | Path, image: str | Path, backend: str = "torch", threads: int | None = None
) -> ColdStart:
    """Run one fresh process that loads ``bundle`` and judges ``image`` (module docstring)."""
    env = dict(os.environ)
    if threads is not None:
        env["OMP_NUM_THREADS"] = str(threads)
    args = [sys.executable, "-c", _COLD_SCRIPT, str(bundle), str(image), backend]
    start = time.perf_counter()
    proc = subprocess.run(
        [*args, "" if threads is None else str(threads)],
        capture_output=True,
        text=True,
        env=env,
        check=False,
    )
    total = time.perf_counter() - start
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("{")]
    if proc.returncode != 0 or not lines:
        last = (proc.stderr.strip().splitlines() or ["no output"])[-1]
        raise FakescopeError(f"the cold-start process failed: {last}")
    data = json.loads(lines[-1])
    if data["error"]:
        raise DataError(f"the cold-start image could not be judged: {data['error']}")
    return ColdStart(total, data["import_s"], data["load_s"], data["first_s"])


def measure_latency(
    bundle: str | Path,
    paths: Sequence[str | Path],
    *,
    n: int = 50,
    warmup: int = 3,
    cold_runs: int = 3,
    backend: str = "torch",
    threads: int | None = None,
) -> LatencyResult:
    """Warm single-image latency over ``n`` calls (cycling through up to ``n`` decoded images
    of ``paths``) and ``cold_runs`` cold starts on the first image; see the module docstring."""
    from fakescope.inference.verdict import VerdictModel

    if n < 1 or warmup < 0 or cold_runs < 0:
        raise ConfigError("latency needs n >= 1 calls, warmup >= 0 and cold runs >= 0")
    if threads is not None and threads < 1:
        raise ConfigError(f"threads must be at least 1, got {threads}")
    pics = decode_images(paths, n)
    _set_threads(threads)
    device = "cpu" if backend == "torch" else None
    vm = VerdictModel.load(bundle, backend=backend, device=device)
    first = vm.decide_images([pics[0][1]])[0]
    for i in range(warmup):
        vm.decide_images([pics[i % len(pics)][1]])
    warm: list[float] = []
    for i in range(n):
        img = pics[i % len(pics)][1]
        start = time.perf_counter()
        vm.decide_images([img])
        warm.append((time.perf_counter() - start) * 1000.0)
    cold = [cold_start(bundle, pics[0][0], backend, threads) for _ in range(cold_runs)]
    size = pics[0][1].size
    return LatencyResult(vm.backend, threads, size, warm, cold, first.p_fake_raw)
