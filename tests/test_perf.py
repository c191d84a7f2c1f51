"""Speed benchmark plumbing (no timing assertions: only structure and consistency)."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from fakescope.errors import ConfigError, DataError, NotFittedError
from fakescope.perf import (
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
