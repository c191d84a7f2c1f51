"""fit_module: checkpoints, resume from last.ckpt, seeding, run identity, devices."""

from __future__ import annotations

from pathlib import Path

import lightning as L
import pytest
import torch

from fakescope.errors import ConfigError
from fakescope.train.dataset import SampleDataset
from fakescope.train.devices import accelerator_for, torch_device
from fakescope.train.fit import FitSettings, fit_module, load_checkpoint_state, workdir_scope
from fakescope.train.module import ClassifierModule
from tests.train.conftest import tiny_cnn

INFO = {"arch": "tiny", "classes": ["real", "fake"]}


def _settings(**kw: object) -> FitSettings:
    base: dict[str, object] = {"epochs": 1, "batch_size": 4, "num_workers": 0, "progress": False}
    return FitSettings(**(base | kw))  # type: ignore[arg-type]


def _module(seed: int = 0, epochs: int = 1) -> ClassifierModule:
    L.seed_everything(seed, verbose=False)
    return ClassifierModule(tiny_cnn(), 2, lr=0.05, epochs=epochs)


def test_fit_writes_checkpoints_and_history(
    datasets: tuple[SampleDataset, SampleDataset], tmp_path: Path
) -> None:
    train, val = datasets
    res = fit_module(_module(), train, val, _settings(epochs=2), tmp_path, INFO)
    assert res.resumed_from is None and res.start_epoch == 0 and res.epochs_done == 2
    assert res.last_path == tmp_path / "checkpoints" / "last.ckpt" and res.last_path.is_file()
    assert res.best_path is not None and res.best_path.name.startswith("best-e")
    assert [h["epoch"] for h in res.history] == [0.0, 1.0]
    assert {"train_loss", "val_loss", "val_auc", "val_acc"} <= set(res.history[-1])
    assert 0.0 <= res.history[-1]["val_auc"] <= 1.0
    state = load_checkpoint_state(res.best_path)
    assert set(state) == set(tiny_cnn().state_dict())
    assert (tmp_path / "logs").is_dir()


def test_resume_continues_from_last_checkpoint(
    datasets: tuple[SampleDataset, SampleDataset], tmp_path: Path
) -> None:
    train, val = datasets
    first = fit_module(_module(epochs=1), train, val, _settings(epochs=1), tmp_path, INFO)
    assert first.epochs_done == 1
    after_one = load_checkpoint_state(tmp_path / "checkpoints" / "last.ckpt")
    second = fit_module(_module(seed=5, epochs=2), train, val, _settings(epochs=2), tmp_path, INFO)
    assert second.resumed_from == tmp_path / "checkpoints" / "last.ckpt"
    assert second.start_epoch == 1 and second.epochs_done == 2
    assert [h["epoch"] for h in second.history] == [1.0]
    after_two = load_checkpoint_state(tmp_path / "checkpoints" / "last.ckpt")
    assert not torch.equal(after_one["5.weight"], after_two["5.weight"])


def test_same_seed_same_weights(
    datasets: tuple[SampleDataset, SampleDataset], tmp_path: Path
) -> None:
    train, val = datasets
    runs = []
    for name in ("a", "b"):
        res = fit_module(_module(seed=3), train, val, _settings(seed=3), tmp_path / name, INFO)
        assert res.best_path is not None
        runs.append(load_checkpoint_state(res.best_path))
    assert all(torch.equal(runs[0][k], runs[1][k]) for k in runs[0])


def test_without_validation_best_is_last(
    datasets: tuple[SampleDataset, SampleDataset], tmp_path: Path
) -> None:
    train, _ = datasets
    res = fit_module(_module(), train, None, _settings(), tmp_path, INFO)
    assert res.best_path is not None and res.best_path.is_file()
    assert "val_loss" not in res.history[0] and "train_loss" in res.history[0]


def test_resume_of_another_run_is_refused(
    datasets: tuple[SampleDataset, SampleDataset], tmp_path: Path
) -> None:
    train, _ = datasets
    fit_module(_module(), train, None, _settings(), tmp_path, INFO)
    with pytest.raises(ConfigError, match=r"different training run.*classes"):
        fit_module(
            _module(), train, None, _settings(), tmp_path, {**INFO, "classes": ["real", "x", "y"]}
        )


def test_bad_devices_and_precision(
    datasets: tuple[SampleDataset, SampleDataset], tmp_path: Path
) -> None:
    assert accelerator_for("cpu") == ("cpu", 1)
    assert accelerator_for("cuda:1") == ("cuda", [1])
    assert torch_device("cpu") == torch.device("cpu")
    for bad in ("tpu", "cpu:1", "cuda:x"):
        with pytest.raises(ConfigError):
            accelerator_for(bad)
    with pytest.raises(ConfigError, match="16-mixed needs a GPU"):
        fit_module(_module(), datasets[0], None, _settings(precision="16-mixed"), tmp_path, INFO)


def test_temporary_workdir_is_removed() -> None:
    with workdir_scope(None) as wd:
        (wd / "x").write_text("1")
        assert wd.is_dir()
    assert not wd.exists()


def test_early_stopping_on_a_flat_val_loss(
    datasets: tuple[SampleDataset, SampleDataset], tmp_path: Path
) -> None:
    train, val = datasets
    linear = torch.nn.Sequential(
        torch.nn.Flatten(), torch.nn.Linear(3 * 16 * 16, 2)
    )  # no BatchNorm
    module = ClassifierModule(linear, 2, lr=0.0, scheduler="none")  # val loss never improves
    res = fit_module(module, train, val, _settings(epochs=6, patience=1), tmp_path, INFO)
    assert res.epochs_done == 2 and len(res.history) == 2
    assert res.best_path is not None and res.best_path.name == "best-e000.ckpt"
