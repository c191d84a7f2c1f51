"""``general``: the detector we recommend for "train on the generators you have, detect ones you don't".

It fuses the field's strongest generalisation ideas (``configs/general.yaml``):

* frozen **intermediate-block features** of a pretrained backbone with a
  trainable block-importance estimator (RINE, ECCV'24): early blocks keep the
  low-level traces that the last layer discards, and a frozen backbone cannot
  overfit the training generators' content;
* a small trainable CNN on the **NPR residual** x - up(down(x)) (CVPR'24): the
  trace of the generators' up-sampling;
* **CNNDetection's blur + JPEG augmentation** (CVPR'20) during training, and
  images cropped at native resolution (never resized, which would blur the traces).

Binary (classes ["real", "fake"]) or attribution (``target``). Scores: P(fake)
= 1 - P(real) in [0, 1], higher = more likely fake. The network is
:class:`~fakescope.models.general_net.GeneralNet`; only its projections, NPR
branch and head train (Lightning, AdamW, cross-entropy). The bundle stores
every tensor (frozen backbone included), so a loaded detector needs no weights download.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

import numpy as np
import pandas as pd
import torch
from pydantic import Field, field_validator

from fakescope.data.augment import AugmentConfig
from fakescope.data.schema import PATH, encode_targets
from fakescope.data.transforms import IMAGENET_MEAN, IMAGENET_STD, InputConfig
from fakescope.detectors.base import DETECTORS, Detector, DetectorParams
from fakescope.errors import ConfigError, NotFittedError
from fakescope.losses import create_loss
from fakescope.models.general_net import GeneralNet
from fakescope.models.intermediate import IntermediateTaps, Pool, create_frozen_timm
from fakescope.train.devices import torch_device

#: Default taps: the stem and the first three stages. On realgen-dev's leave-one-source-out
#: (normalised) they gave 0.621 mean unseen AUC against 0.573 for every block plus the final
#: features, and 0.576 without the NPR branch (the ablation and its command: configs/general.yaml).
LOW_LEVEL_TAPS = (0, 1, 2, 3)


class GeneralParams(DetectorParams):
    """Settings of the ``general`` detector (plus target, batch_size, num_workers, device, seed).

    * ``backbone``: timm arch of the frozen feature extractor; ``pretrained``: its
      ImageNet weights (``efficientnet_lite0``: the packaged weights, offline; other
      archs: timm's hub). ``taps``: block indices for timm ``forward_intermediates``
      (null = every block; default :data:`LOW_LEVEL_TAPS`); ``final``: also tap the
      last feature map (default off); ``pool``:
      "meanstd" (channel mean and std over space) or "mean".
    * ``tap_dim``: width of each block projection and of the NPR branch output;
      ``npr_channels``: width of the NPR CNN (0 = no NPR branch); ``branch_input``:
      what that CNN sees, "npr" (the residual) or "pixels" (the image); ``hidden``,
      ``dropout``: the 2-layer head.
    * ``img_size`` / ``resize``: the model input (default: a ``img_size`` px crop at
      native resolution; smaller images are padded).
    * ``epochs``, ``lr``, ``weight_decay`` (AdamW, cosine schedule), ``class_weights``
      ("none" | "balanced"), ``augment`` (default CNNDetection blur+JPEG 0.5 and a
      random crop), ``monitor`` / ``patience`` (early stopping on validation data).
    """

    backbone: str = "efficientnet_lite0"
    pretrained: bool = True
    taps: list[int] | None = Field(default_factory=lambda: list(LOW_LEVEL_TAPS))
    final: bool = False
    pool: Pool = "meanstd"
    tap_dim: int = Field(default=128, ge=1)
    npr_channels: int = Field(default=16, ge=0)
    branch_input: Literal["npr", "pixels"] = "npr"
    hidden: int = Field(default=128, ge=1)
    dropout: float = Field(default=0.2, ge=0, lt=1)
    img_size: int = Field(default=224, ge=8)
    resize: Literal["resize", "crop"] = "crop"
    epochs: int = Field(default=8, ge=1)
    lr: float = Field(default=1e-3, gt=0)
    weight_decay: float = Field(default=0.01, ge=0)
    batch_size: int = Field(default=32, ge=1)
    class_weights: Literal["none", "balanced"] = "balanced"
    augment: AugmentConfig = AugmentConfig(preset="blur_jpeg_0.5", crop="random")
    monitor: Literal["val_loss", "val_auc"] = "val_loss"
    patience: int | None = Field(default=3, ge=0)
    progress: bool = True

    @field_validator("taps")
    @classmethod
    def _some_taps(cls, value: list[int] | None) -> list[int] | None:
        if value is not None and not value:
            raise ValueError("taps must list at least one block index, or be null for every block")
        return value


@DETECTORS.register("general")
class GeneralDetector(Detector):
    """Frozen backbone taps + NPR branch + head; see the module docstring."""

    name = "general"
    Params = GeneralParams
    params: GeneralParams

    def __init__(self, params: Any = None) -> None:
        super().__init__(params)
        self.model_: GeneralNet | None = None

    # ------------------------------------------------------------ model
    def _create(self, num_classes: int, *, start: bool = True) -> GeneralNet:
        """The network; ``start``: the backbone from its pretrained weights (else random
        init, e.g. to load saved tensors into)."""
        p = self.params
        backbone = create_frozen_timm(p.backbone, pretrained=p.pretrained and start)
        taps = IntermediateTaps(backbone, p.taps, final=p.final, pool=p.pool)
        return GeneralNet(
            taps,
            num_classes,
            tap_dim=p.tap_dim,
            npr_channels=p.npr_channels,
            branch_input=p.branch_input,
            hidden=p.hidden,
            dropout=p.dropout,
        )

    def _model(self) -> GeneralNet:
        if self.model_ is None:
            raise NotFittedError("this general detector is not fitted; call fit() or load a bundle")
        return self.model_

    def _class_weights(self, y: np.ndarray, n: int) -> list[float] | None:
        if self.params.class_weights == "none":
            return None
        counts = np.bincount(y, minlength=n).astype(np.float64)
        return [len(y) / (n * c) if c else 0.0 for c in counts]

    # ------------------------------------------------------------ hooks
    @property
    def input_config(self) -> InputConfig:
        """``img_size`` px square (native-resolution crop by default), ImageNet mean/std."""
        return InputConfig(
            size=self.params.img_size,
            mean=IMAGENET_MEAN,
            std=IMAGENET_STD,
            resize=self.params.resize,
        )

    @property
    def embedding_dim(self) -> int:
        """E: ``tap_dim`` (taps) + ``tap_dim`` (NPR branch, when ``npr_channels`` > 0)."""
        return self.params.tap_dim * (2 if self.params.npr_channels > 0 else 1)

    def _fit(self, train: pd.DataFrame, val: pd.DataFrame | None, workdir: Path | None) -> None:
        import lightning as L  # lazy: Lightning is only needed to train

        from fakescope.train.dataset import fit_datasets
        from fakescope.train.fit import (
            FitSettings,
            fit_module,
            load_checkpoint_state,
            workdir_scope,
        )
        from fakescope.train.module import ClassifierModule

        p = self.params
        y, classes = encode_targets(train, p.target)
        y_val = encode_targets(val, p.target, classes)[0] if val is not None else None
        device = torch_device(p.device)
        n = len(classes)
        loss = create_loss("ce", None, n, n, self._class_weights(y, n))
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
        model = self._create(n)
        module = ClassifierModule(
            model, n, loss=loss, lr=p.lr, weight_decay=p.weight_decay, epochs=p.epochs
        )
        run_info = {
            "detector": self.name,
            "classes": classes,
            **p.model_dump(exclude={"batch_size", "num_workers", "device", "progress", "epochs"}),
        }
        with workdir_scope(workdir) as wd:
            result = fit_module(module, train_ds, val_ds, settings, wd, run_info)
            state = (
                load_checkpoint_state(result.best_path) if result.best_path else model.state_dict()
            )
        fresh = self._create(n, start=False)
        fresh.load_state_dict(state, strict=True)
        self.classes_ = list(classes)
        self.model_ = fresh.to(device).eval()

    def _logits(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``(logits [B, C], embedding [B, E])`` of a batch, one forward pass, eval mode."""
        model = self._model().eval()
        x = x.to(next(model.head.parameters()).device)
        emb = model.embed(x)
        return model.head(emb).float(), emb.float()

    @torch.inference_mode()
    def _proba_batch(self, x: torch.Tensor) -> np.ndarray:
        """Class probabilities [B, C] for ``x`` [B, 3, H, W] (softmax of the logits)."""
        logits, _ = self._logits(x)
        return torch.softmax(logits, dim=1).cpu().numpy().astype(np.float32)

    @torch.inference_mode()
    def _embed_batch(self, x: torch.Tensor) -> np.ndarray:
        """The fused embedding [B, E] for ``x`` [B, 3, H, W]."""
        return self._model().eval().embed(x).float().cpu().numpy().astype(np.float32)

    @torch.inference_mode()
    def _features_batch(self, x: torch.Tensor) -> tuple[np.ndarray, ...]:
        """One forward pass: ``(proba [B, C], logits [B, C], embedding [B, E])`` for ``x``."""
        logits, emb = self._logits(x)
        proba = torch.softmax(logits, dim=1)
        return (
            proba.cpu().numpy().astype(np.float32),
            logits.cpu().numpy().astype(np.float32),
            emb.cpu().numpy().astype(np.float32),
        )

    def _tensors(self) -> dict[str, torch.Tensor]:
        return dict(self._model().state_dict())

    def _restore(self, tensors: dict[str, torch.Tensor], directory: Path) -> None:
        classes = self.check_fitted()
        model = self._create(len(classes), start=False)
        try:
            model.load_state_dict(tensors, strict=True)
        except RuntimeError as exc:
            first = str(exc).strip().splitlines()[0]
            raise ConfigError(
                f"the bundle's tensors do not fit a general detector with its params ({first}); "
                "re-train it with this fakescope version"
            ) from None
        self.model_ = model.to(torch_device(self.params.device)).eval()
