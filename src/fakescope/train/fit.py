"""Run a Lightning training: trainer, callbacks, checkpoints, resume, best weights.

Layout of a training workdir (a temp dir, deleted afterwards, when None)::

    <workdir>/checkpoints/last.ckpt       state after the latest finished epoch
    <workdir>/checkpoints/best-eNNN.ckpt  best epoch on the monitored val metric
    <workdir>/checkpoints/run.json        what was trained (refuses a mismatched resume)
    <workdir>/logs/version_K/metrics.csv  Lightning's CSV log of every run

:func:`fit_network` is the one training call of every trainable network (the
detectors' :class:`~fakescope.detectors.trainable.TrainableDetector` and the
continual runner): it fits in the workdir and returns the best epoch's weights.
If ``last.ckpt`` exists, :func:`fit_module` resumes from it (weights, optimiser,
scheduler, epoch counter, early-stopping and checkpoint state). Lightning
checkpoints are training state that fakescope itself wrote into the user's own
workdir; they are read with ``torch.load(..., weights_only=True)`` (plain
tensors and containers only) and are never part of a saved detector bundle.
"""

from __future__ import annotations

import json
import logging
import shutil
import tempfile
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any, Literal

import lightning as L
import torch
from lightning.pytorch.callbacks import Callback, EarlyStopping, ModelCheckpoint
from lightning.pytorch.loggers import CSVLogger
from torch import nn
from torch.utils.data import DataLoader, Dataset

from fakescope.data.loader import default_workers
from fakescope.errors import ConfigError, FakescopeError
from fakescope.fileio import atomic_write_json
from fakescope.train.dataset import EpochShuffleSampler, collate_ok
from fakescope.train.devices import accelerator_for, torch_device

CHECKPOINTS = "checkpoints"
LAST = "last.ckpt"
RUN_INFO = "run.json"
Monitor = Literal["val_loss", "val_auc"]
Precision = Literal["32", "bf16-mixed", "16-mixed"]

_QUIET = (
    r".*exists and is not empty.*",
    r".*does not have many workers.*",
    r".*smaller than the logging interval.*",
    r".*You defined a `validation_step` but have no `val_dataloader`.*",
    r".*is supported for historical reasons but its usage is discouraged.*",
    r".*isinstance\(treespec, LeafSpec\)` is deprecated.*",
)


@dataclass(frozen=True)
class FitSettings:
    """How to train: epochs, batches, device, precision, early stopping, seed, display."""

    epochs: int = 10
    batch_size: int = 64
    num_workers: int | None = None
    device: str = "cpu"
    precision: Precision = "32"
    patience: int | None = 3
    monitor: Monitor = "val_loss"
    seed: int = 0
    progress: bool = True
    deterministic: bool = False

    @classmethod
    def from_params(cls, params: Any) -> FitSettings:
        """The settings a detector's params hold (same field names; absent fields keep the
        defaults above); ``patience`` 0 or None = no early stopping."""
        given = {f.name: getattr(params, f.name) for f in fields(cls) if hasattr(params, f.name)}
        given["patience"] = given.get("patience") or None
        return cls(**given)


@dataclass
class FitResult:
    """What one call of :func:`fit_module` did.

    ``resumed_from``: the checkpoint it continued (None = fresh start);
    ``start_epoch``: the first epoch it trained (0 fresh, k after k finished
    epochs); ``history``: one dict per epoch trained here (train_loss, val_loss,
    val_auc, val_acc when available); ``best_path``: the best checkpoint (paths
    point into the workdir, so they are gone when it was a temporary one).
    """

    best_path: Path | None
    last_path: Path | None
    resumed_from: Path | None
    start_epoch: int
    epochs_done: int
    history: list[dict[str, float]] = field(default_factory=list)


