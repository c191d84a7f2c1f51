"""Speed benchmark plumbing (no timing assertions: only structure and consistency)."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from fakescope.errors import ConfigError, DataError, NotFittedError
from fakescope.perf.speed import (
    RssSampler,
    SpeedResult,
    current_rss,
    measure_speed,
    peak_rss,
    predecode,
    untrained_detector,
)
from tests.cli.tiny_detector import (
    NAME,
    TinyDetector,
    tiny_registered,  # noqa: F401 - autouse fixture
)
from tests.conftest import write_image


@pytest.fixture
def images(tmp_path: Path) -> list[Path]:
    return [write_image(tmp_path / "img" / f"{i}.jpg", i) for i in range(6)]


def test_rss_readings_are_plausible() -> None:
    rss = current_rss()
    assert 1 << 20 < rss < 1 << 40
    assert peak_rss() >= rss * 0.5  # ru_maxrss is the high-water mark


def test_sampler_records_and_reads_fractions() -> None:
    with RssSampler(interval=0.01) as s:
        time.sleep(0.05)
    assert len(s.samples) >= 2
    assert s.samples[0][0] <= s.samples[-1][0]
    s.samples = [(0.0, 10), (1.0, 20), (2.0, 30), (10.0, 40)]
    assert s.at_fraction(0.0) == 10
    assert s.at_fraction(0.1) == 20
    assert s.at_fraction(0.25) == 40
    assert s.peak == 40


def test_predecode_skips_broken_files(images: list[Path], tmp_path: Path) -> None:
    det = TinyDetector({"img_size": 16})
    bad = tmp_path / "bad.jpg"
    bad.write_text("nope")
    x = predecode(det, [images[0], bad, images[1]])
    assert tuple(x.shape) == (2, 3, 16, 16)
    with pytest.raises(DataError, match="none of the benchmark images"):
        predecode(det, [bad])


def test_measure_speed(images: list[Path]) -> None:
    det = untrained_detector(NAME, {"num_workers": 0, "steps": 1})
    assert det.classes_ == ["real", "fake"]
    res = measure_speed(det, images, batch_size=4, num_workers=0, repeats=2)
    assert isinstance(res, SpeedResult)
    assert (res.n_images, res.repeats, res.batch_size) == (6, 2, 4)
    assert len(res.forward_runs) == len(res.scan_runs) == 2
    assert res.forward_ips > 0 and res.scan_ips > 0
    assert res.ratio == pytest.approx(res.scan_ips / res.forward_ips)
    assert min(res.scan_runs) <= res.scan_ips <= max(res.scan_runs)
    assert 0 < res.rss_10pct_mb <= res.peak_rss_mb and res.rss_end_mb <= res.peak_rss_mb
    labels = [name for name, _ in res.rows()]
    assert "scan / forward" in labels and "RSS at end (MiB)" in labels


def test_measure_speed_errors(images: list[Path]) -> None:
    with pytest.raises(NotFittedError):
        measure_speed(TinyDetector(), images)
    det = untrained_detector(NAME, {"num_workers": 0, "steps": 1})
    with pytest.raises(ConfigError, match="repeats"):
        measure_speed(det, images, repeats=0)
    with pytest.raises(DataError, match="no benchmark images"):
        measure_speed(det, [])


# ------------------------------------------------- backends and latency
@pytest.fixture(scope="module")
def onnx_bundle(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A random-init timm test_resnet cnn at 32 px, saved with its model.onnx."""
    pytest.importorskip("onnxruntime")
    from fakescope.inference.onnx_export import export_onnx
    from tests.inference.test_onnx import random_cnn

    bundle = random_cnn(seed=1).save(tmp_path_factory.mktemp("perf-onnx") / "cnn")
    export_onnx(bundle)
    return bundle


@pytest.fixture
def varied(tmp_path: Path) -> list[Path]:
    """8 PNGs (half with a 'fake' trace) and one broken file in the middle."""
    paths = [
        write_image(tmp_path / "v" / f"{i}.png", 10 + i, fake=i % 2 == 1, fmt="PNG")
        for i in range(8)
    ]
    bad = tmp_path / "v" / "4_broken.png"
    bad.write_bytes(b"nope")
    return [*paths[:4], bad, *paths[4:]]


