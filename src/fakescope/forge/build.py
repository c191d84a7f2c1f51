"""``build_benchmark``: turn a folder or zip of real images into a format-matched fake-image benchmark.

Steps (each resumable, see :mod:`fakescope.forge.workspace`):

1. check the output folder against the build's identity (refuse another
   build unless ``force``; continue the same one only with ``resume``);
2. estimate the reals' format (:mod:`fakescope.forge.encode`) and plan which
   source image goes where (:mod:`fakescope.forge.plan`);
3. per generator: train on the train part (checkpointed), write the reals and
   fakes of each split through the single encode path (done-markers);
4. write ``manifest.parquet`` (deterministic), audit the format per generator
   (:mod:`fakescope.forge.audit`), measure quality (Frechet distances and
   sample grids, :mod:`fakescope.forge.quality`), write ``benchmark.json``
   (timings live only here) and ``summary.html``.

Same source, preset and seed on the same machine give byte-identical image
files and manifest, whether the build ran in one go or was killed and resumed.
A full disk stops the build with one line asking to free space and rerun with
``--resume``; writes are atomic, so nothing is left half-written.
"""

from __future__ import annotations

import errno
import json
import time
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch
from safetensors import SafetensorError

import fakescope
from fakescope.errors import ConfigError, FakescopeError
from fakescope.forge.audit import audit_benchmark, check_audit
from fakescope.forge.encode import FormatEstimate, FormatSpec, estimate_format, history_spec
from fakescope.forge.generators.base import ImageGenerator
from fakescope.forge.generators.catalog import GENERATORS
from fakescope.forge.manifest import GeneratorInfo, manifest_frame, write_manifest
from fakescope.forge.plan import Plan, derive_seed, make_plan
from fakescope.forge.presets import Preset, get_preset
from fakescope.forge.produce import Job, run_job
from fakescope.forge.quality_step import grids_for, quality_for
from fakescope.forge.source import ImageSource, to_tensor
from fakescope.forge.summary import write_summary
from fakescope.forge.workspace import Workspace, write_json
from fakescope.progress import progress_bar

BENCHMARK_JSON = "benchmark.json"
#: The fingerprint plot of a build whose preset asks for it (see :func:`write_spectra`).
SPECTRA = "spectra.png"
#: Source files whose headers the format estimate reads.
FORMAT_SAMPLE = 64


@contextmanager
def disk_errors() -> Iterator[None]:
    """Turn a failed write (full disk, permissions) into one line asking to rerun with --resume."""
    try:
        yield
    except (OSError, SafetensorError) as exc:
        if isinstance(exc, OSError) and exc.errno == errno.ENOSPC:
            what = "the disk is full"
        elif isinstance(exc, OSError):
            what = f"a write failed ({exc.strerror or exc})"
        else:
            what = f"a checkpoint write failed ({str(exc).splitlines()[0] if str(exc) else exc})"
        raise FakescopeError(
            f"benchmark build stopped: {what}; free disk space (or fix the folder's "
            "permissions) and rerun the same command with --resume"
        ) from None


