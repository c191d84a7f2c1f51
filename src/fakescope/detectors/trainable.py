"""The one training template of every end-to-end trained detector (``cnn``, ``vit``, ``general``,
``unet``): a new one is a model factory plus a loss (plus its params).

:meth:`TrainableDetector._fit` does, in this order: encode the targets (class 0
"real"), build the loss with the class weights, make the training / validation
datasets (:func:`fakescope.train.dataset.fit_datasets`), seed everything with
``params.seed``, build the network with :meth:`~TrainableDetector._create`, wrap it in
a LightningModule (:meth:`~TrainableDetector._module`, default
:class:`~fakescope.train.module.ClassifierModule`), train it with
:func:`fakescope.train.fit.fit_network` (resumable in ``workdir``) and load the best
epoch's weights into a fresh network. Same seed, data and params -> the same weights.

The saved state (:meth:`Detector.state_tensors`) is the network's ``state_dict``;
loading rebuilds the network without start weights and fills it. Scores: P(fake)
= 1 - P(class 0) in [0, 1], higher = more likely fake, from ``loss.proba`` of the
network output unless a subclass overrides :meth:`~TrainableDetector._proba_batch`.
"""

from __future__ import annotations

import math
from abc import abstractmethod
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, Generic, Literal, TypeVar

import numpy as np
import pandas as pd
import torch
from pydantic import Field, field_validator
from torch import nn

from fakescope.data.augment import AugmentConfig
from fakescope.data.schema import PATH, encode_targets
from fakescope.data.transforms import IMAGENET_MEAN, IMAGENET_STD, InputConfig
from fakescope.detectors.base import Detector, DetectorParams
from fakescope.errors import ConfigError, NotFittedError
from fakescope.losses.base import Loss
from fakescope.train.devices import torch_device

if TYPE_CHECKING:
    from fakescope.train.fit import FitResult
    from fakescope.train.module import ClassifierModule

ModelT = TypeVar("ModelT", bound=nn.Module)


class TrainableParams(DetectorParams):
    """Training settings every trainable detector has (subclasses add theirs, may change defaults).

    * ``img_size`` / ``resize``: the model input (see :class:`InputConfig`).
    * ``epochs``, ``lr``, ``weight_decay``: the optimiser's (AdamW by default).
    * ``class_weights``: "none", "balanced" (inverse class frequency) or one per class.
    * ``augment``: :class:`~fakescope.data.augment.AugmentConfig` (flip, crop, blur/JPEG).
    * ``monitor`` / ``patience``: best checkpoint and early stopping on validation data
      (``patience`` 0 or None = no early stopping); ``progress``: Lightning's bars.
    """

    img_size: int = Field(default=224, ge=8)
    resize: Literal["resize", "crop", "native"] = "native"
    epochs: int = Field(default=10, ge=1)
    lr: float = Field(default=1e-3, gt=0)
    weight_decay: float = Field(default=0.01, ge=0)
    batch_size: int = Field(default=32, ge=1)
    class_weights: Literal["none", "balanced"] | list[float] = "none"
    augment: AugmentConfig = AugmentConfig()
    monitor: Literal["val_loss", "val_auc"] = "val_loss"
    patience: int | None = Field(default=3, ge=0)
    progress: bool = True

    @field_validator("class_weights")
    @classmethod
    def _positive(cls, value: Any) -> Any:
        if isinstance(value, list) and any(not (w > 0 and math.isfinite(w)) for w in value):
            raise ValueError("explicit class_weights must all be positive numbers")
        return value


