"""``fakescope perf decoders``: images/s of the real-decoder autoencoders."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from fakescope.models.weights import WeightsError
from fakescope.perf.decoders import time_decoders


def test_one_row_per_decoder_and_threads_restored(shared_data: Path) -> None:
    before = torch.get_num_threads()
    rows = time_decoders(
        ("sd", "flux2"),
        weights=shared_data / "tiny-autoencoders.zip",
        size=32,
        batch=2,
        repeats=1,
        threads=1,
    )
    assert [r.decoder for r in rows] == ["sd", "flux2"]
    assert all(r.threads == 1 and r.size == 32 and r.images_per_s > 0 for r in rows)
    assert torch.get_num_threads() == before


def test_unknown_decoder_is_a_one_line_error(tmp_path: Path) -> None:
    with pytest.raises(WeightsError, match="choose one of"):
        time_decoders(("sd4",), weights=tmp_path)


def test_cli_prints_a_row_per_decoder(shared_data: Path) -> None:
    from typer.testing import CliRunner

    from fakescope.cli.app import app

    args = ["perf", "decoders", "--decoders", "sd3", "--size", "16", "--batch", "1", "-r", "1"]
    res = CliRunner().invoke(app, [*args, "--weights", str(shared_data / "tiny-autoencoders.zip")])
    assert res.exit_code == 0, res.output
    assert "sd3" in res.output and "images/s" in res.output
