"""``fakescope demo``: the whole job end to end on the bundled real images.

1. build a small format-matched benchmark from the 3,000 bundled CIFAR-10
   test images (:mod:`fakescope.bench.resample`: three up-sampling kernels);
2. run the ``cross-generator`` protocol with the default frozen-embedding probe
   (packaged ImageNet EfficientNet-Lite0 + logistic head): train on each
   generator, test on every generator, plus JPEG / blur / downscale tiers;
3. train one detector on all generators and save it as a bundle;
4. scan the test folders with that bundle into a CSV;
5. print where the HTML report is.

Runs offline on CPU in a few minutes (embeddings are cached, so step 3 reuses
step 2's features).
"""

from __future__ import annotations

from dataclasses import dataclass
from importlib.resources import as_file, files
from pathlib import Path

from fakescope.bench.resample import build_resample_benchmark
from fakescope.config import RobustnessConfig
from fakescope.data.index import index_dataset
from fakescope.detectors import DETECTORS, Detector
from fakescope.eval.protocols import run_protocol
from fakescope.eval.report import Report
from fakescope.scan import scan_paths, summarize, write_results

SAMPLE = "cifar10-test-sample.zip"
DEMO_PARAMS = {"backbone": "efficientnet_lite0", "head": "logistic"}
ROBUSTNESS = RobustnessConfig(jpeg=[50], blur=[1.0], downscale=[0.5])


@dataclass
class DemoResult:
    """Where the demo wrote its outputs."""

    report_html: Path
    bundle: Path
    scan_csv: Path
    report: Report


def run_demo(out: Path, *, per_generator: int = 1000, progress: bool = True) -> DemoResult:
    """Run the demo into ``out`` (created; an existing benchmark there is reused)."""
    out = out.expanduser().resolve()
    data = out / "benchmark"
    if not (data / ".complete").exists():
        with as_file(files("fakescope") / "assets" / SAMPLE) as sample:
            build_resample_benchmark(
                Path(sample), data, per_generator=per_generator, progress=progress
            )
        (data / ".complete").write_text("ok\n")
    table = index_dataset(data)
    params = {**DEMO_PARAMS, "cache_dir": str(out / "cache")}
    factory = lambda: DETECTORS.get("probe")(params)  # noqa: E731 - a one-line factory
    report = run_protocol(
        "cross-generator",
        table,
        factory,
        workdir=out / "work",
        robustness=ROBUSTNESS,
        progress=progress,
    )
    written = report.write(out / "report")

    detector: Detector = factory()
    detector.fit(table[table["split"] == "train"], table[table["split"] == "val"])
    bundle = detector.save(out / "model")

    test_paths = table.loc[table["split"] == "test", "path"].tolist()
    results = scan_paths(
        Detector.load(bundle), test_paths, progress="scanning" if progress else None
    )
    scan_csv = write_results(results, out / "scan.csv")
    print(summarize(results, detector.threshold_).line())
    return DemoResult(written["html"], bundle, scan_csv, report)
