"""Weights files: pickle refusal, safetensors round trip, strict loading, order remap, hashing."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from torch import nn

from fakescope.errors import FakescopeError
from fakescope.models.weights import (
    WeightsError,
    cache_dir,
    load_checked,
    read_weights_file,
    remap_by_order,
    save_safetensors_atomic,
    state_dict_sha256,
)


def _small() -> nn.Sequential:
    torch.manual_seed(0)
    return nn.Sequential(nn.Conv2d(3, 4, 3), nn.BatchNorm2d(4))


def test_safetensors_round_trip_is_exact(tmp_path: Path) -> None:
    state = _small().state_dict()
    path = save_safetensors_atomic(state, tmp_path / "w.safetensors")
    back = read_weights_file(path)
    assert set(back) == set(state)
    assert all(torch.equal(back[k], state[k]) for k in state)
    assert [p.name for p in tmp_path.iterdir()] == ["w.safetensors"]  # no temp file left


@pytest.mark.parametrize("suffix", [".pt", ".pth", ".bin"])
def test_pickles_are_refused_without_consent(tmp_path: Path, suffix: str) -> None:
    path = tmp_path / f"w{suffix}"
    torch.save(_small().state_dict(), path)
    with pytest.raises(WeightsError, match="allow_pickle") as info:
        read_weights_file(path)
    assert isinstance(info.value, FakescopeError)
    assert "\n" not in str(info.value)


def test_pickle_with_consent_unwraps_checkpoints(tmp_path: Path) -> None:
    state = _small().state_dict()
    path = tmp_path / "ckpt.pth"
    torch.save({"epoch": 3, "state_dict": {f"module.{k}": v for k, v in state.items()}}, path)
    back = read_weights_file(path, allow_pickle=True)
    assert set(back) == set(state)
    assert torch.equal(back["0.weight"], state["0.weight"])


def test_missing_unknown_and_corrupt_files_are_one_line_errors(tmp_path: Path) -> None:
    with pytest.raises(WeightsError, match="does not exist"):
        read_weights_file(tmp_path / "nope.safetensors")
    odd = tmp_path / "w.npz"
    odd.write_bytes(b"x")
    with pytest.raises(WeightsError, match="unknown weights format"):
        read_weights_file(odd)
    bad = tmp_path / "bad.safetensors"
    bad.write_bytes(b"not a safetensors file")
    with pytest.raises(WeightsError, match="cannot read"):
        read_weights_file(bad)


def test_load_checked_rejects_wrong_shapes_and_names() -> None:
    model = _small()
    state = {k: v.clone() for k, v in model.state_dict().items()}
    state["0.weight"] = torch.zeros(5, 3, 3, 3)
    with pytest.raises(WeightsError, match=r"'0\.weight' has shape \(5, 3, 3, 3\)"):
        load_checked(model, state, source="test")
    del state["0.weight"]
    with pytest.raises(WeightsError, match="1 missing"):
        load_checked(model, state, source="test")


def test_load_checked_loads_values() -> None:
    model, other = _small(), _small()
    state = {k: v + 1 for k, v in other.state_dict().items()}
    load_checked(model, state, source="test")
    assert torch.equal(model.state_dict()["0.weight"], state["0.weight"])


def test_remap_by_order_renames_and_checks_shapes() -> None:
    target = _small().state_dict()
    source = {
        f"src_{i}": v + 1 for i, (k, v) in enumerate(target.items()) if "num_batches" not in k
    }
    out = remap_by_order(source, target, what="test")
    assert list(out) == list(target)
    assert torch.equal(out["0.weight"], target["0.weight"] + 1)
    assert int(out["1.num_batches_tracked"]) == 0
    bad = dict(source)
    bad["src_0"] = torch.zeros(4, 3, 5, 5)
    with pytest.raises(WeightsError, match=r"tensor 0 'src_0' has shape \(4, 3, 5, 5\)"):
        remap_by_order(bad, target, what="test")
    with pytest.raises(WeightsError, match="hold 5 tensors but the model has 6"):
        remap_by_order(dict(list(source.items())[:-1]), target, what="test")


def test_state_dict_hash_sees_every_value() -> None:
    state = _small().state_dict()
    h = state_dict_sha256(state)
    assert h == state_dict_sha256({k: v.clone() for k, v in state.items()})
    changed = {k: v.clone() for k, v in state.items()}
    changed["1.running_var"][0] += 1e-6
    assert state_dict_sha256(changed) != h


def test_cache_dir_follows_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("FAKESCOPE_CACHE", str(tmp_path / "c"))
    assert cache_dir() == tmp_path / "c"
    monkeypatch.delenv("FAKESCOPE_CACHE")
    assert cache_dir() == Path.home() / ".cache" / "fakescope"


def test_safetensors_writer_is_atomic_with_the_umask_mode(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Written through fakescope.fileio: normal file mode, old file kept when writing fails."""
    from fakescope.fileio import default_file_mode
    from fakescope.models import weights

    path = save_safetensors_atomic(_small().state_dict(), tmp_path / "w.safetensors")
    assert (path.stat().st_mode & 0o777) == default_file_mode()
    before = path.read_bytes()

    def half_write(data: object, filename: str, metadata: object = None) -> None:
        Path(filename).write_bytes(b"partial")
        raise OSError("disk full")

    monkeypatch.setattr(weights, "save_file", half_write)
    with pytest.raises(OSError, match="disk full"):
        save_safetensors_atomic(_small().state_dict(), path)
    assert path.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["w.safetensors"]
