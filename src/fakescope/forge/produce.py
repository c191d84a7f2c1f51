"""One generator's part of a build: train it (resumably), then write its reals and fakes per split.

Every image, real or fake, is written by :func:`~fakescope.forge.encode.encode_like`
exactly once. Sampling is seeded per (generator seed, split, batch), so a split
redone after a kill gives the same files; a split whose done-marker exists is skipped.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

import torch

from fakescope.data.schema import SPLITS
from fakescope.forge.encode import FormatSpec, encode_like
from fakescope.forge.generators.base import ImageGenerator
from fakescope.forge.manifest import file_name
from fakescope.forge.plan import SplitPlan, derive_seed
from fakescope.forge.presets import Preset
from fakescope.forge.source import ImageSource, to_tensor
from fakescope.forge.workspace import Workspace, read_json, write_json
from fakescope.progress import progress_bar


@dataclass
class Job:
    """Everything one generator's work needs."""

    name: str
    generator: ImageGenerator
    seed: int
    splits: dict[str, SplitPlan]
    preset: Preset
    spec: FormatSpec
    source: ImageSource
    workspace: Workspace
    show: bool

    def bar(self, what: str) -> str | None:
        """A progress-bar description, or None when progress bars are off."""
        return f"{self.name}: {what}" if self.show else None


def train(job: Job, train_images: Callable[[], torch.Tensor]) -> float:
    """Train (or resume) ``job.generator`` to its steps; returns the seconds spent, all sessions.

    The time of a killed session is added when it was interrupted by an exception
    (not by SIGKILL). ``train_images`` is called only when steps remain.
    """
    gen = job.generator
    steps = gen.params.steps
    ckpt = job.workspace.checkpoint_dir(job.name)
    timing_file = job.workspace.gen_dir(job.name) / "train_time.json"
    before = float((read_json(timing_file) or {}).get("seconds", 0.0))
    gen.load_checkpoint(ckpt)
    if gen.step_ >= steps:
        for module in gen.modules().values():
            module.eval()
        return before
    images = train_images()
    start = time.perf_counter()
    try:
        with progress_bar(steps, job.bar("training")) as advance:
            advance(gen.step_)
            gen.fit(images, ckpt, on_step=lambda step, losses: advance(1))
    finally:
        write_json(timing_file, {"seconds": before + time.perf_counter() - start})
    return before + time.perf_counter() - start


def _check(x: torch.Tensor, n: int, size: int, name: str) -> torch.Tensor:
    """The generator's output [n, 3, size, size], finite, clamped to [0, 1]."""
    if not isinstance(x, torch.Tensor) or tuple(x.shape) != (n, 3, size, size):
        got = tuple(x.shape) if isinstance(x, torch.Tensor) else type(x).__name__
        raise RuntimeError(f"generator {name} returned {got}, expected ({n}, 3, {size}, {size})")
    if not torch.isfinite(x).all():
        raise RuntimeError(f"generator {name} returned NaN or infinite pixels")
    return x.detach().float().cpu().clamp(0.0, 1.0)


def _load(job: Job, names: list[str]) -> torch.Tensor:
    """Prepared source images ``names`` as [N, 3, H, W] in [0, 1] (the plan holds valid names only)."""
    images = []
    for name in names:
        img = job.source.load(name, job.preset.resolution, job.preset.crop, job.preset.prescale)
        if img is None:
            raise RuntimeError(f"{name} decoded when the build was planned but not now")
        images.append(img)
    return to_tensor(images)


def write_split(job: Job, split: str) -> int:
    """Write the reals and fakes of one split; returns the number of files written."""
    part = job.splits[split]
    root, spec, ext = job.workspace.root, job.spec, job.spec.extension
    n = len(part.reals)
    res = job.preset.resolution
    with progress_bar(2 * n, job.bar(f"writing {split}")) as advance:
        for i, name in enumerate(part.reals):
            img = job.source.load(name, res, job.preset.crop, job.preset.prescale)
            if img is None:
                raise RuntimeError(f"{name} decoded when the build was planned but not now")
            encode_like(img, spec, root / file_name(job.name, split, 0, i, ext))
            advance(1)
        batch = job.preset.sample_batch
        manipulation = job.generator.kind == "manipulation"
        with torch.no_grad():
            for b, start in enumerate(range(0, n, batch)):
                k = min(batch, n - start)
                rng = torch.Generator().manual_seed(derive_seed(job.seed, "sample", split, b))
                if manipulation:
                    images = _load(job, part.sources[start : start + k])
                    donors = _load(job, part.donors[start : start + k])
                    out = job.generator.manipulate(images, rng, donors)
                else:
                    out = job.generator.sample(k, rng)
                fakes = _check(out, k, res, job.name)
                for j in range(k):
                    encode_like(
                        fakes[j], spec, root / file_name(job.name, split, 1, start + j, ext)
                    )
                advance(k)
    return 2 * n


def run_job(job: Job, train_images: Callable[[], torch.Tensor]) -> dict[str, float]:
    """Train the generator and write every split not yet done; returns its timings."""
    ws = job.workspace
    done = read_json(ws.done_file(job.name))
    if done is not None:
        return dict(done)
    train_seconds = train(job, train_images)
    start = time.perf_counter()
    for split in SPLITS:
        marker = ws.split_marker(job.name, split)
        if marker.exists():
            continue
        files = write_split(job, split)
        ws.mark(marker, {"files": files})
    timings = {"train_seconds": train_seconds, "write_seconds": time.perf_counter() - start}
    ws.mark(ws.done_file(job.name), timings)
    return timings
