"""Residual spectra show an up-sampling trace where it is, and the CLI draws them."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from PIL import Image
from typer.testing import CliRunner

from fakescope.cli.app import app
from fakescope.data.index import index_dataset
from fakescope.data.spectra import REAL, Spectra, noise_spectra, plot_spectra
from fakescope.errors import DataError
from tests.data.pixel_sets import photo

SIZE = 64


def _nearest_2x(img: Image.Image) -> Image.Image:
    small = img.resize((img.width // 2, img.height // 2), Image.Resampling.LANCZOS)
    return small.resize(img.size, Image.Resampling.NEAREST)


def _dataset(root: Path, n: int = 12) -> Path:
    """``gen`` fakes: nearest 2x up-sampled photos; reals: photos at full resolution."""
    for i in range(n):
        for label, img in (
            ("0_real", photo(i, SIZE)),
            ("1_fake", _nearest_2x(photo(500 + i, SIZE))),
        ):
            folder = root / "gen" / label
            folder.mkdir(parents=True, exist_ok=True)
            img.save(folder / f"{i:02d}.png")
    return root


def _patch(spectrum: np.ndarray, y: int, x: int) -> float:
    """Mean of ``spectrum`` [n, n] over a small square around (y, x) (wrapping at the edges)."""
    n, r = spectrum.shape[0], max(2, spectrum.shape[0] // 16)
    ys, xs = np.arange(y - r, y + r + 1) % n, np.arange(x - r, x + r + 1) % n
    return float(spectrum[np.ix_(ys, xs)].mean())


def test_nearest_upsampling_peaks_at_nyquist_and_reals_do_not(tmp_path: Path) -> None:
    table = index_dataset(_dataset(tmp_path / "d"))
    result = noise_spectra(table, crop=SIZE)
    assert set(result.spectra) == {REAL, "gen"}
    assert result.counts == {REAL: 12, "gen": 12}
    assert result.spectra["gen"].shape == (SIZE, SIZE)
    # 2x up-sampling copies the low frequencies to (+-0.5, 0) and (0, +-0.5): index 0 after
    # fftshift is -0.5 cycles / px, SIZE // 2 is 0
    c = SIZE // 2
    diff = result.spectra["gen"] - result.spectra[REAL]
    grid = range(0, SIZE, SIZE // 8)
    means = {(y, x): _patch(diff, y, x) for y in grid for x in grid}
    assert max(means, key=means.__getitem__) in {(c, 0), (0, c)}
    assert means[(c, 0)] > np.median(list(means.values())) + 0.5
    # the reals have no such peak: their Nyquist patches are not above their ring at that radius
    d = round(0.35 * SIZE)
    for name, margin in ((REAL, 0.4), ("gen", -0.6)):
        s = result.spectra[name]
        axes = np.mean([_patch(s, c, 0), _patch(s, 0, c)])
        ring = np.mean([_patch(s, c + dy, c + dx) for dy in (-d, d) for dx in (-d, d)])
        assert (axes - ring < margin) if margin > 0 else (axes - ring > -margin), name


def test_sample_cap_and_small_images_are_skipped(tmp_path: Path) -> None:
    table = index_dataset(_dataset(tmp_path / "d", n=6))
    capped = noise_spectra(table, crop=SIZE, max_images=4)
    assert capped.counts == {REAL: 4, "gen": 4}
    small = tmp_path / "d" / "gen" / "0_real" / "small.png"
    photo(99, 32).save(small)
    result = noise_spectra(index_dataset(tmp_path / "d"), crop=SIZE)
    assert result.counts[REAL] == 6 and result.skipped[REAL] == 1


def test_bad_inputs_are_one_line_errors(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="empty"):
        noise_spectra(pd.DataFrame(columns=["path", "label", "generator"]))
    table = index_dataset(_dataset(tmp_path / "d", n=2))
    with pytest.raises(DataError, match="smaller --crop"):
        noise_spectra(table, crop=2 * SIZE)
    blocker = tmp_path / "file"
    blocker.write_text("x")
    spectra = Spectra(crop=8, spectra={REAL: np.zeros((8, 8))}, counts={REAL: 1})
    with pytest.raises(DataError, match="writable") as exc:
        plot_spectra(spectra, blocker / "out.png")
    assert "\n" not in str(exc.value)


def test_cli_writes_the_png(tmp_path: Path) -> None:
    root = _dataset(tmp_path / "d", n=3)
    out = tmp_path / "figs" / "spectra.png"
    args = ["data", "spectra", str(root), "--out", str(out), "--max-images", "2", "--crop", "32"]
    res = CliRunner().invoke(app, args)
    assert res.exit_code == 0, res.output
    assert "real (2)" in res.stdout and "gen (2)" in res.stdout
    with Image.open(out) as img:
        assert img.format == "PNG" and img.width > img.height
    assert not [p for p in out.parent.iterdir() if p.name.startswith(".")]  # no temp left
    bad = CliRunner().invoke(
        app, ["data", "spectra", str(root), "--out", str(out), "--crop", "512"]
    )
    assert bad.exit_code == 2 and "error:" in bad.output
    assert len(bad.output.strip().splitlines()) == 1