class TrainableDetector(Detector, Generic[ModelT]):
    """A network trained end to end by the template of the module docstring.

    Subclasses implement :meth:`_create` (the model factory: images [B, 3, H, W] ->
    outputs [B, K]) and :meth:`_make_loss`; optional hooks: :meth:`_module` (another
    LightningModule), :meth:`_run_info` (what must match to resume), :meth:`_place`
    (device / memory layout), :meth:`_after_fit` (e.g. a head on embeddings).
    Fitted: ``model_`` (eval mode), ``loss_``, ``fit_result_`` (after :meth:`fit`).
    """

    Params: ClassVar[type[DetectorParams]] = TrainableParams
    params: TrainableParams
    #: Params that may change between a run and its resume (left out of the run info).
    RESUMABLE: ClassVar[frozenset[str]] = frozenset(
        {"device", "num_workers", "progress", "epochs", "patience"}
    )

    def __init__(self, params: Any = None) -> None:
        super().__init__(params)
        self.model_: ModelT | None = None
        self.loss_: Loss | None = None
        self.fit_result_: FitResult | None = None

    # ------------------------------------------------- what a detector adds
    @abstractmethod
    def _create(self, num_classes: int, *, start: bool = True) -> ModelT:
        """The network for ``num_classes`` classes: images [B, 3, H, W] -> outputs [B, K].

        ``start``: from the detector's start weights (pretrained / a weights file);
        False = plain init, e.g. to load trained tensors into.
        """

    @abstractmethod
    def _make_loss(self, num_classes: int, class_weights: list[float] | None = None) -> Loss:
        """The training loss for ``num_classes`` classes (``class_weights`` [C], None = uniform)."""

    def _module(
        self, model: ModelT, loss: Loss, num_classes: int, has_val: bool
    ) -> ClassifierModule:
        """The LightningModule that trains ``model`` (default: AdamW + cosine schedule)."""
        from fakescope.train.module import ClassifierModule

        p = self.params
        return ClassifierModule(
            model, num_classes, loss=loss, lr=p.lr, weight_decay=p.weight_decay, epochs=p.epochs
        )

    def _run_info(self, classes: list[str]) -> dict[str, Any]:
        """What identifies the training run (a resume with other values is refused)."""
        info = self.params.model_dump(mode="json", exclude=set(self.RESUMABLE))
        return {"detector": self.name, "classes": classes, **info}

    def _place(self, model: ModelT, device: torch.device) -> ModelT:
        """Move the trained ``model`` to ``device`` for inference (eval mode)."""
        return model.to(device).eval()

    def _after_fit(self, train: pd.DataFrame, y: np.ndarray) -> None:
        """Called at the end of :meth:`_fit` with the training rows and their targets [N]."""

    # ------------------------------------------------------------ helpers
    def new_network(self, num_classes: int, *, start: bool = True) -> ModelT:
        """A new (untrained) network of this detector; see :meth:`_create`."""
        return self._create(num_classes, start=start)

    def _model(self) -> ModelT:
        if self.model_ is None:
            raise NotFittedError(
                f"this {self.name} detector is not fitted; call fit() or load a bundle"
            )
        return self.model_

    def _fitted_loss(self) -> Loss:
        if self.loss_ is None:
            raise NotFittedError(
                f"this {self.name} detector is not fitted; call fit() or load a bundle"
            )
        return self.loss_

    def _class_weights(self, y: np.ndarray, n: int) -> list[float] | None:
        """Per-class loss weights [n] for targets ``y`` [N] (None = uniform)."""
        cw = self.params.class_weights
        if cw == "none":
            return None
        if cw == "balanced":
            counts = np.bincount(y, minlength=n).astype(np.float64)
            return [len(y) / (n * c) if c else 0.0 for c in counts]
        if len(cw) != n:
            raise ConfigError(
                f"class_weights has {len(cw)} values but there are {n} classes; give one per class"
            )
        return [float(w) for w in cw]

    def _load_network(self, state: dict[str, torch.Tensor], num_classes: int) -> ModelT:
        """A fresh network (no start weights) holding ``state``, placed on ``params.device``."""
        model = self._create(num_classes, start=False)
        try:
            model.load_state_dict(state, strict=True)
        except RuntimeError as exc:
            first = str(exc).strip().splitlines()[0]
            raise ConfigError(
                f"the tensors do not fit a {self.name} detector with its params ({first}); "
                "re-train it with this fakescope version"
            ) from None
        return self._place(model, torch_device(self.params.device))

    # ------------------------------------------------------------ hooks
    @property
    def input_config(self) -> InputConfig:
        """``img_size`` px square, ``resize`` geometry, ImageNet mean/std."""
        p = self.params
        return InputConfig(size=p.img_size, mean=IMAGENET_MEAN, std=IMAGENET_STD, resize=p.resize)

    @property
    def embedding_dim(self) -> int:
        """D of the default embedding: the network output width K (the loss's ``output_dim``)."""
        return self._fitted_loss().output_dim()

    def _fit(self, train: pd.DataFrame, val: pd.DataFrame | None, workdir: Path | None) -> None:
        import lightning as L  # lazy: Lightning is only needed to train

        from fakescope.train.dataset import fit_datasets
        from fakescope.train.fit import FitSettings, fit_network

        p = self.params
        y, classes = encode_targets(train, p.target)
        y_val = encode_targets(val, p.target, classes)[0] if val is not None else None
        device = torch_device(p.device)  # validates the device string early
        n = len(classes)
        loss = self._make_loss(n, self._class_weights(y, n))
        loss.check_targets(y)
        train_ds, val_ds = fit_datasets(
            train[PATH].tolist(),
            y,
            None if val is None else val[PATH].tolist(),
            y_val,
            self.input_config,
            p.augment,
        )
        settings = FitSettings.from_params(p)
        L.seed_everything(p.seed, workers=True, verbose=False)
        module = self._module(self._create(n), loss, n, val_ds is not None)
        state, result = fit_network(
            module, train_ds, val_ds, settings, workdir, self._run_info(classes)
        )
        self.model_ = self._load_network(state, n)
        self.classes_ = list(classes)
        self.loss_ = loss.to(device).eval()
        self.fit_result_ = result
        self._after_fit(train, y)

    @torch.inference_mode()
    def _proba_batch(self, x: torch.Tensor) -> np.ndarray:
        """Class probabilities [B, C] = ``loss.proba`` of the network output for ``x`` [B, 3, H, W]."""
        model = self._model().eval()
        out = model(x.to(next(model.parameters()).device)).float()
        return self._fitted_loss().proba(out).cpu().numpy().astype(np.float32)

    @torch.inference_mode()
    def _embed_batch(self, x: torch.Tensor) -> np.ndarray:
        """The network output [B, K] as the embedding (logits for logit losses) for ``x``."""
        model = self._model().eval()
        out = model(x.to(next(model.parameters()).device)).float()
        return out.flatten(1).cpu().numpy().astype(np.float32)

    def _tensors(self) -> dict[str, torch.Tensor]:
        """The network's ``state_dict`` (parameter shapes as in the network)."""
        return dict(self._model().state_dict())

    def _restore(self, tensors: dict[str, torch.Tensor], directory: Path) -> None:
        """Rebuild the network from ``tensors`` (``classes_`` set) and an untrained loss."""
        n = len(self.check_fitted())
        self.model_ = self._load_network(tensors, n)
        self.loss_ = self._make_loss(n).to(torch_device(self.params.device)).eval()