def test_compare_backends_runs_both_on_the_same_images(
    onnx_bundle: Path, varied: list[Path]
) -> None:
    import numpy as np

    from fakescope.perf.speed import compare_backends

    both = compare_backends(onnx_bundle, varied, batch_size=4, num_workers=0, repeats=1)
    assert both.torch.backend == "torch" and both.onnx.backend == "onnxruntime"
    for r in (both.torch, both.onnx):
        assert r.n_images == 9 and r.scan_ips > 0 and r.forward_ips > 0
        assert (
            len(r.p_fake) == 9
            and np.isnan(r.p_fake[4])
            and np.isfinite(np.delete(r.p_fake, 4)).all()
        )
    assert np.nanstd(both.torch.p_fake) > 1e-4  # the scores vary, so agreement is not trivial
    assert np.nanmax(np.abs(both.torch.p_fake - both.onnx.p_fake)) <= 1e-4
    assert both.max_abs_diff <= 1e-4
    labels = dict(both.rows())
    assert {"scan onnxruntime / torch", "forward onnxruntime / torch"} <= set(labels)
    assert float(labels["scan onnxruntime / torch"]) == pytest.approx(
        both.onnx.scan_ips / both.torch.scan_ips, abs=0.006
    )


def test_compare_backends_without_an_export_is_one_line(tmp_path: Path, varied: list[Path]) -> None:
    from fakescope.errors import BundleError
    from fakescope.perf.speed import compare_backends
    from tests.inference.test_onnx import random_cnn

    bundle = random_cnn().save(tmp_path / "noexport")
    with pytest.raises(BundleError, match="fakescope export") as info:
        compare_backends(bundle, varied, repeats=1, num_workers=0)
    assert "\n" not in str(info.value)


def test_latency_warm_calls_and_a_cold_start(onnx_bundle: Path, varied: list[Path]) -> None:
    from PIL import Image

    from fakescope.inference.verdict import VerdictModel
    from fakescope.perf.latency import measure_latency

    res = measure_latency(onnx_bundle, varied, n=5, warmup=1, cold_runs=1, threads=1)
    assert len(res.warm_ms) == 5 and all(ms > 0 for ms in res.warm_ms)
    assert res.warm_p95_ms >= res.warm_median_ms > 0
    with Image.open(varied[0]) as img:
        (want,) = VerdictModel.load(onnx_bundle).decide_images([img.convert("RGB")])
    assert res.p_fake_raw == pytest.approx(want.p_fake_raw, abs=1e-6)
    (cold,) = res.cold
    assert cold.total_s > cold.import_s + cold.load_s + cold.first_s > 0  # the parent sees it all
    names = [name for name, _ in res.rows()]
    assert any("warm single-image ms" in n for n in names)
    assert any("cold start" in n for n in names)
    onnx = measure_latency(onnx_bundle, varied, n=2, cold_runs=0, backend="onnxruntime")
    assert onnx.backend == "onnxruntime" and not onnx.cold
    assert onnx.p_fake_raw == pytest.approx(want.p_fake_raw, abs=1e-4)


def test_latency_errors(onnx_bundle: Path, tmp_path: Path) -> None:
    from fakescope.errors import DataError, FakescopeError
    from fakescope.perf.latency import cold_start, measure_latency

    bad = tmp_path / "bad.png"
    bad.write_bytes(b"nope")
    with pytest.raises(DataError, match="could be decoded"):
        measure_latency(onnx_bundle, [bad], n=1, cold_runs=0)
    with pytest.raises(ConfigError, match="n >= 1"):
        measure_latency(onnx_bundle, [bad], n=0)
    with pytest.raises(FakescopeError, match="cold-start") as info:
        cold_start(tmp_path / "no-bundle", bad)
    assert "\n" not in str(info.value)
