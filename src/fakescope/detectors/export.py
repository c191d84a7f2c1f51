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
* ``cnn`` with an embedding loss scored by its SVM head (``triplet``), when
  the head is binary: StandardScaler, RBF kernel against the support vectors
  and Platt scaling as tensor ops (float64), logits = log(proba);
* ``probe`` with a logistic-regression head (after an optional
  StandardScaler) and no reducer: backbone features, the linear head as a
  matrix product, softmax (open_clip ViTs included: see
  :func:`traceable_attention`);
* ``general``: the whole :class:`~fakescope.models.general_net.GeneralNet`
  (frozen backbone taps, NPR branch, head) through its own inference path
  ``outputs``, softmax of the logits.

Anything else (a multi-class SVM head, a k-NN or random-forest head, a
reducer, a hierarchy of detectors, the S1 ``unet`` / ``vit`` scorers) raises a
one-line :class:`~fakescope.errors.FakescopeError` saying to keep the torch
backend.
"""

from __future__ import annotations

import contextlib
import copy
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
from torch import nn

from fakescope.errors import FakescopeError

if TYPE_CHECKING:
    from fakescope.models.general_net import GeneralNet

#: Smallest probability before the log in logits = log(proba) (as in ``Features.from_proba``).
LOG_FLOOR = 1e-12


@contextlib.contextmanager
def traceable_attention() -> Iterator[None]:
    """While ``torch.onnx.export`` traces: torch's fused multi-head-attention kernel off.

    ``nn.MultiheadAttention`` (open_clip's ViTs) takes a fused fast path in eval
    mode without autograd, and ``aten::_native_multi_head_attention`` has no ONNX
    symbolic; the plain path computes the same attention with exportable ops.
    Outside tracing this does nothing (the global switch is never touched).
    """
    if not torch.jit.is_tracing():
        yield
        return
    mha = torch.backends.mha
    before = mha.get_fastpath_enabled()
    mha.set_fastpath_enabled(False)
    try:
        yield
    finally:
        mha.set_fastpath_enabled(before)


def cannot_export(name: str, why: str) -> FakescopeError:
    """The one-line error for the detector called ``name`` that has no ONNX export."""
    return FakescopeError(
        f"the {name} detector cannot be exported to ONNX ({why}); "
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
        with traceable_attention():
            emb = b.forward_features(x).float().flatten(1)
        z = (emb - self.mean) / self.scale
        logits = z @ self.weight.T + self.bias
        return logits.softmax(dim=1), logits, emb


class GeneralExport(nn.Module):
    """A ``general`` detector: x [B, 3, H, W] -> (softmax(logits) [B, C], logits, embedding [B, E]).

    ``net`` is a :class:`~fakescope.models.general_net.GeneralNet` in eval mode;
    its ``outputs`` is the detector's torch inference path, so both backends
    run the same ops (frozen taps + NPR branch + head).
    """

    def __init__(self, net: GeneralNet) -> None:
        super().__init__()
        self.net = net

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        logits, emb = self.net.outputs(x)
        return logits.softmax(dim=1), logits, emb


class CNNSvmExport(nn.Module):
    """A ``cnn`` detector whose embedding loss is scored by its binary RBF-SVM head.

    embedding [B, D] -> standardise (``mean`` / ``scale`` [D]) -> decision
    f = sum_s ``dual`` [S] * exp(-``gamma`` ||z - ``support`` [S, D]||^2) + ``intercept``
    -> Platt P(pos) = sigmoid(-(a f + b)) -> proba [B, C] with P(pos) in column ``pos``
    and 1 - P(pos) in ``neg`` (0 elsewhere); logits = log(proba), as the torch path
    (the calibrated head has no decision function). The head runs in float64, as
    libsvm does.
    """

    mean: torch.Tensor
    scale: torch.Tensor
    support: torch.Tensor
    support_sq: torch.Tensor
    dual: torch.Tensor
    platt: torch.Tensor
    pos: torch.Tensor
    neg: torch.Tensor

    def __init__(
        self,
        model: nn.Module,
        mean: torch.Tensor,
        scale: torch.Tensor,
        support: torch.Tensor,
        dual: torch.Tensor,
        platt: tuple[float, float, float, float],
        columns: tuple[int, int, int],
    ) -> None:
        super().__init__()
        self.model = model
        gamma, intercept, a, b = platt
        pos, neg, n_classes = columns
        self.register_buffer("mean", mean.double())
        self.register_buffer("scale", scale.double())
        self.register_buffer("support", support.double())
        self.register_buffer("support_sq", (support.double() ** 2).sum(dim=1))
        self.register_buffer("dual", dual.double())
        self.register_buffer("platt", torch.tensor([gamma, intercept, a, b], dtype=torch.float64))
        eye = torch.eye(n_classes, dtype=torch.float64)
        self.register_buffer("pos", eye[pos])
        self.register_buffer("neg", eye[neg])

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        emb = self.model(x).float().flatten(1)
        z = (emb.double() - self.mean) / self.scale
        dist = (z * z).sum(dim=1, keepdim=True) - 2.0 * z @ self.support.T + self.support_sq
        kernel = torch.exp(-self.platt[0] * dist.clamp_min(0.0))
        f = kernel @ self.dual + self.platt[1]
        p_pos = torch.sigmoid(-(self.platt[2] * f + self.platt[3]))[:, None]
        proba = (p_pos * self.pos + (1.0 - p_pos) * self.neg).float()
        return proba, torch.log(proba.clamp_min(LOG_FLOOR)), emb


def _scaler_arrays(name: str, steps: list[Any], d: int) -> tuple[np.ndarray, np.ndarray]:
    """``(mean [d], scale [d])`` of a head's optional leading StandardScaler (0 / 1 when absent)."""
    if len(steps) > 2 or any(type(s).__name__ != "StandardScaler" for s in steps[:-1]):
        raise cannot_export(name, "its head has steps other than StandardScaler")
    mean, scale = np.zeros(d), np.ones(d)
    if len(steps) == 2:
        scaler = steps[0]
        if scaler.with_mean:
            mean = np.asarray(scaler.mean_, dtype=np.float64)
        if scaler.with_std:
            scale = np.asarray(scaler.scale_, dtype=np.float64)
    return mean, scale


def svm_module(name: str, head: Any, n_classes: int, model: nn.Module) -> nn.Module:
    """The :class:`CNNSvmExport` of a cnn detector's fitted SVM ``head`` (an sklearn
    pipeline: binary RBF SVM, Platt-calibrated) on top of its network ``model``."""
    steps = [step for _, step in head.steps if step not in (None, "passthrough")]
    final = steps[-1]
    cal = getattr(final, "calibrated_classifiers_", None)
    if type(final).__name__ != "CalibratedClassifierCV" or cal is None or len(cal) != 1:
        raise cannot_export(name, f"its head is {type(final).__name__}, not one calibrated SVM")
    svc, calibrators = cal[0].estimator, cal[0].calibrators
    cols = np.asarray(final.classes_, dtype=np.int64)
    if len(cols) != 2 or cal[0].method != "sigmoid" or getattr(svc, "kernel", "") != "rbf":
        raise cannot_export(name, "only a binary RBF SVM head with sigmoid calibration exports")
    support = np.asarray(svc.support_vectors_, dtype=np.float64)
    mean, scale = _scaler_arrays(name, steps, support.shape[1])
    platt = (
        float(svc._gamma),
        float(svc.intercept_[0]),
        float(calibrators[0].a_),
        float(calibrators[0].b_),
    )
    t = torch.from_numpy
    dual = t(np.asarray(svc.dual_coef_, dtype=np.float64)[0])
    columns = (int(cols[1]), int(cols[0]), n_classes)
    return CNNSvmExport(model, t(mean), t(scale), t(support), dual, platt, columns)


def probe_module(
    name: str, head: Any, has_reducer: bool, n_classes: int, backbone: nn.Module
) -> nn.Module:
    """The :class:`LinearProbeExport` of a probe detector: its frozen ``backbone`` and its
    fitted logistic-regression ``head`` (optionally after a StandardScaler), no reducer."""
    if has_reducer:
        raise cannot_export(name, "it has an autoencoder reducer")
    steps = [step for _, step in head.steps if step not in (None, "passthrough")]
    final = steps[-1]
    if type(final).__name__ != "LogisticRegression":
        raise cannot_export(name, f"its head is {type(final).__name__}, not logistic regression")
    coef = np.asarray(final.coef_, dtype=np.float64)
    intercept = np.asarray(final.intercept_, dtype=np.float64)
    d = coef.shape[1]
    mean, scale = _scaler_arrays(name, steps, d)
    cols = np.asarray(final.classes_, dtype=np.int64)
    weight = np.zeros((n_classes, d))
    bias = np.full(n_classes, -1e4)
    if coef.shape[0] == 1:  # binary: logits [0, d] for (cols[0], cols[1])
        bias[cols[0]] = 0.0
        weight[cols[1]], bias[cols[1]] = coef[0], intercept[0]
    else:
        weight[cols], bias[cols] = coef, intercept
    t = torch.from_numpy
    return LinearProbeExport(backbone.eval(), t(mean), t(scale), t(weight), t(bias))


def detached(module: nn.Module) -> nn.Module:
    """A CPU, eval-mode copy of an export ``module`` (the detector keeps its device)."""
    return copy.deepcopy(module).cpu().eval()
