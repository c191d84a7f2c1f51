"""``fakescope perf serve``: load-test the HTTP app in-process on loopback.

:func:`run_loadtest` loads a bundle once, measures a bare batched forward of
its detector on the test images (``Detector.predict_images`` in batches of
``max_batch``: preprocessing + model, no decoding, no HTTP; best of 3), then serves the
same model with uvicorn on ``127.0.0.1`` (free port) and drives it:

1. **load**: ``clients`` threads, each with its own ``httpx.Client``, post
   one-image requests until ``requests`` have been sent or ``duration_s`` has
   passed; latency percentiles, images/s and status counts are recorded;
2. **overload**: ``overload`` threads released at once by a barrier (more
   than ``max_concurrent``), each posting one request - every answer must be
   200, 503 or 429 (never a 5xx crash or a dropped connection);
3. ``GET /health`` afterwards.

Everything is bounded by counts and by ``duration_s``. Wall-clock rates on a
shared, oversubscribed machine favour the many-threaded server phase (the
scheduler shares CPU per thread), so CPU time per image (process CPU over
all threads, in-process clients included) is reported beside them.
"""

from __future__ import annotations

import io
import socket
import threading
import time
from collections import Counter
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from fakescope.serve.limits import ServeLimits

#: Statuses an overloaded server may answer with.
OVERLOAD_OK = {200, 429, 503}


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port that was free on ``host`` a moment ago."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


@contextmanager
def local_server(app: Any, host: str = "127.0.0.1", startup_s: float = 30.0) -> Iterator[str]:
    """Run ``app`` with uvicorn in a daemon thread on a free port; yields the base URL.

    Waits (at most ``startup_s``) until the server listens and stops it on exit.
    """
    import uvicorn

    port = free_port(host)
    server = uvicorn.Server(
        uvicorn.Config(app, host=host, port=port, log_level="warning", lifespan="on")
    )
    thread = threading.Thread(target=server.run, name="fakescope-uvicorn", daemon=True)
    thread.start()
    deadline = time.monotonic() + startup_s
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            server.should_exit = True
            raise RuntimeError(f"the test server did not start on {host}:{port}")
        time.sleep(0.02)
    try:
        yield f"http://{host}:{port}"
    finally:
        server.should_exit = True
        thread.join(10)


