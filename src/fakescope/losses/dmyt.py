"""``dmyt``: the dummy triplet loss (DmyT, ACM ADGD'21), generalised to any class count.

The network outputs an embedding f [B, D]. Each class c has a fixed *dummy*
d_c [D] of 0/1 contiguous blocks (:func:`dummy_layout`): with n blocks of
length L = D // n, class c owns block c (binary: real = ones on [0, D/2),
fake = ones on [D/2, D)). With ``root_dummy`` one more block is shared by every
fake class, so fake class k = its own block + the root block (a hierarchy: all
fakes look alike on the root block). Leftover dims (D mod n) are 0 in every dummy.

Loss per sample (a triplet with the dummies as positive / negative)::

    max(d(f, d_y) - d(f, d_a) + margin, 0)

where the antagonist a is the other class for 2 classes, else the nearest
other dummy (the hardest negative), and d is Euclidean or cosine distance
(``distance="auto"``: Euclidean for 2 classes, cosine for more). Samples are
weighted by their class weight.

Prediction: scores s_c = <f, d_c / ||d_c||_1> (the mean of f over class c's
ones); argmax s is the paper's rule, and proba = softmax(s / temperature)
gives probabilities with the same argmax (P(fake) = 1 - proba[:, 0]).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

import torch
import torch.nn.functional as F
from pydantic import Field
from torch import Tensor

from fakescope.errors import ConfigError
from fakescope.losses.base import LOSSES, Loss, LossParams, weighted_mean

#: Added to differences before the Euclidean norm (as torch's TripletMarginLoss), so
#: the gradient stays finite when f equals a dummy.
EPS = 1e-6


class DmytParams(LossParams):
    """``dmyt``: margin, distance ("auto" = Euclidean for 2 classes, cosine for more),
    a shared root block for fake classes, and the softmax temperature of ``proba``."""

    margin: float = Field(1.0, gt=0)
    distance: Literal["auto", "euclidean", "cosine"] = "auto"
    root_dummy: bool = False
    temperature: float = Field(1.0, gt=0)


def needed_dims(num_classes: int, root: bool) -> int:
    """Smallest embed_dim that fits one block per class (+ the root block)."""
    return num_classes + int(root)


def dummy_layout(num_classes: int, embed_dim: int, *, root: bool = False) -> Tensor:
    """Dummies [C, D] of 0/1 contiguous blocks (see the module docstring).

    Raises :class:`ConfigError` when D is smaller than :func:`needed_dims`.
    """
    blocks = needed_dims(num_classes, root)
    if embed_dim < blocks:
        raise ConfigError(
            f"DmyT with {num_classes} classes needs embed_dim >= {blocks}; got {embed_dim}, "
            f"set the cnn parameter embed_dim to {blocks} or more"
        )
    length = embed_dim // blocks
    dummies = torch.zeros(num_classes, embed_dim)
    for c in range(num_classes):
        dummies[c, c * length : (c + 1) * length] = 1.0
        if root and c > 0:
            dummies[c, num_classes * length : (num_classes + 1) * length] = 1.0
    return dummies


@LOSSES.register("dmyt")
class DmytLoss(Loss):
    """Dummy triplet loss: pull f toward its class's fixed 0/1 dummy, away from the hardest other."""

    name = "dmyt"
    Params = DmytParams
    output = "embedding"
    params: DmytParams

    dummies: Tensor

    def __init__(
        self,
        params: LossParams,
        num_classes: int,
        embed_dim: int,
        class_weights: Sequence[float] | None = None,
    ) -> None:
        super().__init__(params, num_classes, embed_dim, class_weights)
        dummies = dummy_layout(num_classes, embed_dim, root=self.params.root_dummy)
        self.register_buffer("dummies", dummies, persistent=False)

    @property
    def distance(self) -> Literal["euclidean", "cosine"]:
        """The distance in use ("auto" resolved: Euclidean for 2 classes, cosine for more)."""
        if self.params.distance == "auto":
            return "euclidean" if self.num_classes == 2 else "cosine"
        return self.params.distance

    def distances(self, out: Tensor) -> Tensor:
        """Distances [B, C] from embeddings ``out`` [B, D] to every dummy (smaller = closer)."""
        f = out.float()
        if self.distance == "euclidean":
            return (f[:, None, :] - self.dummies[None, :, :] + EPS).norm(dim=2)
        cos = F.normalize(f, dim=1, eps=EPS) @ F.normalize(self.dummies, dim=1).T
        return 1.0 - cos

    def forward(self, out: Tensor, y: Tensor) -> Tensor:
        """Class-weighted mean of max(d(f, d_y) - d(f, d_antagonist) + margin, 0); ``out`` [B, D]."""
        dist = self.distances(out)
        own = F.one_hot(y, self.num_classes).bool()
        d_pos = dist[own]
        d_neg = dist.masked_fill(own, float("inf")).min(dim=1).values
        per_sample = F.relu(d_pos - d_neg + self.params.margin)
        return weighted_mean(per_sample, self.class_weights[y])

    def scores(self, out: Tensor) -> Tensor:
        """Scores s [B, C] = <f, d_c / ||d_c||_1> (the paper predicts argmax s)."""
        normed = self.dummies / self.dummies.sum(dim=1, keepdim=True)
        return out.float() @ normed.T

    def proba(self, out: Tensor) -> Tensor:
        """softmax(scores / temperature) [B, C] of embeddings ``out`` [B, D]."""
        return (self.scores(out) / self.params.temperature).softmax(dim=1)
