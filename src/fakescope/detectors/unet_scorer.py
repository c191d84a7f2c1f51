"""``unet``: the S1 thesis's "scorer", a U-Net classifier that also reconstructs its input.

Network: :class:`~fakescope.models.unet_scorer.UNetScorer` (encoder -> 5-layer MLP
classifier; decoder -> sigmoid reconstruction; optional confidence branch).
Training (:mod:`fakescope.detectors.unet_module`): 0.9 * BCE + 0.1 * MAE(reconstruction,
input), CutMix, Adam (lr 1e-3, weight decay 1e-3), ReduceLROnPlateau(0.5, patience 3)
and early stopping on the validation loss; with ``confidence: true`` the DeVries &
Taylor confidence branch with hints and a budgeted lambda.

Inputs are RGB in [0, 1] (no mean/std normalisation), so the reconstruction target is
the input itself. Scores: P(fake) = 1 - P(real), higher = more fake. For OOD scoring,
:meth:`UNetScorerDetector._features_batch` adds ``confidence`` [B] (c in (0, 1), higher =
more in-distribution; only with the branch) and ``extras["residual"]`` [B, 1, r, r]: the
reconstruction residual (reconstruction - x)^2, averaged over the colour channels and
average-pooled to ``residual_size`` r (higher = worse reconstructed).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Literal

import numpy as np
import torch
import torch.nn.functional as F
from pydantic import Field

from fakescope.data.transforms import InputConfig
from fakescope.detectors.base import DETECTORS
from fakescope.detectors.trainable import TrainableDetector, TrainableParams
from fakescope.errors import ConfigError
from fakescope.losses.base import Loss
from fakescope.losses.catalog import create_loss
from fakescope.models.unet_scorer import ScorerOutput, UNetScorer

if TYPE_CHECKING:
    from fakescope.train.module import ClassifierModule

#: Key of the reconstruction residual maps in ``Features.extras``.
RESIDUAL = "residual"


class UNetParams(TrainableParams):
    """Settings of the ``unet`` detector (plus those of :class:`TrainableParams` and the base).

    * ``img_size``/``resize``: the input (sides must be divisible by 2^``depth``).
    * ``width``/``depth``/``mlp_hidden``/``dropout``: network size (see the model module).
    * ``loss``: ``bce`` (binary, the thesis) or ``ce`` (also attribution targets).
    * ``confidence``: add the confidence branch (``budget``, ``lambda_init``).
    * ``recon_weight``: weight of the reconstruction MAE (task weight = 1 - it).
    * ``cutmix_prob``/``cutmix_alpha``: CutMix per batch with lam ~ Beta(alpha, alpha).
    * ``epochs``, ``lr``, ``weight_decay`` (Adam), ``plateau_factor``/``plateau_patience``
      (ReduceLROnPlateau), ``patience`` (early stopping; 0/None = off), ``monitor``.
    * ``residual_size``: side of the pooled residual map given to OOD scorers.
    """

    img_size: int = Field(default=64, ge=8)
    resize: Literal["resize", "crop"] = "resize"
    width: int = Field(default=16, ge=1)
    depth: int = Field(default=3, ge=1, le=6)
    mlp_hidden: int = Field(default=256, ge=8)
    dropout: float = Field(default=0.3, ge=0, lt=1)
    loss: Literal["bce", "ce"] = "bce"
    class_weights: Literal["none", "balanced"] = "none"
    confidence: bool = False
    budget: float = Field(default=0.3, gt=0)
    lambda_init: float = Field(default=0.1, gt=0)
    recon_weight: float = Field(default=0.1, ge=0, le=1)
    cutmix_prob: float = Field(default=0.5, ge=0, le=1)
    cutmix_alpha: float = Field(default=1.0, gt=0)
    epochs: int = Field(default=20, ge=1)
    weight_decay: float = Field(default=1e-3, ge=0)
    plateau_factor: float = Field(default=0.5, gt=0, lt=1)
    plateau_patience: int = Field(default=3, ge=0)
    batch_size: int = Field(default=32, ge=2)
    precision: Literal["32", "bf16-mixed", "16-mixed"] = "32"
    patience: int | None = Field(default=5, ge=0)
    residual_size: int = Field(default=32, ge=1)
    progress: bool = True


@DETECTORS.register("unet")
class UNetScorerDetector(TrainableDetector[UNetScorer]):
    """U-Net classifier + reconstruction (+ confidence); see the module docstring."""

    name = "unet"
    Params = UNetParams
    params: UNetParams

    def __init__(self, params: Any = None) -> None:
        super().__init__(params)
        p = self.params
        if p.img_size % (1 << p.depth):
            raise ConfigError(
                f"unet img_size {p.img_size} is not divisible by 2^depth = {1 << p.depth}; "
                "change img_size or depth"
            )

    # ------------------------------------------------------------ model
    def _create(self, num_classes: int, *, start: bool = True) -> UNetScorer:
        """The scorer (random init: it has no start weights, so ``start`` changes nothing)."""
        p = self.params
        return UNetScorer(
            1 if p.loss == "bce" else num_classes,
            width=p.width,
            depth=p.depth,
            mlp_hidden=p.mlp_hidden,
            dropout=p.dropout,
            confidence=p.confidence,
        )

    def _make_loss(self, num_classes: int, class_weights: list[float] | None = None) -> Loss:
        """``loss`` (bce: binary only, a one-line error otherwise) for ``num_classes`` classes."""
        if self.params.loss == "bce" and num_classes != 2:
            raise ConfigError(f"unet loss=bce needs 2 classes, got {num_classes}; use loss=ce")
        return create_loss(self.params.loss, None, num_classes, num_classes, class_weights)

    def _module(
        self, model: UNetScorer, loss: Loss, num_classes: int, has_val: bool
    ) -> ClassifierModule:
        """:class:`~fakescope.detectors.unet_module.UNetScorerModule` (see its docstring)."""
        from fakescope.detectors.unet_module import UNetScorerModule

        p = self.params
        return UNetScorerModule(
            model,
            num_classes,
            loss=loss,
            lr=p.lr,
            weight_decay=p.weight_decay,
            recon_weight=p.recon_weight,
            cutmix_prob=p.cutmix_prob,
            cutmix_alpha=p.cutmix_alpha,
            budget=p.budget,
            lambda_init=p.lambda_init,
            plateau_factor=p.plateau_factor,
            plateau_patience=p.plateau_patience,
            has_val=has_val,
        )

    @property
    def input_config(self) -> InputConfig:
        """``img_size`` px square, RGB in [0, 1] (mean 0, std 1)."""
        return InputConfig(
            size=self.params.img_size,
            mean=(0.0, 0.0, 0.0),
            std=(1.0, 1.0, 1.0),
            resize=self.params.resize,
        )

    @property
    def embedding_dim(self) -> int:
        """D = width * 2^depth: the pooled bottleneck of the encoder."""
        return self.params.width << self.params.depth

    # ------------------------------------------------------------ inference
    @torch.inference_mode()
    def outputs(self, x: torch.Tensor) -> ScorerOutput:
        """All network outputs (eval mode) for a preprocessed batch ``x`` [B, 3, H, W] in [0, 1]."""
        model = self._model().eval()
        return model(x.to(next(model.parameters()).device))

    def _proba(self, out: ScorerOutput) -> np.ndarray:
        """Class probabilities [B, C] of the scorer's logits."""
        return self._fitted_loss().proba(out.logits.float()).cpu().numpy().astype(np.float32)

    def residual_map(self, out: ScorerOutput, x: torch.Tensor) -> torch.Tensor:
        """(reconstruction - x)^2 averaged over channels [B, 1, H, W] (full resolution)."""
        return (
            (out.reconstruction.float() - x.to(out.reconstruction.device).float())
            .pow(2)
            .mean(1, keepdim=True)
        )

    def _proba_batch(self, x: torch.Tensor) -> np.ndarray:
        """Class probabilities [B, C] for ``x`` [B, 3, H, W]."""
        return self._proba(self.outputs(x))

    def _embed_batch(self, x: torch.Tensor) -> np.ndarray:
        """Encoder embeddings [B, D] (pooled bottleneck) for ``x`` [B, 3, H, W]."""
        return self.outputs(x).embedding.float().cpu().numpy().astype(np.float32)

    def _as_logits(self, logits: torch.Tensor) -> torch.Tensor:
        """[B, C] logits (``bce``'s one logit z becomes [0, z], so softmax = sigmoid)."""
        return torch.cat([torch.zeros_like(logits), logits], 1) if logits.shape[1] == 1 else logits

    def _features_batch(self, x: torch.Tensor) -> tuple[Any, ...]:
        """One pass: ``(proba [B, C], logits [B, C], embedding [B, D], extras)``; extras hold
        ``residual`` [B, 1, r, r] and, with the branch, ``confidence`` [B] (higher = more ID)."""
        out = self.outputs(x)
        residual = F.adaptive_avg_pool2d(self.residual_map(out, x), self.params.residual_size)
        extras: dict[str, np.ndarray] = {RESIDUAL: residual.cpu().numpy().astype(np.float32)}
        if out.confidence_logit is not None:
            extras["confidence"] = torch.sigmoid(out.confidence_logit.float()).cpu().numpy()
        logits = self._as_logits(out.logits.float()).cpu().numpy().astype(np.float32)
        emb = out.embedding.float().cpu().numpy().astype(np.float32)
        return self._proba(out), logits, emb, extras

    def differentiable_logits(self, x: torch.Tensor) -> torch.Tensor:
        """Logits [B, C] of ``x`` [B, 3, H, W] with autograd (for ODIN)."""
        model = self._model().eval()
        return self._as_logits(model(x.to(next(model.parameters()).device)).logits.float())