def synthetic_images(n: int = 16, size: int = 224, seed: int = 0) -> list[tuple[str, bytes]]:
    """``n`` smooth-noise RGB JPEGs of ``size`` px (for a load test without a folder)."""
    rng = np.random.default_rng(seed)
    out = []
    for i in range(n):
        base = rng.normal(128, 50, (size // 8, size // 8, 3))
        arr = np.clip(np.kron(base, np.ones((8, 8, 1))), 0, 255).astype(np.uint8)
        buf = io.BytesIO()
        Image.fromarray(arr).save(buf, format="JPEG", quality=90)
        out.append((f"synthetic-{i}.jpg", buf.getvalue()))
    return out


def folder_images(paths: Sequence[Path]) -> list[tuple[str, bytes]]:
    """(name, bytes) of image files."""
    return [(p.name, p.read_bytes()) for p in paths]


@dataclass
class LoadReport:
    """What :func:`run_loadtest` measured (latencies in seconds)."""

    clients: int
    sent: int
    wall_s: float
    latencies: list[float]
    statuses: Counter[int]
    baseline_img_s: float
    overload: Counter[int] = field(default_factory=Counter)
    overload_sent: int = 0
    health_after: int = 0
    batch_sizes: list[int] = field(default_factory=list)
    transport_errors: Counter[str] = field(default_factory=Counter)
    cpu_s: float = float("nan")
    baseline_cpu_per_img: float = float("nan")

    @property
    def cpu_per_img(self) -> float:
        """Process CPU seconds per judged image in the load phase (server + in-process clients)."""
        return self.cpu_s / self.ok if self.ok else float("nan")

    @property
    def ok(self) -> int:
        """Requests answered 200."""
        return self.statuses.get(200, 0)

    @property
    def img_s(self) -> float:
        """Images judged per second by the server (200s only, one image per request)."""
        return self.ok / self.wall_s if self.wall_s > 0 else float("nan")

    def percentile_ms(self, q: float) -> float:
        """The ``q``-th percentile of the 200s' latency in milliseconds."""
        return float(np.percentile(self.latencies, q) * 1000) if self.latencies else float("nan")

    @property
    def overload_only_expected(self) -> bool:
        """True when every overload answer was 200/429/503 (no crash, no dropped connection)."""
        return set(self.overload) <= OVERLOAD_OK and not self.transport_errors

    def rows(self) -> list[tuple[str, str]]:
        """(name, value) pairs for a table."""
        statuses = ", ".join(f"{k}: {v}" for k, v in sorted(self.statuses.items()))
        over = ", ".join(f"{k}: {v}" for k, v in sorted(self.overload.items())) or "-"
        sizes = self.batch_sizes or [0]
        transport = ", ".join(f"{k}: {v}" for k, v in self.transport_errors.items()) or "none"
        return [
            ("requests", f"{self.sent} from {self.clients} clients in {self.wall_s:.2f} s"),
            ("statuses", statuses),
            (
                "latency p50 / p95 / p99",
                " / ".join(f"{self.percentile_ms(q):.1f}" for q in (50, 95, 99)) + " ms",
            ),
            ("throughput", f"{self.img_s:.1f} images/s"),
            ("bare batched forward (best of 3)", f"{self.baseline_img_s:.1f} images/s"),
            ("server / bare forward", f"{self.img_s / self.baseline_img_s:.2f}"),
            (
                "CPU ms / image: server+clients vs bare",
                f"{1000 * self.cpu_per_img:.1f} vs {1000 * self.baseline_cpu_per_img:.1f}",
            ),
            ("micro-batch size mean / max", f"{np.mean(sizes):.1f} / {max(sizes)}"),
            (
                "overload burst",
                f"{self.overload_sent} at once -> {over}"
                + ("" if self.overload_only_expected else "  (UNEXPECTED)"),
            ),
            ("transport errors", transport),
            ("/health after", str(self.health_after)),
        ]


def _baseline(
    model: Any, images: list[Image.Image], batch: int, n: int, repeats: int = 3
) -> tuple[float, float]:
    """``(images/s, CPU s/image)`` of ``detector.predict_images`` on ``n`` images in batches
    of ``batch``: the best of ``repeats`` runs for images/s (on a shared machine the slower
    runs measure the neighbours) and the process CPU time of all runs per image."""
    det = model.detector
    work = [images[i % len(images)] for i in range(max(n, batch))]
    det.predict_images(work[:batch])  # warm-up
    best = 0.0
    cpu0 = time.process_time()
    for _ in range(repeats):
        start = time.perf_counter()
        for i in range(0, len(work), batch):
            det.predict_images(work[i : i + batch])
        best = max(best, len(work) / (time.perf_counter() - start))
    return best, (time.process_time() - cpu0) / (repeats * len(work))


def _post(client: Any, url: str, name: str, data: bytes) -> int:
    r = client.post(url, files=[("files", (name, data, "application/octet-stream"))])
    return int(r.status_code)


def run_loadtest(
    bundle: Path,
    images: list[tuple[str, bytes]],
    *,
    clients: int = 8,
    requests: int = 400,
    duration_s: float = 60.0,
    overload: int | None = None,
    limits: ServeLimits | None = None,
    device: str | None = None,
) -> LoadReport:
    """Load-test a bundle as described in the module docstring; returns the measurements."""
    import httpx

    from fakescope.inference.verdict import VerdictModel
    from fakescope.serve.app import create_app
    from fakescope.serve.limits import decode_image

    lim = limits or ServeLimits()
    model = VerdictModel.load(bundle, device=device)
    pil = [decode_image(data, lim.max_pixels) for _, data in images]
    baseline, baseline_cpu = _baseline(model, pil, lim.max_batch, min(requests, 2 * lim.max_batch))
    app = create_app(bundle, model=model, limits=lim)
    n_over = overload if overload is not None else 3 * lim.max_concurrent
    timeout = httpx.Timeout(lim.timeout_s + 30.0)
    with local_server(app) as base:
        url = f"{base}/v1/detect"
        with httpx.Client(timeout=timeout) as warm:  # one request so lazy setup is not measured
            _post(warm, url, *images[0])
        lock = threading.Lock()
        counter = iter(range(requests))
        latencies: list[float] = []
        statuses: Counter[int] = Counter()
        transport: Counter[str] = Counter()
        deadline = time.monotonic() + duration_s

        def client_loop() -> None:
            with httpx.Client(timeout=timeout) as client:
                while time.monotonic() < deadline:
                    with lock:
                        i = next(counter, None)
                    if i is None:
                        return
                    name, data = images[i % len(images)]
                    t0 = time.perf_counter()
                    try:
                        status = _post(client, url, name, data)
                    except httpx.HTTPError as exc:
                        with lock:
                            transport[type(exc).__name__] += 1
                        continue
                    dt = time.perf_counter() - t0
                    with lock:
                        statuses[status] += 1
                        if status == 200:
                            latencies.append(dt)

        batcher = app.state.fakescope.batcher
        before = len(batcher.batch_sizes)
        threads = [threading.Thread(target=client_loop) for _ in range(clients)]
        cpu0 = time.process_time()
        start = time.perf_counter()
        for t in threads:
            t.start()
        for t in threads:
            t.join(duration_s + lim.timeout_s + 60)
        wall = time.perf_counter() - start
        cpu = time.process_time() - cpu0
        sizes = list(batcher.batch_sizes)[before:]
        report = LoadReport(
            clients, sum(statuses.values()), wall, latencies, statuses, baseline,
            batch_sizes=sizes, transport_errors=transport, cpu_s=cpu, baseline_cpu_per_img=baseline_cpu,
        )  # fmt: skip
        report.overload, report.overload_sent = _burst(url, images, n_over, timeout, transport)
        with httpx.Client(timeout=timeout) as client:
            report.health_after = client.get(f"{base}/health").status_code
    return report


def _burst(
    url: str, images: list[tuple[str, bytes]], n: int, timeout: Any, transport: Counter[str]
) -> tuple[Counter[int], int]:
    """``n`` one-image requests released together by a barrier; their status counts."""
    import httpx

    if n < 1:
        return Counter(), 0
    barrier = threading.Barrier(n, timeout=60)
    got: Counter[int] = Counter()
    lock = threading.Lock()

    def one(i: int) -> None:
        with httpx.Client(timeout=timeout) as client:
            try:
                barrier.wait()
                status = _post(client, url, *images[i % len(images)])
            except (httpx.HTTPError, threading.BrokenBarrierError) as exc:
                with lock:
                    transport[type(exc).__name__] += 1
                return
            with lock:
                got[status] += 1

    threads = [threading.Thread(target=one, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    return got, n
