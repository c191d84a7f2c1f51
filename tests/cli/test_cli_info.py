"""``list``, ``bundle info``, ``data info`` and ``--version``."""

from __future__ import annotations

import re
from pathlib import Path

from typer.testing import CliRunner

import fakescope
from fakescope.bundle import read_meta
from fakescope.cli.app import app


def test_list_everything_with_detector_params(runner: CliRunner) -> None:
    res = runner.invoke(app, ["list"])
    assert res.exit_code == 0, res.output
    text = res.stdout
    for header in ("detectors:", "backbones:", "heads:", "layouts:", "protocols:"):
        assert re.search(rf"^{header}$", text, re.M), header
    assert re.search(r"^  cnn - ", text, re.M)
    assert "      arch = 'efficientnet_lite0'" in text
    assert "      epochs = 10" in text
    assert re.search(r"^  binary - ", text, re.M)
    assert re.search(r"^  cross-generator - ", text, re.M)
    assert re.search(r"^  logistic - ", text, re.M)
    assert "efficientnet_lite0" in text


def test_list_one_kind(runner: CliRunner) -> None:
    res = runner.invoke(app, ["list", "layouts"])
    assert res.exit_code == 0
    assert res.stdout.startswith("layouts:\n")
    assert "detectors:" not in res.stdout and "cnn" not in res.stdout
    assert runner.invoke(app, ["list", "gizmos"]).exit_code == 2


def test_bundle_info(runner: CliRunner, tiny_bundle: Path) -> None:
    res = runner.invoke(app, ["bundle", "info", str(tiny_bundle)])
    assert res.exit_code == 0, res.output
    meta = read_meta(tiny_bundle)
    text = res.stdout
    assert re.search(r"detector\s+tiny-test", text)
    assert re.search(r"classes\s+real, fake", text)
    assert f"{meta['threshold']:.6g}" in text
    assert fakescope.__version__ in text
    assert re.search(r"params\.steps\s+100", text)
    assert '"size": 32' in text


def test_bundle_info_of_a_missing_bundle(runner: CliRunner, tmp_path: Path) -> None:
    res = runner.invoke(app, ["bundle", "info", str(tmp_path / "nope")])
    assert res.exit_code == 2 and "no bundle at" in res.stderr


def test_data_info_counts(runner: CliRunner, dataset: Path) -> None:
    res = runner.invoke(app, ["data", "info", str(dataset)])
    assert res.exit_code == 0, res.output
    text = res.stdout
    assert text.startswith("48 images: 24 real, 24 fake; 2 generator(s)")
    assert re.search(r"^train\s+gan\s+6\s+6\s+12$", text, re.M)
    assert re.search(r"^val\s+diffusion\s+3\s+3\s+6$", text, re.M)
    assert re.search(r"^TOTAL\s+TOTAL\s+24\s+24\s+48$", text, re.M)


def test_data_info_with_explicit_layout_and_family_map(
    runner: CliRunner, dataset: Path, tmp_path: Path
) -> None:
    fam = tmp_path / "families.yaml"
    fam.write_text("gan: gan\ndiffusion: diffusion\n")
    res = runner.invoke(
        app, ["data", "info", str(dataset), "--layout", "binary", "--family-map", str(fam)]
    )
    assert res.exit_code == 0, res.output
    res = runner.invoke(app, ["data", "info", str(dataset), "--layout", "nolayout"])
    assert res.exit_code == 2 and "unknown layout 'nolayout'" in res.stderr


def test_version(runner: CliRunner) -> None:
    res = runner.invoke(app, ["--version"])
    assert res.exit_code == 0 and res.stdout.strip() == f"fakescope {fakescope.__version__}"