@contextmanager
def workdir_scope(workdir: Path | None) -> Iterator[Path]:
    """Yield ``workdir`` (created) or a temporary directory deleted on exit."""
    if workdir is not None:
        workdir.mkdir(parents=True, exist_ok=True)
        yield workdir
        return
    tmp = Path(tempfile.mkdtemp(prefix="fakescope-train-"))
    try:
        yield tmp
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def check_run_info(ckpt_dir: Path, info: dict[str, Any]) -> None:
    """Record ``info`` in ``run.json``, or refuse to resume checkpoints of a different run."""
    path = ckpt_dir / RUN_INFO
    if path.is_file() and (ckpt_dir / LAST).is_file():
        old = json.loads(path.read_text())
        diff = sorted(k for k in set(old) | set(info) if old.get(k) != info.get(k))
        if diff:
            raise ConfigError(
                f"{ckpt_dir} holds checkpoints of a different training run (differs in {', '.join(diff)}); "
                "use another workdir or delete that folder"
            )
        return
    atomic_write_json(path, info, sort_keys=True)


class _RunRecorder(Callback):
    """Records the first epoch trained and per-epoch metrics."""

    def __init__(self) -> None:
        self.start_epoch = 0
        self.history: list[dict[str, float]] = []

    def on_train_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self.start_epoch = trainer.current_epoch

    def on_train_epoch_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        row = {"epoch": float(trainer.current_epoch)}
        for key, value in trainer.callback_metrics.items():
            row[key] = float(value)
        self.history.append(row)


def make_loaders(
    train: Dataset[Any], val: Dataset[Any] | None, settings: FitSettings
) -> tuple[DataLoader[Any], DataLoader[Any] | None]:
    """Training loader (seeded per-epoch shuffle, skip-failed collate) and validation loader."""
    workers = default_workers() if settings.num_workers is None else settings.num_workers
    n = len(train)  # type: ignore[arg-type]
    common: dict[str, Any] = {
        "batch_size": settings.batch_size,
        "num_workers": workers,
        "collate_fn": collate_ok,
        "persistent_workers": workers > 0,
        "pin_memory": torch_device(settings.device).type == "cuda",
    }
    train_loader = DataLoader(
        train,
        sampler=EpochShuffleSampler(n, settings.seed),
        drop_last=n > settings.batch_size,
        **common,
    )
    val_loader = DataLoader(val, shuffle=False, **common) if val is not None else None
    return train_loader, val_loader


def fit_module(
    module: L.LightningModule,
    train: Dataset[Any],
    val: Dataset[Any] | None,
    settings: FitSettings,
    workdir: Path,
    run_info: dict[str, Any],
) -> FitResult:
    """Train ``module`` with Lightning, resuming from ``workdir/checkpoints/last.ckpt`` if present.

    ``run_info`` (JSON-able) identifies the run; resuming checkpoints written
    with different ``run_info`` raises :class:`ConfigError`. The caller loads
    the best weights with :func:`load_checkpoint_state` (``result.best_path``).
    """
    accelerator, devices = accelerator_for(settings.device)
    if accelerator == "cpu" and settings.precision == "16-mixed":
        raise ConfigError("precision 16-mixed needs a GPU; use bf16-mixed or 32 on the CPU")
    ckpt_dir = workdir / CHECKPOINTS
    check_run_info(ckpt_dir, run_info)
    last = ckpt_dir / LAST
    resume = last if last.is_file() else None
    L.seed_everything(settings.seed, workers=True, verbose=False)
    train_loader, val_loader = make_loaders(train, val, settings)
    has_val = val_loader is not None
    mode = "max" if settings.monitor == "val_auc" else "min"
    checkpoint = ModelCheckpoint(
        dirpath=ckpt_dir,
        filename="best-e{epoch:03d}",
        auto_insert_metric_name=False,
        monitor=settings.monitor if has_val else None,
        mode=mode,
        save_top_k=1,
        save_last=True,
    )
    recorder = _RunRecorder()
    callbacks: list[Callback] = [checkpoint, recorder]
    if has_val and settings.patience:
        callbacks.append(
            EarlyStopping(monitor=settings.monitor, mode=mode, patience=settings.patience)
        )
    with _quiet(not settings.progress):
        trainer = L.Trainer(
            accelerator=accelerator,
            devices=devices,
            precision=settings.precision,
            max_epochs=settings.epochs,
            default_root_dir=workdir,
            logger=CSVLogger(workdir, name="logs"),
            callbacks=callbacks,
            enable_progress_bar=settings.progress,
            enable_model_summary=settings.progress,
            log_every_n_steps=max(1, min(50, len(train_loader))),
            limit_val_batches=None if has_val else 0,
            deterministic="warn" if settings.deterministic else False,
        )
        trainer.fit(
            module,
            train_dataloaders=train_loader,
            val_dataloaders=val_loader,
            ckpt_path=str(resume) if resume else None,
            weights_only=True,
        )
    if trainer.interrupted:
        raise FakescopeError(
            f"training was interrupted; run it again with workdir {workdir} to resume"
        )
    best = Path(checkpoint.best_model_path) if checkpoint.best_model_path else None
    if best is None or not best.is_file():
        best = last if last.is_file() else None
    return FitResult(
        best_path=best,
        last_path=last if last.is_file() else None,
        resumed_from=resume,
        start_epoch=recorder.start_epoch,
        epochs_done=trainer.current_epoch,
        history=recorder.history,
    )


