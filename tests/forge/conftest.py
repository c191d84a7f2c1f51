"""Fixtures of the benchmark-builder tests: the tiny test generators and one reference build."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from fakescope.forge.build import build_benchmark
from fakescope.forge.generators.base import GENERATORS
from tests.forge.tiny_zoo import TINY, TinySampler, tiny_preset, tiny_source


@pytest.fixture(scope="module")
def tiny_zoo() -> Iterator[None]:
    """Register the test-only generators for one test module, then remove them."""
    for name, cls in TINY.items():
        GENERATORS.register(name)(cls)
    try:
        yield
    finally:
        for name in TINY:
            GENERATORS.unregister(name)
        TinySampler.fail_at_step = None


@pytest.fixture(scope="module")
def source(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """60 small real JPEGs (16 px, quality 75) in a flat folder."""
    return tiny_source(tmp_path_factory.mktemp("source"))


@pytest.fixture(scope="module")
def built(tiny_zoo: None, source: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One uninterrupted build of the tiny preset (the reference of several tests)."""
    return build_benchmark(
        source, tmp_path_factory.mktemp("built") / "bench", tiny_preset(), progress=False
    )


def benchmark_files(root: Path) -> dict[str, bytes]:
    """Every file of a build that must be byte-identical (images, manifest, grids)."""
    out = {}
    for path in sorted(root.rglob("*")):
        rel = path.relative_to(root).as_posix()
        if (
            path.is_file()
            and not rel.startswith(".work/")
            and rel
            not in (
                "benchmark.json",
                "summary.html",
            )
        ):
            out[rel] = path.read_bytes()
    return out