def write_spectra(root: Path, frame: pd.DataFrame, resolution: int, seed: int) -> Path:
    """Draw the mean noise-residual spectrum of the test reals and of each generator's test
    fakes (:mod:`fakescope.data.spectra`, at most 100 images each, centre crop of the
    resolution rounded down to 8 px, at most 128) into ``root/spectra.png``."""
    from fakescope.data.spectra import noise_spectra, plot_spectra

    test = frame[frame["split"] == "test"]
    table = test.assign(path=[str(root / p) for p in test["path"]])
    crop = max(8, min(128, resolution) // 8 * 8)
    return plot_spectra(noise_spectra(table, crop=crop, max_images=100, seed=seed), root / SPECTRA)


def _generator_names(preset: Preset, generators: Iterable[str] | None) -> list[str]:
    if generators is None:
        names = list(preset.generators)
    elif isinstance(generators, str):
        names = [g.strip() for g in generators.split(",") if g.strip()]
    else:
        names = [g.strip() for g in generators if g.strip()]
    if not names:
        raise ConfigError("no generators chosen; pass --generators a,b or use a preset's list")
    for name in names:
        GENERATORS.get(name)  # one-line registry error for an unknown name
    return sorted(set(names))


def _check_paths(source: Path, out: Path) -> None:
    if out == source or source.is_relative_to(out):
        raise ConfigError(f"--out {out} contains the source {source}; choose another folder")
    if source.is_dir() and out.is_relative_to(source):
        raise ConfigError(f"--out {out} lies inside the source folder {source}; choose another one")


def _estimate(src: ImageSource, preset: Preset, seed: int) -> FormatEstimate:
    order = np.random.default_rng(derive_seed(seed, "format")).permutation(len(src.names))
    sample: list[bytes] = []
    for i in order[:FORMAT_SAMPLE]:
        try:
            sample.append(src.read(src.names[i]))
        except FakescopeError:
            continue
    try:
        return estimate_format(sample, size=(preset.resolution, preset.resolution))
    except ValueError:
        raise FakescopeError(
            f"none of {len(sample)} sampled files of {src.path} is a readable image; check the source"
        ) from None


def _make_generator(
    name: str, preset: Preset, seed: int, device: str, weights: str | Path | None = None
) -> ImageGenerator:
    """Build generator ``name``; ``weights`` fills the ``weights`` param of those that take one
    (not part of the build's identity: the weights' sha256 is checked on load)."""
    cls = GENERATORS.get(name)
    params = preset.params_for(name)
    if weights is not None and "weights" in cls.Params.model_fields and "weights" not in params:
        params["weights"] = str(weights)
    return cls(params, image_size=preset.resolution, seed=seed, device=device)


def _spec(estimate: FormatEstimate, preset: Preset) -> FormatSpec:
    """How every file is written: the estimate's spec, or the equalized history's (presets doc)."""
    if preset.history == "equalize":
        return history_spec(preset.resolution, preset.history_quality, preset.history_subsampling)
    return estimate.spec


def generator_seed(seed: int, name: str) -> int:
    """The seed a generator is built and sampled with (31 bits: fit multiplies it by ~1e6)."""
    return derive_seed(seed, "generator", name) % (2**31)


def build_benchmark(
    source: str | Path,
    out: str | Path,
    preset: str | Preset = "mini",
    *,
    generators: Sequence[str] | str | None = None,
    seed: int | None = None,
    resolution: int | None = None,
    resume: bool = False,
    force: bool = False,
    progress: bool = True,
    device: str = "cpu",
    history: str | None = None,
    weights: str | Path | None = None,
) -> Path:
    """Build a benchmark from the real images of ``source`` (a folder or .zip) into ``out``.

    Writes ``<out>/<generator>/{train,val,test}/{0_real,1_fake}/``,
    ``manifest.parquet``, ``benchmark.json``, ``summary.html`` and ``grids/``;
    returns ``out``. ``preset``: a name of :data:`~fakescope.forge.presets.PRESETS`
    or a :class:`Preset`; ``generators`` (names or "a,b") replaces its list;
    ``seed`` (default: the preset's), ``resolution`` and ``history`` ("keep" or
    "equalize") override it. ``weights``: folder or .zip of the decoder
    generators' weights (else ``$FAKESCOPE_WEIGHTS``). User mistakes raise
    one-line :class:`~fakescope.errors.FakescopeError` s.
    """
    started = time.perf_counter()
    chosen = get_preset(preset, resolution=resolution, history=history)
    names = _generator_names(chosen, generators)
    chosen = get_preset(chosen, generators=tuple(names))
    seed = chosen.seed if seed is None else int(seed)
    out_path = Path(out).expanduser().resolve()
    with ImageSource(source) as src:
        _check_paths(src.path, out_path)
        identity = json.loads(
            json.dumps(
                {
                    "fakescope_benchmark": 1,
                    "preset": chosen.model_dump(mode="json"),
                    "seed": seed,
                    "source": src.fingerprint(),
                }
            )
        )
        ws = Workspace(out_path)
        with disk_errors():
            resuming = ws.check(identity, resume=resume, force=force)
            if resuming and ws.complete_marker.exists():
                return out_path
            info = _build(src, ws, identity, chosen, names, seed, progress, device, weights)
            info["build_seconds"] = time.perf_counter() - started
            info["resumed"] = resuming
            grids = info.pop("_grids")
            write_json(out_path / BENCHMARK_JSON, info)
            spectra = out_path / SPECTRA
            write_summary(
                out_path, info, grids, spectra.read_bytes() if spectra.is_file() else None
            )
            check_audit_from_info(info)
            ws.mark(ws.complete_marker)
    return out_path


def _history_info(estimate: FormatEstimate, preset: Preset) -> dict[str, Any]:
    """What the build did about the reals' compression history (benchmark.json's format.history)."""
    if preset.history != "equalize":
        return {"mode": "keep"}
    return {
        "mode": "equalize",
        "prescale": preset.history_scale,
        "source_format": estimate.spec.describe(),
        "note": (
            f"every real was down-scaled x{preset.history_scale:g} (antialiased) before the crop; "
            "reals and fakes were written identically"
        ),
    }


def check_audit_from_info(info: dict[str, Any]) -> None:
    """Raise when a must-hold audit check failed (after benchmark.json was written)."""
    from fakescope.forge.audit import GeneratorAudit

    check_audit(
        {g: GeneratorAudit(**v["audit"]) for g, v in info["generators"].items() if v.get("audit")}
    )


def _build(
    src: ImageSource,
    ws: Workspace,
    identity: dict[str, Any],
    preset: Preset,
    names: list[str],
    seed: int,
    progress: bool,
    device: str,
    weights: str | Path | None = None,
) -> dict[str, Any]:
    """Steps 2-4 of the module docstring; returns the content of benchmark.json (+ "_grids")."""
    estimate = _estimate(src, preset, seed)
    spec = _spec(estimate, preset)
    classes = {n: GENERATORS.get(n) for n in names}
    kinds = {n: str(c.kind) for n, c in classes.items()}
    # Built first: a bad setting (missing weights, resolution) fails before --out is claimed.
    built = {n: _make_generator(n, preset, generator_seed(seed, n), device, weights) for n in names}
    if ws.plan_file.exists():
        plan = Plan.load(ws.plan_file)
    else:
        with progress_bar(None, "checking source images" if progress else None) as advance:
            plan = make_plan(src, preset, kinds, seed, advance=advance)
        ws.claim(identity)  # only now: a refused source leaves a new --out untouched
        plan.save(ws.plan_file)

    cache: list[torch.Tensor] = []

    def train_images() -> torch.Tensor:
        if not cache:
            with progress_bar(
                len(plan.train_images), "loading train images" if progress else None
            ) as advance:
                images = []
                for name in plan.train_images:
                    img = src.load(name, preset.resolution, preset.crop, preset.prescale)
                    if img is not None:
                        images.append(img)
                    advance(1)
            cache.append(to_tensor(images))
        return cache[0]

    per_gen: dict[str, dict[str, Any]] = {}
    infos: dict[str, GeneratorInfo] = {}
    for name in names:
        gseed = generator_seed(seed, name)
        generator = built.pop(name)
        manipulation = kinds[name] == "manipulation"
        infos[name] = GeneratorInfo(
            family=classes[name].family,
            manipulation=manipulation,
            uses_donors=bool(getattr(generator, "uses_donors", manipulation)),
            paired=manipulation and preset.pairs,
            decoder=str(getattr(generator, "decoder", "")),
        )
        job = Job(
            name=name,
            generator=generator,
            seed=gseed,
            splits=plan.generators[name],
            preset=preset,
            spec=spec,
            source=src,
            workspace=ws,
            show=progress,
        )
        timings = run_job(job, train_images)
        per_gen[name] = {
            "family": classes[name].family,
            "kind": kinds[name],
            "seed": gseed,
            "steps": job.generator.params.steps,
            "params": job.generator.params.model_dump(mode="json"),
            "train_seconds": timings.get("train_seconds"),
            "write_seconds": timings.get("write_seconds"),
            "train_budget_seconds": preset.budget_train_s_per_generator,
            "counts": {s: len(p.reals) for s, p in plan.generators[name].items()},
        }
        del job, generator
    cache.clear()

    frame = manifest_frame(plan, infos, spec.extension, seed)
    write_manifest(frame, ws.root)
    with progress_bar(None, "auditing the format" if progress else None):
        audits = audit_benchmark(ws.root, frame, spec)
    grids = grids_for(ws, frame, preset, progress)
    if preset.spectra:
        with progress_bar(None, "drawing spectra" if progress else None):
            write_spectra(ws.root, frame, preset.resolution, seed)
    for name in names:
        per_gen[name]["audit"] = audits[name].model_dump(mode="json")
        per_gen[name]["quality"] = quality_for(ws, frame, name, preset, seed, device, progress)
    return {
        "fakescope_version": fakescope.__version__,
        "preset": preset.model_dump(mode="json"),
        "seed": seed,
        "source": {
            **src.fingerprint(),
            "split_mode": plan.split_mode,
            "pools": plan.pools,
            "corrupt_skipped": len(plan.corrupt),
            "corrupt_files": plan.corrupt[:20],
        },
        "format": {
            **spec.model_dump(mode="json"),
            "description": spec.describe(),
            "sampled": estimate.sampled,
            "agreement": estimate.agreement,
            "source_size": list(estimate.source_size),
            "exact_quality": estimate.exact_quality,
            "note": estimate.note,
            "history": _history_info(estimate, preset),
        },
        "budgets": {
            "train_seconds_per_generator": preset.budget_train_s_per_generator,
            "total_seconds": preset.budget_total_s,
        },
        "generators": per_gen,
        "_grids": grids,
    }