def load_checkpoint_state(path: Path, prefix: str = "model.") -> dict[str, torch.Tensor]:
    """The ``state_dict`` entries of a Lightning checkpoint under ``prefix`` (prefix removed).

    Reads our own workdir's checkpoint with ``weights_only=True`` (no arbitrary objects).
    """
    ckpt = torch.load(path, map_location="cpu", weights_only=True)
    state: dict[str, torch.Tensor] = ckpt["state_dict"]
    return {k[len(prefix) :]: v for k, v in state.items() if k.startswith(prefix)}


#: The training call :func:`fit_network` makes (tests wrap :func:`fit_module` to count calls).
FitFn = Callable[
    [L.LightningModule, Dataset[Any], Dataset[Any] | None, FitSettings, Path, dict[str, Any]],
    FitResult,
]


def fit_network(
    module: L.LightningModule,
    train: Dataset[Any],
    val: Dataset[Any] | None,
    settings: FitSettings,
    workdir: Path | None,
    run_info: dict[str, Any],
    *,
    fit: FitFn = fit_module,
) -> tuple[dict[str, torch.Tensor], FitResult]:
    """Fit ``module`` in ``workdir`` (None = a temporary one) and return the best weights.

    ``module.model`` is the trained network; the returned state dict is its best
    epoch on the monitored metric (from the best checkpoint; the final weights when
    no checkpoint was written), read before a temporary workdir is deleted.
    ``fit``: the training call (default :func:`fit_module`, same arguments).
    """
    network = module.model
    if not isinstance(network, nn.Module):
        raise TypeError(f"{type(module).__name__}.model must be the nn.Module being trained")
    with workdir_scope(workdir) as wd:
        result = fit(module, train, val, settings, wd, run_info)
        if result.best_path is not None:
            state = load_checkpoint_state(result.best_path)
        else:
            state = dict(network.state_dict())
    return state, result


@contextmanager
def _quiet(silent: bool) -> Iterator[None]:
    """Hide Lightning's known-noise warnings; with ``silent`` also its info logs."""
    loggers = [logging.getLogger(n) for n in ("lightning.pytorch", "lightning.fabric", "lightning")]
    levels = [lg.level for lg in loggers]
    with warnings.catch_warnings():
        for pattern in _QUIET:
            warnings.filterwarnings("ignore", message=pattern)
        if silent:
            for lg in loggers:
                lg.setLevel(logging.WARNING)
        try:
            yield
        finally:
            for lg, level in zip(loggers, levels, strict=True):
                lg.setLevel(level)
