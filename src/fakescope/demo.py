"""``fakescope demo``: the whole job end to end on the bundled real images.

1. build a small benchmark from the 3,000 bundled CIFAR-10 test images: the
   ``mini`` preset's seven generators (two GANs, pixel and latent diffusion,
   VAE, normalizing flow, a learned up-sampler) and image counts, with the
   demo's shorter training schedule (:data:`DEMO_STEPS`), trained on CPU;
   fakes written exactly like the reals;
2. run the ``cross-generator`` protocol with the default frozen-embedding probe
   (packaged ImageNet EfficientNet-Lite0 at 96 px + logistic head): train on
   each generator, test on every generator, plus JPEG / blur / downscale tiers;
3. train one detector on all generators and save it as a bundle;
4. scan the test folders with that bundle into a CSV;
5. print where the HTML report is.

Each stage's wall time is printed as it ends and returned in
:attr:`DemoResult.seconds`; the CLI prints the total. Budget: <= 8 min on 2
idle CPU cores (embeddings are cached, so step 3 reuses step 2's features). A
finished benchmark in ``out`` is reused; an interrupted build resumes.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from importlib.resources import as_file, files
from pathlib import Path

from fakescope.config import RobustnessConfig
from fakescope.data.index import index_dataset
from fakescope.detectors.catalog import DETECTORS, Detector
from fakescope.eval.catalog import run_protocol
from fakescope.eval.report import Report
from fakescope.forge.build import BENCHMARK_JSON, build_benchmark
from fakescope.forge.presets import Preset, get_preset
from fakescope.inference.scan import scan_paths, summarize, write_results

SAMPLE = "cifar10-test-sample.zip"
#: The default probe at 96 px (the benchmark is 32 px; EfficientNet-Lite0 costs ~5 ms of
#: CPU per image at 96 px against ~11 ms at 128 px, and the demo embeds ~8,400 images).
DEMO_PARAMS = {"backbone": "efficientnet_lite0", "head": "logistic", "img_size": 96}
PRESET = "mini"
#: The demo's generator training for the ``mini`` preset: half the preset's steps (the
#: upsampler, 6 s, unchanged) and 20 instead of 25 DDIM steps. From the mini preset's timed
#: build (training 31 / 39 / 55 / 39 / 32 / 18 / 6 s, 4 min 49 s in all on 2 idle cores) this
#: cuts training from ~220 s to ~115 s. Fakes are less polished than mini's, so easier to
#: detect; ``docs/results.md`` is measured on the full ``mini`` schedule.
DEMO_STEPS = {
    "dcgan": 150,
    "resize_gan": 110,
    "ddpm": 225,
    "latent_diffusion": 350,
    "vae": 275,
    "realnvp": 100,
    "upsampler": 75,
}
DEMO_GENERATOR_PARAMS = {
    "ddpm": {"sampling_steps": 20},
    "latent_diffusion": {"sampling_steps": 20},
}
ROBUSTNESS = RobustnessConfig(jpeg=[50], blur=[1.0], downscale=[0.5])


def format_seconds(seconds: float) -> str:
    """``"M min S s"`` (or ``"S s"`` under a minute) for a wall time in seconds."""
    whole = round(seconds)
    minutes, secs = divmod(whole, 60)
    return f"{minutes} min {secs} s" if minutes else f"{secs} s"


@dataclass
class StageClock:
    """Wall time of each demo stage (seconds, in run order); prints each as it ends when ``show``."""

    show: bool = True
    seconds: dict[str, float] = field(default_factory=dict)

    @contextmanager
    def stage(self, name: str) -> Iterator[None]:
        """Time the enclosed block as stage ``name``."""
        started = time.perf_counter()
        try:
            yield
        finally:
            self.seconds[name] = time.perf_counter() - started
            if self.show:
                print(f"[demo] {name}: {format_seconds(self.seconds[name])}", flush=True)


def demo_preset(preset: str) -> Preset:
    """The preset the demo builds: ``mini`` with :data:`DEMO_STEPS`; any other preset as it is."""
    base = get_preset(preset)
    if preset != PRESET:
        return base
    return get_preset(
        base,
        name="mini-demo",
        description="the README demo: the mini preset with half its training steps",
        steps=DEMO_STEPS,
        generator_params=DEMO_GENERATOR_PARAMS,
    )


@dataclass
class DemoResult:
    """Where the demo wrote its outputs, and the wall time of each stage (seconds)."""

    report_html: Path
    bundle: Path
    scan_csv: Path
    report: Report
    seconds: dict[str, float]


def run_demo(out: Path, *, preset: str = PRESET, progress: bool = True) -> DemoResult:
    """Run the demo into ``out`` (created; a finished benchmark there is reused).

    ``preset``: the benchmark preset built from the bundled sample (``mini``, trained
    as :func:`demo_preset` says; tests pass ``smoke``).
    """
    out = out.expanduser().resolve()
    data = out / "benchmark"
    clock = StageClock(show=progress)
    with clock.stage("benchmark"):
        if not (data / BENCHMARK_JSON).exists():
            with as_file(files("fakescope") / "assets" / SAMPLE) as sample:
                build_benchmark(
                    Path(sample), data, demo_preset(preset), resume=data.exists(), progress=progress
                )
        table = index_dataset(data)
    params = {**DEMO_PARAMS, "cache_dir": str(out / "cache")}
    factory = lambda: DETECTORS.get("probe")(params)  # noqa: E731 - a one-line factory
    with clock.stage("cross-generator evaluation"):
        report = run_protocol(
            "cross-generator",
            table,
            factory,
            workdir=out / "work",
            robustness=ROBUSTNESS,
            progress=progress,
        )
        written = report.write(out / "report")

    with clock.stage("detector on all generators"):
        detector: Detector = factory()
        detector.fit(table[table["split"] == "train"], table[table["split"] == "val"])
        bundle = detector.save(out / "model")

    with clock.stage("scan"):
        test_paths = table.loc[table["split"] == "test", "path"].tolist()
        results = scan_paths(
            Detector.load(bundle), test_paths, progress="scanning" if progress else None
        )
        scan_csv = write_results(results, out / "scan.csv")
    print(summarize(results, detector.threshold_).line())
    return DemoResult(written["html"], bundle, scan_csv, report, clock.seconds)
