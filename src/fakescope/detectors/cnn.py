"""``cnn``: any timm architecture trained end to end (Lightning) with a choice of loss.

Binary (``target="label"``: classes ["real", "fake"]) or attribution (``target``
= generator / family / cls: "real" plus one class per generator, family or
class folder). Scores: P(fake) = 1 - P(real) in [0, 1], higher = more likely
fake. With ``augment.preset="blur_jpeg_0.5"`` and a pretrained ResNet-50 this is
CNNDetection (Wang et al., CVPR'20); with ``input_filter="npr"`` the network
sees the NPR residual (CVPR'24, :mod:`fakescope.models.npr`).

``loss`` (see :mod:`fakescope.losses`): ``ce`` (default, C-way softmax),
``bce`` (one logit, binary only), ``dmyt`` (S3 dummy triplet loss on an
embedding; predicts from the dummies) or ``triplet`` (semi-hard mined triplet
loss; after training an RBF SVM head is fit on train embeddings, saved as
``head.skops`` in the bundle, and gives the probabilities).

Training state (checkpoints, logs) lives in ``workdir`` and resumes from
``workdir/checkpoints/last.ckpt``; the best epoch's weights (on the monitored
validation metric) are loaded back at the end.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, Self

import numpy as np
import pandas as pd
import torch
from pydantic import Field, model_validator
from torch import nn

from fakescope.data.schema import PATH
from fakescope.data.transforms import IMAGENET_MEAN, IMAGENET_STD, InputConfig
from fakescope.detectors.base import DETECTORS
from fakescope.detectors.export import (
    CNNEmbeddingExport,
    CNNLogitExport,
    cannot_export,
    detached,
    svm_module,
)
from fakescope.detectors.heads import fit_head, head_proba, load_head, save_head
from fakescope.detectors.trainable import TrainableDetector, TrainableParams
from fakescope.errors import ConfigError, NotFittedError
from fakescope.losses.base import Loss
from fakescope.losses.catalog import LOSSES, check_loss_params, create_loss
from fakescope.models import effnet_lite0
from fakescope.models.memory_format import batch_to, to_channels_last
from fakescope.models.network import (
    arch_feature_width,
    create_network,
    feature_width,
    pooled_features,
)

if TYPE_CHECKING:
    from sklearn.pipeline import Pipeline

    from fakescope.train.module import ClassifierModule

#: The SVM head of ``needs_head`` losses, inside the bundle directory.
HEAD_FILE = "head.skops"
#: The head fit on train embeddings after training with a ``needs_head`` loss.
HEAD = "svm_rbf"


class CNNParams(TrainableParams):
    """Settings of the ``cnn`` detector (plus those of :class:`TrainableParams` and the base).

    * ``arch``: any timm name (default ``efficientnet_lite0``, fine-tuned from the packaged
      ImageNet weights); ``pretrained``: timm's ImageNet weights (a download;
      ``efficientnet_lite0`` uses the packaged weights, offline; None = pretrained exactly
      when the arch has packaged weights and no ``weights`` file is given); ``weights``: a local
      ``.safetensors`` timm state dict as the start point (the classifier is dropped
      when its shape differs); ``allow_pickle``: also accept a torch pickle there
      (``.pt``/``.pth``/``.bin``, read with ``torch.load(weights_only=True)``).
    * ``img_size`` / ``resize``: the model input (see :class:`InputConfig`); the default
      "native" 224 px centre crop never down-scales, so pixel-level traces survive.
    * ``epochs``, ``lr``, ``weight_decay`` (AdamW), ``scheduler`` ("cosine" over
      ``epochs``, "step": x ``gamma`` every ``step_size`` epochs), ``precision``.
    * ``class_weights``: "none", "balanced" (inverse class frequency) or one per class
      (used by every loss).
    * ``loss`` / ``loss_params``: the training loss (``fakescope list losses``) and its
      parameters. ``embed_dim`` (embedding losses only): None = the model's pooled
      features, else a Linear projection to ``embed_dim``.
    * ``input_filter``: "npr" feeds the network the NPR residual x - up(down(x)).
    * ``augment``: :class:`~fakescope.data.augment.AugmentConfig` (flip, crop, blur/JPEG).
    * ``monitor`` / ``patience``: best checkpoint and early stopping on validation
      data (when given; ``patience`` 0 or None = no early stopping). Losses without
      class probabilities during training (``triplet``) need ``monitor="val_loss"``.
    * ``progress``: Lightning's progress bar and summary; ``deterministic``: exact
      reproducibility on GPUs (slower; CPU runs are reproducible without it).
    """

    arch: str = "efficientnet_lite0"
    pretrained: bool | None = None
    weights: str | None = None
    allow_pickle: bool = False
    scheduler: Literal["none", "cosine", "step"] = "cosine"
    step_size: int = Field(default=3, ge=1)
    gamma: float = Field(default=0.5, gt=0)
    precision: Literal["32", "bf16-mixed", "16-mixed"] = "32"
    loss: str = "ce"
    loss_params: dict[str, Any] = Field(default_factory=dict)
    embed_dim: int | None = Field(default=None, ge=1)
    input_filter: Literal["none", "npr"] = "none"
    deterministic: bool = False

    @model_validator(mode="after")
    def _loss_settings(self) -> Self:
        """The loss exists, its params are valid, and embed_dim / monitor suit it (ConfigError)."""
        check_loss_params(self.loss, self.loss_params)
        loss = LOSSES.get(self.loss)
        if loss.output == "logits" and self.embed_dim is not None:
            raise ConfigError(
                f"cnn parameter embed_dim only applies to embedding losses "
                f"({', '.join(n for n in LOSSES.names() if LOSSES.get(n).output == 'embedding')}); "
                f"remove it for loss={self.loss}"
            )
        if loss.needs_head and self.monitor == "val_auc":
            raise ConfigError(
                f"loss={self.loss} has no class probabilities during training; set monitor=val_loss"
            )
        return self


@DETECTORS.register("cnn")
class CNNDetector(TrainableDetector[nn.Module]):
    """A timm network trained end to end with a choice of loss; see the module docstring."""

    name = "cnn"
    Params = CNNParams
    params: CNNParams

    def __init__(self, params: Any = None) -> None:
        super().__init__(params)
        self.head_: Pipeline | None = None

    # ------------------------------------------------------------ model
    @property
    def _embedding_loss(self) -> bool:
        """Whether the loss trains an embedding (the network outputs D dims, not logits)."""
        return LOSSES.get(self.params.loss).output == "embedding"

    def _make_loss(self, num_classes: int, class_weights: list[float] | None = None) -> Loss:
        """The configured loss for ``num_classes`` classes (D = :attr:`embedding_dim`)."""
        p = self.params
        dim = p.embed_dim or arch_feature_width(p.arch)
        return create_loss(p.loss, p.loss_params, num_classes, dim, class_weights)

    def _num_outputs(self, num_classes: int) -> int:
        """Network output width K: the loss's logits, ``embed_dim``, or 0 (pooled features)."""
        if self._embedding_loss:
            return self.params.embed_dim or 0
        return self._make_loss(num_classes).output_dim()

    @property
    def _pretrained(self) -> bool:
        """``pretrained`` resolved: None = the packaged weights when the arch has them
        (``efficientnet_lite0``) and no ``weights`` file is given (offline; else random init)."""
        p = self.params
        if p.pretrained is not None:
            return p.pretrained
        return p.weights is None and p.arch == effnet_lite0.TIMM_ARCH

    def _create(self, num_classes: int, *, start: bool = True) -> nn.Module:
        """The network for ``num_classes`` classes; ``start``: from ``weights`` / pretrained
        (else random init, e.g. to load trained tensors into)."""
        p = self.params
        return create_network(
            p.arch,
            self._num_outputs(num_classes),
            pretrained=self._pretrained and start,
            weights=p.weights if start else None,
            allow_pickle=p.allow_pickle,
            input_filter=p.input_filter,
        )

    def _module(
        self, model: nn.Module, loss: Loss, num_classes: int, has_val: bool
    ) -> ClassifierModule:
        """:class:`ClassifierModule` with AdamW and the ``scheduler`` of the params."""
        from fakescope.train.module import ClassifierModule

        p = self.params
        return ClassifierModule(
            model,
            num_classes,
            loss=loss,
            lr=p.lr,
            weight_decay=p.weight_decay,
            scheduler=p.scheduler,
            epochs=p.epochs,
            step_size=p.step_size,
            gamma=p.gamma,
        )

    def _run_info(self, classes: list[str]) -> dict[str, Any]:
        """What must match to resume: the network, the classes, the input and the loss."""
        p = self.params
        return {
            "detector": self.name,
            "arch": p.arch,
            "classes": classes,
            "img_size": p.img_size,
            "target": p.target,
            "loss": p.loss,
            "loss_params": p.loss_params,
            "embed_dim": p.embed_dim,
            "input_filter": p.input_filter,
        }

    def _place(self, model: nn.Module, device: torch.device) -> nn.Module:
        """Channels-last on ``device``, eval mode."""
        return to_channels_last(model, device).eval()

    # ------------------------------------------------------------ hooks
    @property
    def input_config(self) -> InputConfig:
        """``img_size`` px square, ``resize`` geometry; mean/std: the arch's pretrained config
        in timm when the network starts from weights (they were trained with those
        statistics), ImageNet's when it trains from scratch."""
        from fakescope.models.timm_backbone import pretrained_mean_std

        if self._pretrained or self.params.weights:
            mean, std = pretrained_mean_std(self.params.arch)
        else:
            mean, std = IMAGENET_MEAN, IMAGENET_STD
        return InputConfig(
            size=self.params.img_size,
            mean=mean,
            std=std,
            resize=self.params.resize,
        )

    @property
    def embedding_dim(self) -> int:
        """D: ``embed_dim`` (embedding losses), else the model's pooled pre-logits width."""
        if self._embedding_loss and self.params.embed_dim is not None:
            return self.params.embed_dim
        if self.model_ is not None:
            return feature_width(self.model_)
        return arch_feature_width(self.params.arch)

    def _after_fit(self, train: pd.DataFrame, y: np.ndarray) -> None:
        """``needs_head`` losses: fit the SVM head on train embeddings (else no head)."""
        self.head_ = None
        if self._fitted_loss().needs_head:
            self.head_ = self._fit_head(train[PATH].tolist(), y)

    def _fit_head(self, paths: list[str], y: np.ndarray) -> Pipeline:
        """Fit the SVM head on up to ``svm_per_class`` train embeddings per class (seeded)."""
        p = self.params
        x, _ = self._run(paths, self._embed_batch, self.embedding_dim, None, None)
        ok = ~np.isnan(x).any(axis=1)
        per_class = int(getattr(self._fitted_loss().params, "svm_per_class", len(y)))
        rng = np.random.default_rng(p.seed)
        keep: list[np.ndarray] = []
        for c in np.unique(y):
            idx = np.flatnonzero((y == c) & ok)
            keep.append(rng.choice(idx, per_class, replace=False) if len(idx) > per_class else idx)
        rows = np.sort(np.concatenate(keep))
        return fit_head(HEAD, {}, x[rows], y[rows], seed=p.seed)

    @torch.inference_mode()
    def _proba_batch(self, x: torch.Tensor) -> np.ndarray:
        """Class probabilities [B, C] (eval mode, ``params.device``) for ``x`` [B, 3, H, W]:
        ``loss.proba`` of the network output, or the SVM head on the embedding."""
        model = self._model().eval()
        out = model(batch_to(x, next(model.parameters()).device)).float()
        loss = self._fitted_loss()
        if loss.needs_head:
            if self.head_ is None:
                raise NotFittedError("this cnn detector has no SVM head; fit it or load a bundle")
            classes = self.check_fitted()
            return head_proba(self.head_, out.cpu().numpy(), len(classes))
        return loss.proba(out).cpu().numpy().astype(np.float32)

    @torch.inference_mode()
    def _embed_batch(self, x: torch.Tensor) -> np.ndarray:
        """Embeddings [B, D] for ``x`` [B, 3, H, W]: the trained embedding (embedding
        losses) or the pooled pre-logits features (logit losses)."""
        model = self._model().eval()
        x = batch_to(x, next(model.parameters()).device)
        feats = model(x) if self._embedding_loss else pooled_features(model, x)
        return feats.float().flatten(1).cpu().numpy().astype(np.float32)

    def _as_logits(self, out: torch.Tensor) -> torch.Tensor:
        """Logits [B, C] of a logit loss's network output [B, K] (``bce``'s 1 logit z -> [0, z])."""
        if out.shape[1] == 1:
            return torch.cat([torch.zeros_like(out), out], dim=1)
        return out

    @torch.inference_mode()
    def _features_batch(self, x: torch.Tensor) -> tuple[np.ndarray, ...]:
        """One forward pass: ``(proba [B, C], logits [B, C], embedding [B, D])`` for ``x``.

        Logit losses: logits = the network output, embedding = pooled pre-logits
        features. Embedding losses: embedding = the network output, logits =
        the SVM head's decision function (``needs_head``) or log(proba).
        """
        from fakescope.detectors.features import sklearn_head_logits

        model = self._model().eval()
        x = batch_to(x, next(model.parameters()).device)
        loss = self._fitted_loss()
        if not self._embedding_loss:
            m: Any = model
            feats = m.forward_features(x)
            emb = m.forward_head(feats, pre_logits=True).flatten(1).float()
            out = m.forward_head(feats).float()
            proba = loss.proba(out).cpu().numpy().astype(np.float32)
            logits = self._as_logits(out).cpu().numpy().astype(np.float32)
            return proba, logits, emb.cpu().numpy().astype(np.float32)
        emb_np = model(x).float().flatten(1).cpu().numpy().astype(np.float32)
        if loss.needs_head:
            if self.head_ is None:
                raise NotFittedError("this cnn detector has no SVM head; fit it or load a bundle")
            n_classes = len(self.check_fitted())
            proba = head_proba(self.head_, emb_np, n_classes)
            logits = sklearn_head_logits(self.head_, emb_np, n_classes, proba)
            return proba, logits, emb_np
        proba = loss.proba(torch.from_numpy(emb_np).to(x.device)).cpu().numpy().astype(np.float32)
        logits = np.log(np.clip(proba, 1e-12, None)).astype(np.float32)
        return proba, logits, emb_np

    def differentiable_logits(self, x: torch.Tensor) -> torch.Tensor:
        """Logits [B, C] of ``x`` [B, 3, H, W] with autograd (logit losses only; for ODIN)."""
        if self._embedding_loss:
            return super().differentiable_logits(x)
        model = self._model().eval()
        return self._as_logits(model(x.to(next(model.parameters()).device)).float())

    def export_module(self) -> nn.Module:
        """The ONNX export module (eval mode, a CPU copy): a logit loss's network, an
        embedding loss with class scores (``dmyt``), or a binary SVM head (``triplet``);
        see :mod:`fakescope.detectors.export`."""
        self.check_fitted()
        model, loss = self._model().eval(), self._fitted_loss().eval()
        if not self._embedding_loss:
            return detached(CNNLogitExport(model, loss))
        if not loss.needs_head:
            return detached(CNNEmbeddingExport(model, loss))
        if self.head_ is None:
            raise cannot_export(self.name, "it has no fitted SVM head; fit it or load a bundle")
        return detached(svm_module(self.name, self.head_, len(self.check_fitted()), model))

    def explain_network(self) -> nn.Module:
        """The trained network (heatmaps read its last spatial layer); logit losses only."""
        if self._embedding_loss:
            return super().explain_network()
        return self._model()

    def _save_extra(self, directory: Path) -> None:
        """Write the SVM head (``needs_head`` losses) as ``head.skops`` (skops, no pickle)."""
        if self.head_ is not None:
            save_head(self.head_, directory / HEAD_FILE)

    def _restore(self, tensors: dict[str, torch.Tensor], directory: Path) -> None:
        """The network and loss (see the base), plus the SVM head of ``needs_head`` losses."""
        super()._restore(tensors, directory)
        needs_head = self._fitted_loss().needs_head
        self.head_ = load_head(directory / HEAD_FILE) if needs_head else None
