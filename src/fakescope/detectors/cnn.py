"""``cnn``: any timm architecture trained end to end with cross-entropy (Lightning).

Binary (``target="label"``: classes ["real", "fake"], a 2-way softmax) or
attribution (``target`` = generator / family / cls: "real" plus one class per
generator, family or class folder). Scores: P(fake) = 1 - P(real) in [0, 1],
higher = more likely fake. With ``augment.preset="blur_jpeg_0.5"`` and a
pretrained ResNet-50 this is CNNDetection (Wang et al., CVPR'20).

Training state (checkpoints, logs) lives in ``workdir`` and resumes from
``workdir/checkpoints/last.ckpt``; the best epoch's weights (on the monitored
validation metric) are loaded back at the end.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
import pandas as pd
import timm
import torch
from pydantic import Field, field_validator
from torch import nn

from fakescope.data.augment import AugmentConfig, train_transform
from fakescope.data.schema import PATH, encode_targets
from fakescope.data.transforms import IMAGENET_MEAN, IMAGENET_STD, InputConfig, eval_transform
from fakescope.detectors.base import DETECTORS, Detector, DetectorParams
from fakescope.errors import ConfigError, FakescopeError, NotFittedError
from fakescope.models import efficientnet_lite0_classifier, effnet_lite0, read_weights_file
from fakescope.models.memory_format import batch_to, to_channels_last
from fakescope.models.timm_backbone import create_timm_model
from fakescope.train.devices import torch_device

if TYPE_CHECKING:
    from fakescope.train.fit import FitResult, FitSettings


class CNNParams(DetectorParams):
    """Settings of the ``cnn`` detector (plus target, batch_size, num_workers, device, seed).

    * ``arch``: any timm name; ``pretrained``: timm's ImageNet weights (a download;
      ``efficientnet_lite0`` uses the packaged weights, offline); ``weights``: a local
      ``.safetensors`` timm state dict as the start point (the classifier is dropped
      when its shape differs).
    * ``img_size`` / ``resize``: the model input (see :class:`InputConfig`).
    * ``epochs``, ``lr``, ``weight_decay`` (AdamW), ``scheduler`` ("cosine" over
      ``epochs``, "step": x ``gamma`` every ``step_size`` epochs), ``precision``.
    * ``class_weights``: "none", "balanced" (inverse class frequency) or one per class.
    * ``augment``: :class:`~fakescope.data.augment.AugmentConfig` (flip, crop, blur/JPEG).
    * ``monitor`` / ``patience``: best checkpoint and early stopping on validation
      data (when given; ``patience`` 0 or None = no early stopping).
    * ``progress``: Lightning's progress bar and summary; ``deterministic``: exact
      reproducibility on GPUs (slower; CPU runs are reproducible without it).
    """

    arch: str = "resnet18"
    pretrained: bool = False
    weights: str | None = None
    img_size: int = Field(default=128, ge=8)
    resize: Literal["resize", "crop"] = "resize"
    epochs: int = Field(default=10, ge=1)
    lr: float = Field(default=1e-3, gt=0)
    weight_decay: float = Field(default=0.01, ge=0)
    scheduler: Literal["none", "cosine", "step"] = "cosine"
    step_size: int = Field(default=3, ge=1)
    gamma: float = Field(default=0.5, gt=0)
    batch_size: int = Field(default=32, ge=1)
    precision: Literal["32", "bf16-mixed", "16-mixed"] = "32"
    class_weights: Literal["none", "balanced"] | list[float] = "none"
    augment: AugmentConfig = AugmentConfig()
    monitor: Literal["val_loss", "val_auc"] = "val_loss"
    patience: int | None = Field(default=3, ge=0)
    progress: bool = True
    deterministic: bool = False

    @field_validator("class_weights")
    @classmethod
    def _positive(cls, value: Any) -> Any:
        if isinstance(value, list) and any(not (w > 0 and math.isfinite(w)) for w in value):
            raise ValueError("explicit class_weights must all be positive numbers")
        return value


@DETECTORS.register("cnn")
class CNNDetector(Detector):
    """A timm classifier trained end to end; see the module docstring."""

    name = "cnn"
    Params = CNNParams
    params: CNNParams

    def __init__(self, params: Any = None) -> None:
        super().__init__(params)
        self.model_: nn.Module | None = None
        self.fit_result_: FitResult | None = None

    # ------------------------------------------------------------ model
    def _create(self, num_classes: int) -> nn.Module:
        """A timm ``arch`` with ``num_classes`` outputs, from ``weights``, pretrained, or random init."""
        p = self.params
        if p.weights is not None:
            model = create_timm_model(p.arch, pretrained=False, num_classes=num_classes)
            _load_start_weights(model, read_weights_file(p.weights), p.weights)
            return model
        if p.pretrained and p.arch == effnet_lite0.TIMM_ARCH:
            model = efficientnet_lite0_classifier(pretrained=True)  # packaged: works offline
            model.reset_classifier(num_classes)  # type: ignore[operator]
            return model.train()
        if p.pretrained and timm.is_model(p.arch):
            try:
                return create_timm_model(p.arch, pretrained=True, num_classes=num_classes)
            except FakescopeError:
                raise ConfigError(
                    f"could not download pretrained weights for {p.arch!r}; set the cnn parameter "
                    "weights=PATH (a .safetensors file) or pretrained=false"
                ) from None
        return create_timm_model(p.arch, pretrained=False, num_classes=num_classes)

    def _model(self) -> nn.Module:
        if self.model_ is None:
            raise NotFittedError("this cnn detector is not fitted; call fit() or load a bundle")
        return self.model_

    def _settings(self) -> FitSettings:
        from fakescope.train.fit import FitSettings

        p = self.params
        return FitSettings(
            epochs=p.epochs,
            batch_size=p.batch_size,
            num_workers=p.num_workers,
            device=p.device,
            precision=p.precision,
            patience=p.patience or None,
            monitor=p.monitor,
            seed=p.seed,
            progress=p.progress,
            deterministic=p.deterministic,
        )

    def _class_weights(self, y: np.ndarray, n: int) -> list[float] | None:
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

    # ------------------------------------------------------------ hooks
    @property
    def input_config(self) -> InputConfig:
        """``img_size`` px square, ImageNet mean/std, ``resize`` geometry."""
        return InputConfig(
            size=self.params.img_size,
            mean=IMAGENET_MEAN,
            std=IMAGENET_STD,
            resize=self.params.resize,
        )

    @property
    def embedding_dim(self) -> int:
        """D = the timm model's ``num_features`` (pooled pre-logits width)."""
        model = self.model_
        if model is None:
            with torch.device("meta"):
                model = create_timm_model(self.params.arch, pretrained=False, num_classes=0)
        return int(getattr(model, "num_features"))  # noqa: B009 - timm's attribute, untyped

    def _fit(self, train: pd.DataFrame, val: pd.DataFrame | None, workdir: Path | None) -> None:
        import lightning as L  # lazy: Lightning is only needed to train

        from fakescope.train.dataset import SampleDataset
        from fakescope.train.fit import fit_module, load_checkpoint_state, workdir_scope
        from fakescope.train.module import ClassifierModule

        p = self.params
        y, classes = encode_targets(train, p.target)
        y_val = encode_targets(val, p.target, classes)[0] if val is not None else None
        torch_device(p.device)  # validates the device string early
        cfg = self.input_config
        shape = (3, cfg.size, cfg.size)
        train_ds = SampleDataset(train[PATH].tolist(), y, train_transform(cfg, p.augment), shape)
        val_ds = (
            SampleDataset(val[PATH].tolist(), y_val, eval_transform(cfg), shape)
            if val is not None and y_val is not None
            else None
        )
        settings = self._settings()
        L.seed_everything(p.seed, workers=True, verbose=False)
        model = self._create(len(classes))
        module = ClassifierModule(
            model,
            len(classes),
            class_weights=self._class_weights(y, len(classes)),
            lr=p.lr,
            weight_decay=p.weight_decay,
            scheduler=p.scheduler,
            epochs=p.epochs,
            step_size=p.step_size,
            gamma=p.gamma,
        )
        run_info = {
            "detector": self.name,
            "arch": p.arch,
            "classes": classes,
            "img_size": p.img_size,
            "target": p.target,
        }
        with workdir_scope(workdir) as wd:
            result = fit_module(module, train_ds, val_ds, settings, wd, run_info)
            state = (
                load_checkpoint_state(result.best_path) if result.best_path else model.state_dict()
            )
        fresh = create_timm_model(p.arch, pretrained=False, num_classes=len(classes))
        fresh.load_state_dict(state, strict=True)
        self.classes_ = list(classes)
        self.model_ = to_channels_last(fresh, torch_device(p.device)).eval()
        self.fit_result_ = result

    @torch.inference_mode()
    def _proba_batch(self, x: torch.Tensor) -> np.ndarray:
        """Softmax class probabilities [B, C] (eval mode, ``params.device``) for ``x`` [B, 3, H, W]."""
        model = self._model().eval()
        logits = model(batch_to(x, next(model.parameters()).device))
        return logits.float().softmax(dim=1).cpu().numpy().astype(np.float32)

    @torch.inference_mode()
    def _embed_batch(self, x: torch.Tensor) -> np.ndarray:
        """Pooled pre-logits features [B, D] for ``x`` [B, 3, H, W]."""
        model = self._model().eval()
        feats = model.forward_features(batch_to(x, next(model.parameters()).device))  # type: ignore[operator]
        pooled = model.forward_head(feats, pre_logits=True)  # type: ignore[operator]
        return pooled.float().flatten(1).cpu().numpy().astype(np.float32)

    def _tensors(self) -> dict[str, torch.Tensor]:
        return dict(self._model().state_dict())

    def _restore(self, tensors: dict[str, torch.Tensor], directory: Path) -> None:
        classes = self.check_fitted()
        model = create_timm_model(self.params.arch, pretrained=False, num_classes=len(classes))
        model.load_state_dict(tensors, strict=True)
        self.model_ = to_channels_last(model, torch_device(self.params.device)).eval()


def _load_start_weights(model: nn.Module, state: dict[str, torch.Tensor], source: str) -> None:
    """Load a timm state dict as the start point; the classifier is kept only if its shape fits.

    Every non-classifier tensor must be present with the right shape (else a one-line error).
    """
    own = model.state_dict()
    cfg = getattr(model, "pretrained_cfg", None) or {}
    heads = cfg.get("classifier") or ()
    heads = tuple(f"{h}." for h in ((heads,) if isinstance(heads, str) else heads))
    fits = {k: v for k, v in state.items() if k in own and tuple(own[k].shape) == tuple(v.shape)}
    bad = [k for k in own if k not in fits and not (heads and k.startswith(heads))]
    if bad:
        raise ConfigError(
            f"weights {source} do not fit timm {type(model).__name__}: {len(bad)} tensor(s) missing or "
            f"of another shape (e.g. {bad[0]!r}); pass weights of the same arch"
        )
    model.load_state_dict(fits, strict=False)
