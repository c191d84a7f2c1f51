"""Torch modules that compute a detector's one-pass outputs, for export (ONNX).

:func:`export_module` returns an ``nn.Module`` mapping a preprocessed image
batch ``x`` [B, 3, H, W] float32 to ``(proba [B, C], logits [B, C],
embedding [B, D])`` - the same triple as
:meth:`fakescope.detectors.base.Detector._features_batch` (P(fake) = 1 -
proba[:, 0], higher = more fake), written only with torch ops so that
``torch.onnx.export`` can trace it. Built in:

* ``cnn`` with a logit loss (``ce``, ``bce``, ...): the network's head output
  as logits, the pooled pre-logits features as embedding;
* ``cnn`` with an embedding loss that has its own class scores (``dmyt``):
  the network output as embedding, ``loss.proba`` of it, logits = log(proba);
* ``probe`` with a logistic-regression head (after an optional
  StandardScaler) and no reducer: backbone features, the linear head as a
  matrix product, softmax.

Anything else (an SVM head saved with skops, a reducer, a hierarchy of heads)
raises a one-line :class:`~fakescope.errors.FakescopeError` saying to keep
the torch backend.
"""

from __future__ import annotations

import copy
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
from torch import nn

from fakescope.errors import FakescopeError

if TYPE_CHECKING:
    from fakescope.detectors.base import Detector
    from fakescope.detectors.cnn import CNNDetector
    from fakescope.detectors.probe import ProbeDetector

#: Smallest probability before the log in logits = log(proba) (as in ``Features.from_proba``).
LOG_FLOOR = 1e-12


def cannot_export(detector: Detector, why: str) -> FakescopeError:
    """The one-line error for a detector that has no ONNX export."""
    return FakescopeError(
        f"the {detector.name} detector cannot be exported to ONNX ({why}); "
        "keep the torch backend (--backend torch)"
    )


class CNNLogitExport(nn.Module):
    """A ``cnn`` detector with a logit loss: x [B, 3, H, W] -> (proba, logits, embedding)."""

    def __init__(self, model: nn.Module, loss: nn.Module) -> None:
        super().__init__()
        self.model = model
        self.loss = loss

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        m: Any = self.model
        feats = m.forward_features(x)
        emb = m.forward_head(feats, pre_logits=True).flatten(1).float()
        out = m.forward_head(feats).float()
        proba = self.loss.proba(out)  # type: ignore[operator]
        logits = torch.cat([torch.zeros_like(out), out], dim=1) if out.shape[1] == 1 else out
        return proba, logits, emb


class CNNEmbeddingExport(nn.Module):
    """A ``cnn`` detector with an embedding loss with class scores: logits = log(proba)."""

    def __init__(self, model: nn.Module, loss: nn.Module) -> None:
        super().__init__()
        self.model = model
        self.loss = loss

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        emb = self.model(x).float().flatten(1)
        proba = self.loss.proba(emb)  # type: ignore[operator]
        return proba, torch.log(proba.clamp_min(LOG_FLOOR)), emb


class LinearProbeExport(nn.Module):
    """Backbone features -> standardise -> linear head -> softmax (a logistic ``probe``).

    ``mean`` / ``scale`` [D]: the StandardScaler (0 / 1 when absent); ``weight``
    [C, D] and ``bias`` [C]: logits per class (absent classes: weight 0, bias -1e4).
    """

    def __init__(
        self,
        backbone: nn.Module,
        mean: torch.Tensor,
        scale: torch.Tensor,
        weight: torch.Tensor,
        bias: torch.Tensor,
    ) -> None:
        super().__init__()
        self.backbone = backbone
        self.register_buffer("mean", mean.float())
        self.register_buffer("scale", scale.float())
        self.register_buffer("weight", weight.float())
        self.register_buffer("bias", bias.float())

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        b: Any = self.backbone
        emb = b.forward_features(x).float().flatten(1)
        z = (emb - self.mean) / self.scale
        logits = z @ self.weight.T + self.bias
        return logits.softmax(dim=1), logits, emb


def _cnn_module(det: CNNDetector) -> nn.Module:
    model, loss = det._model().eval(), det._fitted_loss().eval()
    if not det._embedding_loss:
        return CNNLogitExport(model, loss)
    if loss.needs_head:
        raise cannot_export(det, f"loss={det.params.loss} scores with an SVM head (head.skops)")
    return CNNEmbeddingExport(model, loss)


def _probe_module(det: ProbeDetector) -> nn.Module:
    head = det._head_or_raise()
    if det.reducer is not None:
        raise cannot_export(det, "it has an autoencoder reducer")
    steps = [step for _, step in head.steps if step not in (None, "passthrough")]
    final = steps[-1]
    if type(final).__name__ != "LogisticRegression":
        raise cannot_export(det, f"its head is {type(final).__name__}, not logistic regression")
    if len(steps) > 2 or any(type(s).__name__ != "StandardScaler" for s in steps[:-1]):
        raise cannot_export(det, "its head has steps other than StandardScaler")
    coef = np.asarray(final.coef_, dtype=np.float64)
    intercept = np.asarray(final.intercept_, dtype=np.float64)
    d = coef.shape[1]
    mean, scale = np.zeros(d), np.ones(d)
    if len(steps) == 2:
        scaler = steps[0]
        if scaler.with_mean:
            mean = np.asarray(scaler.mean_, dtype=np.float64)
        if scaler.with_std:
            scale = np.asarray(scaler.scale_, dtype=np.float64)
    n_classes = len(det.check_fitted())
    cols = np.asarray(final.classes_, dtype=np.int64)
    weight = np.zeros((n_classes, d))
    bias = np.full(n_classes, -1e4)
    if coef.shape[0] == 1:  # binary: logits [0, d] for (cols[0], cols[1])
        bias[cols[0]] = 0.0
        weight[cols[1]], bias[cols[1]] = coef[0], intercept[0]
    else:
        weight[cols], bias[cols] = coef, intercept
    t = torch.from_numpy
    return LinearProbeExport(det.backbone.eval(), t(mean), t(scale), t(weight), t(bias))


def export_module(detector: Detector) -> nn.Module:
    """The built-in export module of ``detector`` (eval mode, on CPU), or a one-line error."""
    from fakescope.detectors.cnn import CNNDetector
    from fakescope.detectors.probe import ProbeDetector

    detector.check_fitted()
    if isinstance(detector, CNNDetector):
        module = _cnn_module(detector)
    elif isinstance(detector, ProbeDetector):
        module = _probe_module(detector)
    else:
        raise cannot_export(detector, "it has no torch export module")
    return copy.deepcopy(module).cpu().eval()  # a copy: the detector keeps its device
