"""Resume after a kill or a full disk gives the same benchmark; other builds are refused."""

from __future__ import annotations

import errno
import json
from pathlib import Path

import pytest
from PIL import Image

from fakescope.errors import FakescopeError
from fakescope.forge import produce
from fakescope.forge.build import build_benchmark
from tests.forge.conftest import benchmark_files
from tests.forge.tiny_zoo import KilledError, TinySampler, tiny_preset


def test_killed_training_resumes_to_the_same_files(
    built: Path, source: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    out = tmp_path / "bench"
    monkeypatch.setattr(TinySampler, "fail_at_step", 3)  # after the step-2 checkpoint
    with pytest.raises(KilledError):
        build_benchmark(source, out, tiny_preset(), progress=False)
    assert (out / ".work" / "tiny_sampler" / "checkpoint" / "checkpoint.safetensors").is_file()
    assert (out / ".work" / "tiny_manip" / "done.json").is_file()  # done before the kill
    monkeypatch.setattr(TinySampler, "fail_at_step", None)
    with pytest.raises(FakescopeError, match=r"unfinished build.*--resume"):
        build_benchmark(source, out, tiny_preset(), progress=False)
    build_benchmark(source, out, tiny_preset(), resume=True, progress=False)
    assert benchmark_files(out) == benchmark_files(built)
    assert json.loads((out / "benchmark.json").read_text())["resumed"] is True


def test_full_disk_stops_with_one_line_and_resumes(
    built: Path, source: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    out = tmp_path / "bench"
    real_encode = produce.encode_like
    calls = {"n": 0}

    def flaky(*args: object, **kwargs: object) -> Path:
        calls["n"] += 1
        if calls["n"] == 25:  # in the middle of the second generator's train split
            raise OSError(errno.ENOSPC, "No space left on device")
        return real_encode(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(produce, "encode_like", flaky)
    with pytest.raises(FakescopeError) as info:
        build_benchmark(source, out, tiny_preset(), progress=False)
    msg = str(info.value)
    assert "disk is full" in msg and "--resume" in msg and "\n" not in msg
    written = [p for p in out.rglob("*") if p.is_file() and ".work" not in p.parts]
    assert written and all(not p.name.startswith(".") for p in written)  # no temp files left
    for p in written:
        with Image.open(p) as img:
            img.load()  # every file that exists is complete
    monkeypatch.setattr(produce, "encode_like", real_encode)
    build_benchmark(source, out, tiny_preset(), resume=True, progress=False)
    assert benchmark_files(out) == benchmark_files(built)


def test_other_builds_are_refused_unless_forced(
    tiny_zoo: None, source: Path, tmp_path: Path
) -> None:
    out = build_benchmark(source, tmp_path / "bench", tiny_preset(), progress=False)
    with pytest.raises(FakescopeError, match=r"different build \(preset tiny.*seed 0.*--force"):
        build_benchmark(source, out, tiny_preset(), seed=1, progress=False)
    with pytest.raises(FakescopeError, match="continues only the same build"):
        build_benchmark(source, out, tiny_preset(), seed=1, resume=True, progress=False)
    with pytest.raises(FakescopeError, match="already holds a complete build"):
        build_benchmark(source, out, tiny_preset(), progress=False)
    manifest = (out / "manifest.parquet").read_bytes()
    build_benchmark(source, out, tiny_preset(), resume=True, progress=False)  # complete: no-op
    assert (out / "manifest.parquet").read_bytes() == manifest
    build_benchmark(source, out, tiny_preset(), seed=1, force=True, progress=False)
    assert json.loads((out / "benchmark.json").read_text())["seed"] == 1

    mine = tmp_path / "my-photos"
    (mine / "keep.txt").parent.mkdir()
    (mine / "keep.txt").write_text("precious")
    with pytest.raises(FakescopeError, match="holds no fakescope benchmark"):
        build_benchmark(source, mine, tiny_preset(), force=True, progress=False)
    assert (mine / "keep.txt").read_text() == "precious"
