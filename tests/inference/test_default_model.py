"""The default model: env override, packaged location, integrity (SHA256SUMS), and
``check`` / ``scan`` / ``serve`` falling back to it when ``--model`` is not given."""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from typer.testing import CliRunner

from fakescope.cli.app import app
from fakescope.errors import BundleError, ConfigError
from fakescope.inference import default_model as dm
from tests.cli.tiny_detector import (
    TinyDetector,
    make_dataset,
    tiny_registered,  # noqa: F401 - autouse fixture
)
from tests.conftest import write_image

RELEASE = {
    "release": {"name": "fakescope tiny", "version": "0.0.1-test"},
    "training_data": {"summary": "two toy generators", "families": ["gan", "diffusion"]},
}


@pytest.fixture(scope="session")
def sealed(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny-test bundle sealed as a default model (release facts + SHA256SUMS)."""
    from fakescope.data.index import index_dataset
    from fakescope.data.schema import SPLIT

    root = tmp_path_factory.mktemp("default-model")
    table = index_dataset(make_dataset(root / "ds", n=4, generators=("gan", "diffusion")))
    det = TinyDetector({"steps": 50, "num_workers": 0})
    det.fit(table[table[SPLIT] == "train"], table[table[SPLIT] == "val"])
    bundle = det.save(root / "bundle")
    dm.seal(bundle, RELEASE)
    return bundle


@pytest.fixture
def no_default(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Neither the env var nor a packaged model."""
    monkeypatch.delenv(dm.ENV_VAR, raising=False)
    monkeypatch.setattr(dm, "packaged_dir", lambda: tmp_path / "not-installed")


@pytest.fixture
def copy(sealed: Path, tmp_path: Path) -> Path:
    """A private copy of the sealed bundle (tests may damage it)."""
    return Path(shutil.copytree(sealed, tmp_path / "copy"))


@pytest.fixture
def images(tmp_path: Path) -> list[Path]:
    return [
        write_image(tmp_path / "img" / "a.png", 1, fmt="PNG"),
        write_image(tmp_path / "img" / "b.png", 2, fake=True, fmt="PNG"),
    ]


def one_error(stderr: str) -> str:
    lines = [line for line in stderr.splitlines() if line.strip()]
    assert len(lines) == 1, stderr
    assert lines[0].startswith("error: ")
    return lines[0]


# --------------------------------------------------------------- resolving
def test_sums_file_lists_every_file_with_its_sha256(sealed: Path) -> None:
    listed = {}
    for line in (sealed / dm.SUMS).read_text().splitlines():
        digest, name = line.split("  ", 1)
        listed[name] = digest
    files = {p.name for p in sealed.iterdir() if p.name != dm.SUMS}
    assert set(listed) == files and {"meta.json", "model.safetensors", "config.yaml"} <= files
    for name, digest in listed.items():
        assert digest == hashlib.sha256((sealed / name).read_bytes()).hexdigest()


def test_env_var_overrides_the_packaged_model(
    sealed: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setattr(dm, "packaged_dir", lambda: tmp_path / "elsewhere")
    monkeypatch.setenv(dm.ENV_VAR, str(sealed))
    resolved = dm.resolve_model(None)
    assert resolved.path == sealed and resolved.origin == dm.ENV_VAR and resolved.is_default
    assert (
        resolved.line()
        == "model: fakescope tiny (version 0.0.1-test, trained on two toy generators)"
    )
    given = dm.resolve_model(tmp_path / "mine")  # --model always wins, taken as given
    assert given.path == tmp_path / "mine" and not given.is_default


def test_packaged_model_is_used_and_must_be_sealed(
    copy: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(dm.ENV_VAR, raising=False)
    monkeypatch.setattr(dm, "packaged_dir", lambda: copy)
    resolved = dm.resolve_model(None)
    assert resolved.path == copy and resolved.origin == "package"
    assert resolved.meta["release"]["version"] == "0.0.1-test"
    (copy / dm.SUMS).unlink()
    with pytest.raises(BundleError, match=f"no {dm.SUMS}"):
        dm.resolve_model(None)


def test_the_real_packaged_location_is_inside_the_package() -> None:
    import fakescope

    where = dm.packaged_dir()
    assert where == Path(fakescope.__file__).parent / "assets" / "default-model"


def test_no_model_anywhere_is_one_line_saying_what_to_do(no_default: None) -> None:
    with pytest.raises(BundleError) as info:
        dm.resolve_model(None)
    message = str(info.value)
    assert "\n" not in message
    assert "fakescope train" in message and dm.ENV_VAR in message and "release" in message


def test_env_var_pointing_nowhere_names_the_variable(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv(dm.ENV_VAR, str(tmp_path / "gone"))
    with pytest.raises(BundleError, match=dm.ENV_VAR):
        dm.resolve_model(None)


def test_unsealed_bundle_via_env_var_is_accepted(
    copy: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (copy / dm.SUMS).unlink()  # a user's own bundle from 'fakescope train' has no sums
    monkeypatch.setenv(dm.ENV_VAR, str(copy))
    assert dm.resolve_model(None).path == copy


# --------------------------------------------------------------- integrity
@pytest.mark.parametrize(
    ("damage", "words"),
    [
        ("flip", "model.safetensors has changed (sha256 mismatch)"),
        ("delete", "calibration.json is missing"),
        ("add", "notes.txt is not listed"),
    ],
)
def test_integrity_problems_are_one_line_errors(
    copy: Path, monkeypatch: pytest.MonkeyPatch, damage: str, words: str
) -> None:
    sums = (copy / dm.SUMS).read_text()
    if damage == "flip":
        data = bytearray((copy / "model.safetensors").read_bytes())
        data[-1] ^= 0x01
        (copy / "model.safetensors").write_bytes(bytes(data))
    elif damage == "delete":  # a listed file that is gone
        (copy / dm.SUMS).write_text(sums + f"{'0' * 64}  calibration.json\n")
    else:
        (copy / "notes.txt").write_text("extra")
    monkeypatch.setenv(dm.ENV_VAR, str(copy))
    with pytest.raises(BundleError) as info:
        dm.resolve_model(None)
    assert words in str(info.value) and "\n" not in str(info.value)


def test_malformed_sums_line_is_an_error(copy: Path) -> None:
    (copy / dm.SUMS).write_text("abc  meta.json\n")
    with pytest.raises(BundleError, match="line 1"):
        dm.verify(copy)


def test_seal_rejects_unknown_release_keys(copy: Path) -> None:
    with pytest.raises(ConfigError, match="unknown key"):
        dm.seal(copy, {"licence": "MIT"})


def test_bundle_seal_command_merges_release_facts(
    runner: CliRunner, copy: Path, tmp_path: Path
) -> None:
    facts = tmp_path / "release.yaml"
    facts.write_text("release: {name: house model, version: '2'}\ntrain_command: fakescope train\n")
    res = runner.invoke(app, ["bundle", "seal", str(copy), "--release", str(facts)])
    assert res.exit_code == 0, res.output
    meta = json.loads((copy / "meta.json").read_text())
    assert meta["release"] == {"name": "house model", "version": "2"}
    assert meta["train_command"] == "fakescope train" and meta["detector"] == "tiny-test"
    dm.verify(copy)  # the sums were written after meta.json changed


# --------------------------------------------------------------- commands
@pytest.fixture
def runner() -> CliRunner:
    return CliRunner()


@pytest.fixture
def env_default(sealed: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv(dm.ENV_VAR, str(sealed))
    return sealed


def test_check_without_model_uses_the_default(
    runner: CliRunner, env_default: Path, images: list[Path]
) -> None:
    args = ["check", *map(str, images), "--json"]
    implicit = runner.invoke(app, args)
    explicit = runner.invoke(app, [*args, "--model", str(env_default)])
    assert implicit.exit_code == 0 and explicit.exit_code == 0, implicit.output
    assert json.loads(implicit.stdout) == json.loads(explicit.stdout)  # same model answered
    assert "model: fakescope tiny (version 0.0.1-test" in implicit.stderr
    assert "model:" not in explicit.stderr
    table = runner.invoke(app, ["check", str(images[0])])
    assert table.stdout.splitlines()[0].startswith("model: fakescope tiny")


def test_scan_without_model_uses_the_default(
    runner: CliRunner, env_default: Path, images: list[Path], tmp_path: Path
) -> None:
    flags = ["--workers", "0", "--no-progress"]
    res = runner.invoke(app, ["scan", str(images[0].parent), "-o", str(tmp_path / "a.csv"), *flags])
    ref = runner.invoke(
        app,
        [
            "scan",
            str(images[0].parent),
            "-o",
            str(tmp_path / "b.csv"),
            "-m",
            str(env_default),
            *flags,
        ],
    )
    assert res.exit_code == 0 and ref.exit_code == 0, res.output
    assert res.stdout.startswith("model: fakescope tiny")
    pd.testing.assert_frame_equal(pd.read_csv(tmp_path / "a.csv"), pd.read_csv(tmp_path / "b.csv"))


def test_check_and_scan_without_any_model_fail_in_one_line(
    runner: CliRunner, no_default: None, images: list[Path]
) -> None:
    for args in (["check", str(images[0])], ["scan", str(images[0]), "--no-progress"]):
        res = runner.invoke(app, args)
        assert res.exit_code == 2
        assert "fakescope train" in one_error(res.stderr)


def test_check_with_a_damaged_default_fails_before_scoring(
    runner: CliRunner, copy: Path, monkeypatch: pytest.MonkeyPatch, images: list[Path]
) -> None:
    (copy / "config.yaml").write_text((copy / "config.yaml").read_text() + "\n# edited\n")
    monkeypatch.setenv(dm.ENV_VAR, str(copy))
    res = runner.invoke(app, ["check", str(images[0]), "--json"])
    assert res.exit_code == 2 and res.stdout == ""
    assert "config.yaml has changed" in one_error(res.stderr)


def test_serve_without_model_serves_the_default(
    runner: CliRunner, env_default: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import uvicorn

    seen: dict[str, Any] = {}
    monkeypatch.setattr(uvicorn, "run", lambda app_, **kw: seen.update(app=app_))
    res = runner.invoke(app, ["serve", "--port", "0"])
    assert res.exit_code == 0, res.output
    assert seen["app"].state.fakescope.bundle == env_default
    assert "serving fakescope tiny (version 0.0.1-test" in res.stdout
