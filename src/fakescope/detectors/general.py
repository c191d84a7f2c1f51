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
``fakescope export BUNDLE --format onnx`` traces the whole network (taps, NPR branch,
head) into one graph (:class:`~fakescope.detectors.export.GeneralExport`).
"""

from __future__ import annotations

from typing import ClassVar, Literal

import numpy as np
import torch
from pydantic import Field, field_validator

from fakescope.data.augment import AugmentConfig
from fakescope.detectors.base import DETECTORS
from fakescope.detectors.export import GeneralExport, detached
from fakescope.detectors.trainable import TrainableDetector, TrainableParams
from fakescope.losses.base import Loss
from fakescope.losses.catalog import create_loss
from fakescope.models.general_net import GeneralNet
from fakescope.models.intermediate import IntermediateTaps, Pool, create_frozen_timm

#: Default taps: the stem and the first three stages. On realgen-dev's leave-one-source-out
#: (normalised) they gave 0.621 mean unseen AUC against 0.573 for every block plus the final
#: features, and 0.576 without the NPR branch (the ablation and its command: configs/general.yaml).
LOW_LEVEL_TAPS = (0, 1, 2, 3)


class GeneralParams(TrainableParams):
    """Settings of the ``general`` detector (plus those of :class:`TrainableParams` and the base).

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
    resize: Literal["resize", "crop"] = "crop"
    epochs: int = Field(default=8, ge=1)
    class_weights: Literal["none", "balanced"] = "balanced"
    augment: AugmentConfig = AugmentConfig(preset="blur_jpeg_0.5", crop="random")

    @field_validator("taps")
    @classmethod
    def _some_taps(cls, value: list[int] | None) -> list[int] | None:
        if value is not None and not value:
            raise ValueError("taps must list at least one block index, or be null for every block")
        return value


@DETECTORS.register("general")
class GeneralDetector(TrainableDetector[GeneralNet]):
    """Frozen backbone taps + NPR branch + head; see the module docstring."""

    name = "general"
    Params = GeneralParams
    params: GeneralParams
    RESUMABLE: ClassVar[frozenset[str]] = frozenset(
        {"batch_size", "num_workers", "device", "progress", "epochs"}
    )

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

    def _make_loss(self, num_classes: int, class_weights: list[float] | None = None) -> Loss:
        """Cross-entropy over the head's ``num_classes`` logits."""
        return create_loss("ce", None, num_classes, num_classes, class_weights)

    # ------------------------------------------------------------ hooks
    @property
    def embedding_dim(self) -> int:
        """E: ``tap_dim`` (taps) + ``tap_dim`` (NPR branch, when ``npr_channels`` > 0)."""
        return self.params.tap_dim * (2 if self.params.npr_channels > 0 else 1)

    def _logits(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``(logits [B, C], embedding [B, E])`` of a batch, one forward pass, eval mode."""
        model = self._model().eval()
        return model.outputs(x.to(next(model.head.parameters()).device))

    @torch.inference_mode()
    def _proba_batch(self, x: torch.Tensor) -> np.ndarray:
        """Class probabilities [B, C] for ``x`` [B, 3, H, W] (softmax of the logits)."""
        logits, _ = self._logits(x)
        return torch.softmax(logits, dim=1).cpu().numpy().astype(np.float32)

    @torch.inference_mode()
    def _embed_batch(self, x: torch.Tensor) -> np.ndarray:
        """The fused embedding [B, E] for ``x`` [B, 3, H, W]."""
        return self._model().eval().embed(x).float().cpu().numpy().astype(np.float32)

    def export_module(self) -> torch.nn.Module:
        """The ONNX export module (eval mode, a CPU copy): the whole network through its own
        inference path (:class:`~fakescope.detectors.export.GeneralExport`)."""
        self.check_fitted()
        return detached(GeneralExport(self._model()))

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
