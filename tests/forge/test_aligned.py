"""The ``aligned`` preset: every real beside its reconstruction by each decoder, one compression
history for both, deterministic and resumable; and its command line."""

from __future__ import annotations

import shutil
import zipfile
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from PIL import Image
from typer.testing import CliRunner

from fakescope.cli.app import app
from fakescope.forge.build import build_benchmark
from fakescope.forge.encode import inspect_format, standard_tables
from fakescope.forge.presets import Preset, get_preset
from tests.forge.conftest import benchmark_files

DECODERS = ("tae_flux1", "tae_sd")
#: Header keys Pillow reports for a bare JFIF file (no EXIF, ICC profile or comment).
BARE_JPEG_INFO = {"jfif", "jfif_version", "jfif_unit", "jfif_density", "dpi"}


@pytest.fixture(scope="module")
def weights(shared_data: Path) -> Path:
    return shared_data / "tiny-autoencoders.zip"


@pytest.fixture(scope="module")
def faces(shared_data: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Nine LFW photos (250x250 JPEG q75, one person's folder each) and one RGBA PNG."""
    root = tmp_path_factory.mktemp("faces")
    with zipfile.ZipFile(shared_data / "lfw-deepfunneled-8k.zip") as zf:
        names = sorted(n for n in zf.namelist() if n.endswith(".jpg"))[:10]
        for name in names[:9]:
            zf.extract(name, root)
        with zf.open(names[9]) as fh:
            rgba = Image.open(fh).convert("RGBA")
    rgba.save(root / "lfw" / "rgba.png")
    return root


def _preset(**changes: object) -> Preset:
    return get_preset("aligned", resolution=64, fd_images=0, grid_images=4, **changes)


@pytest.fixture(scope="module")
def aligned(faces: Path, weights: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("aligned") / "bench"
    return build_benchmark(
        faces, out, _preset(), generators=DECODERS, weights=weights, progress=False
    )


def _pixels(path: Path) -> np.ndarray:
    with Image.open(path) as img:
        return np.asarray(img.convert("RGB"), dtype=np.float64) / 255.0


def test_every_real_is_paired_with_its_fake_by_each_decoder(aligned: Path) -> None:
    m = pd.read_parquet(aligned / "manifest.parquet")
    assert set(m["generator"]) == set(DECODERS)
    for gen, rows in m.groupby("generator"):
        reals, fakes = rows[rows.label == 0], rows[rows.label == 1]
        assert len(reals) == len(fakes) == 10  # every source image, once
        assert sorted(reals["source"]) == sorted(fakes["source"])
        assert set(reals["decoder"]) == {""} and set(fakes["decoder"]) == {
            str(gen).removeprefix("tae_")
        }
        assert set(fakes["family"]) == {"ldm_decoder"} and set(fakes["donor"]) == {""}
        by_pair = rows.groupby("pair_id")
        assert by_pair.size().eq(2).all() and len(by_pair) == 10
        for _, pair in by_pair:  # the same source, split and index: real i beside fake i
            assert pair["source"].nunique() == 1 and pair["split"].nunique() == 1
            assert {p.rsplit("/", 1)[-1] for p in pair["path"]} == {
                pair["path"].iloc[0].rsplit("/", 1)[-1]
            }
    # The pair id names the source across decoders too.
    ids = m.groupby("source")["pair_id"].nunique()
    assert ids.eq(1).all() and m["pair_id"].ne("").all()


def test_each_fake_reconstructs_its_own_real(aligned: Path) -> None:
    m = pd.read_parquet(aligned / "manifest.parquet")
    for gen in DECODERS:
        rows = m[(m.generator == gen) & (m.split == "train")].sort_values("path")
        reals = [_pixels(aligned / p) for p in rows[rows.label == 0]["path"]]
        fakes = [_pixels(aligned / p) for p in rows[rows.label == 1]["path"]]
        for i, fake in enumerate(fakes):
            own = np.abs(fake - reals[i]).mean()
            other = np.abs(fake - reals[(i + 1) % len(reals)]).mean()
            assert own < 0.12 and own < 0.5 * other, (gen, i, own, other)


def test_reals_and_fakes_share_one_compression_history(aligned: Path) -> None:
    q90 = standard_tables()[90]
    formats = set()
    for path in sorted(aligned.glob("tae_*/*/*/*")):
        fmt = inspect_format(path)
        formats.add((fmt.format, fmt.mode, fmt.size, fmt.qtables, fmt.subsampling))
        with Image.open(path) as img:
            assert set(img.info) <= BARE_JPEG_INFO, (path, set(img.info))
    assert formats == {("JPEG", "RGB", (64, 64), q90, 2)}  # the source itself is JPEG q75
    info = pd.read_json(aligned / "benchmark.json", typ="series")
    assert info["format"]["history"]["mode"] == "equalize"
    assert info["format"]["history"]["source_format"].startswith("JPEG q=75")
    for gen in info["generators"].values():
        assert gen["audit"]["qtables_identical"] and gen["audit"]["sizes_modes_identical"]


def test_naive_history_keeps_the_source_format(faces: Path, weights: Path, tmp_path: Path) -> None:
    root = build_benchmark(
        faces,
        tmp_path / "naive",
        _preset(history="keep"),
        generators=["tae_sd"],
        weights=weights,
        progress=False,
    )
    fmt = inspect_format(next(root.glob("tae_sd/train/0_real/*.jpg")))
    assert fmt.qtables == standard_tables()[75]


def test_build_is_deterministic_and_resumes_a_lost_split(
    aligned: Path, faces: Path, weights: Path, tmp_path: Path
) -> None:
    copy = tmp_path / "bench"
    shutil.copytree(aligned, copy)
    (copy / ".work" / "complete").unlink()
    (copy / ".work" / "tae_sd" / "done.json").unlink()
    (copy / ".work" / "tae_sd" / "test.done").unlink()
    shutil.rmtree(copy / "tae_sd" / "test")
    build_benchmark(
        faces, copy, _preset(), generators=DECODERS, weights=weights, resume=True, progress=False
    )
    assert benchmark_files(copy) == benchmark_files(aligned)


def test_cli_aligned_with_decoders_and_weights(faces: Path, weights: Path, tmp_path: Path) -> None:
    out = tmp_path / "cli"
    base = ["forge", "build", str(faces), "--preset", "aligned", "--out", str(out)]
    fast = ["--resolution", "32", "--no-progress", "--weights", str(weights)]
    res = CliRunner().invoke(app, [*base, *fast, "--decoders", "flux1"])
    assert res.exit_code == 0, res.output
    m = pd.read_parquet(out / "manifest.parquet")
    assert set(m["generator"]) == {"tae_flux1"} and set(m[m.label == 1]["decoder"]) == {"flux1"}
    bad = CliRunner().invoke(app, [*base, *fast, "--decoders", "sd2"])
    assert bad.exit_code == 2 and bad.output.count("error:") == 1
    assert "unknown decoder 'sd2'; choose one of: sd, sdxl, sd3, flux1, flux2" in bad.output
    both = CliRunner().invoke(app, [*base, *fast, "--decoders", "sd", "--generators", "tae_sd"])
    assert both.exit_code == 2 and "either --decoders or --generators" in both.output


def test_bad_resolution_fails_before_the_folder_is_claimed(
    faces: Path, weights: Path, tmp_path: Path
) -> None:
    out = tmp_path / "odd"
    base = ["forge", "build", str(faces), "--preset", "aligned", "--out", str(out)]
    rest = ["--decoders", "sd", "--resolution", "60", "--weights", str(weights), "--no-progress"]
    res = CliRunner().invoke(app, [*base, *rest])
    assert res.exit_code == 2 and res.output.count("error:") == 1
    assert "multiple of 8, got 60; pass --resolution 56" in res.output
    assert not out.exists() or not any(out.iterdir())


def test_aligned_build_draws_the_fingerprint_spectra_into_its_summary(aligned: Path) -> None:
    """The aligned preset's report shows each decoder's residual spectrum beside the reals'."""
    png = aligned / "spectra.png"
    assert png.is_file() and png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    summary = (aligned / "summary.html").read_text()
    assert "Fingerprint spectra" in summary and summary.count("data:image/png;base64,") >= 2
