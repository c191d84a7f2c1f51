"""The :class:`Loss` contract: what a network outputs, how it is trained, how it predicts.

A loss decides the width of the network's output and how that output becomes
class probabilities:

* ``output = "logits"``: the network outputs C logits (or 1 for ``bce``);
  :meth:`Loss.proba` maps them to probabilities.
* ``output = "embedding"``: the network outputs a D-dim embedding
  (``embed_dim``); the loss compares embeddings (to fixed dummies for
  ``dmyt``, to each other for ``triplet``).
* ``needs_head = True``: the embedding has no built-in classifier; after
  training, the detector fits an sklearn head on train embeddings.

Class 0 is always "real"; P(fake) = 1 - proba[:, 0] in [0, 1], higher = more
likely fake. Losses register in :data:`LOSSES` (filled by importing
:mod:`fakescope.losses.catalog`) and are built with :func:`create_loss`.
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from typing import Any, ClassVar, Literal

import numpy as np
import torch
from pydantic import BaseModel, ConfigDict, ValidationError
from torch import Tensor, nn

from fakescope.errors import ConfigError
from fakescope.registry import Registry

Output = Literal["logits", "embedding"]


class LossParams(BaseModel):
    """Base of every loss's parameters: unknown keys are an error."""

    model_config = ConfigDict(extra="forbid")


class Loss(nn.Module, ABC):
    """Base class of training losses (see the module docstring).

    ``num_classes`` C >= 2 (class 0 = real); ``embed_dim`` D = the embedding
    width (used by embedding losses); ``class_weights`` [C] (finite, >= 0, not
    all 0; None = uniform) weight each sample by the weight of its class.
    The weights are a non-persistent buffer (``self.class_weights`` [C]).
    """

    name: ClassVar[str] = ""
    Params: ClassVar[type[LossParams]] = LossParams
    output: ClassVar[Output] = "logits"
    needs_head: ClassVar[bool] = False

    class_weights: Tensor

    def __init__(
        self,
        params: LossParams,
        num_classes: int,
        embed_dim: int,
        class_weights: Sequence[float] | None = None,
    ) -> None:
        super().__init__()
        if not isinstance(params, self.Params):
            raise TypeError(f"{type(self).__name__} needs {self.Params.__name__}, got {params!r}")
        if num_classes < 2:
            raise ConfigError(
                f"loss {self.name} needs at least 2 classes (real + fake), got {num_classes}; "
                "add images of the missing class"
            )
        if embed_dim < 1:
            raise ConfigError(f"embed_dim must be >= 1, got {embed_dim}; set a positive embed_dim")
        self.params = params
        self.num_classes = num_classes
        self.embed_dim = embed_dim
        self.register_buffer(
            "class_weights", _weights(class_weights, num_classes), persistent=False
        )

    @property
    def weighted(self) -> bool:
        """Whether the class weights differ from uniform."""
        return not bool(torch.all(self.class_weights == self.class_weights[0]))

    def output_dim(self) -> int:
        """Width K the network must output: C logits by default (embedding losses: D)."""
        return self.embed_dim if self.output == "embedding" else self.num_classes

    def check_targets(self, y: np.ndarray) -> None:
        """Raise :class:`~fakescope.errors.DataError` if training targets ``y`` [N] cannot work."""

    @abstractmethod
    def forward(self, out: Tensor, y: Tensor) -> Tensor:
        """Scalar loss of network outputs ``out`` [B, K] for class indices ``y`` [B] (int64)."""

    @abstractmethod
    def proba(self, out: Tensor) -> Tensor:
        """Class probabilities [B, C] (rows sum to 1) of network outputs ``out`` [B, K]."""


def _weights(class_weights: Sequence[float] | None, num_classes: int) -> Tensor:
    """Validated class weights [C] as float32 (ones when None); a one-line ConfigError otherwise."""
    if class_weights is None:
        return torch.ones(num_classes)
    values = [float(w) for w in class_weights]
    if len(values) != num_classes:
        raise ConfigError(
            f"class_weights has {len(values)} values but there are {num_classes} classes; "
            "give one per class"
        )
    if any(not (math.isfinite(w) and w >= 0) for w in values) or not any(values):
        raise ConfigError(
            f"class_weights must be finite, >= 0 and not all 0, got {values}; fix class_weights"
        )
    return torch.tensor(values, dtype=torch.float32)


def weighted_mean(per_sample: Tensor, weights: Tensor) -> Tensor:
    """Sum(w_i * l_i) / sum(w_i) of per-sample losses [B] with weights [B] (0 when all w are 0)."""
    total = weights.sum()
    return (per_sample * weights).sum() / total.clamp_min(torch.finfo(per_sample.dtype).tiny)


#: All losses, by name (filled by importing :mod:`fakescope.losses.catalog`).
LOSSES: Registry[type[Loss]] = Registry("loss", catalog="fakescope.losses.catalog")


def check_loss_params(name: str, params: Mapping[str, Any] | None) -> LossParams:
    """Validate ``params`` for loss ``name``; raises :class:`ConfigError` (one line)."""
    if name not in LOSSES:
        raise ConfigError(f"unknown loss {name!r}; choose one of: {', '.join(LOSSES.names())}")
    model = LOSSES.get(name).Params
    try:
        return model.model_validate(dict(params or {}))
    except ValidationError as exc:
        err = exc.errors()[0]
        key = ".".join(str(k) for k in err["loc"])
        if err["type"] == "extra_forbidden":
            valid = ", ".join(sorted(model.model_fields)) or "none"
            raise ConfigError(
                f"unknown {name} loss parameter {key!r}; valid ones: {valid}"
            ) from None
        raise ConfigError(f"invalid {name} loss parameter {key!r}: {err['msg']}") from None


def create_loss(
    name: str,
    params: Mapping[str, Any] | None,
    num_classes: int,
    embed_dim: int,
    class_weights: Sequence[float] | None = None,
) -> Loss:
    """Build loss ``name`` with validated ``params`` for C classes and D-dim embeddings."""
    checked = check_loss_params(name, params)
    return LOSSES.get(name)(checked, num_classes, embed_dim, class_weights)
