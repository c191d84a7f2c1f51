"""``triplet``: semi-hard mined triplet margin loss (pytorch-metric-learning); an SVM classifies.

The network outputs an embedding f [B, D]. Each batch, a semi-hard
:class:`~pytorch_metric_learning.miners.TripletMarginMiner` picks triplets
(anchor a, positive p of a's class, negative n of another class) with
0 < d(a, n) - d(a, p) <= margin, and the loss is the mean over triplets with a
positive value of max(d(a, p) - d(a, n) + margin, 0) (Euclidean distance of
L2-normalised embeddings, margin 0.2). Class weights weight each triplet by
its anchor's class weight (uniform weights give PML's own average).

The embedding has no class scores: ``needs_head`` is True, so after training
the detector fits an RBF SVM (the ``svm_rbf`` head) on up to ``svm_per_class``
train embeddings per class and predicts with it. :meth:`TripletLoss.proba`
raises ``NotImplementedError``.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from pydantic import Field
from pytorch_metric_learning.losses import TripletMarginLoss
from pytorch_metric_learning.miners import TripletMarginMiner
from pytorch_metric_learning.reducers import DoNothingReducer
from torch import Tensor

from fakescope.errors import DataError
from fakescope.losses.base import LOSSES, Loss, LossParams, weighted_mean


class TripletParams(LossParams):
    """``triplet``: the triplet margin (also the miner's), and how many train embeddings
    per class (sampled with the seed) fit the RBF SVM after training."""

    margin: float = Field(0.2, gt=0)
    svm_per_class: int = Field(1000, ge=2)


@LOSSES.register("triplet")
class TripletLoss(Loss):
    """Semi-hard mined triplet margin loss on embeddings; classes come from an RBF SVM head."""

    name = "triplet"
    Params = TripletParams
    output = "embedding"
    needs_head = True
    params: TripletParams

    def __init__(
        self,
        params: LossParams,
        num_classes: int,
        embed_dim: int,
        class_weights: Sequence[float] | None = None,
    ) -> None:
        super().__init__(params, num_classes, embed_dim, class_weights)
        margin = self.params.margin
        self.miner = TripletMarginMiner(margin=margin, type_of_triplets="semihard")
        self.triplet = TripletMarginLoss(margin=margin, reducer=DoNothingReducer())

    def check_targets(self, y: np.ndarray) -> None:
        """Every class needs >= 2 training samples (a positive pair), and >= 2 classes."""
        counts = np.bincount(np.asarray(y, dtype=np.int64), minlength=self.num_classes)
        few = [c for c, n in enumerate(counts) if n < 2]
        if len(counts) < 2 or few:
            raise DataError(
                f"loss=triplet needs >= 2 training images of each of >= 2 classes; class index(es) "
                f"{few} have fewer - add images or use loss=ce"
            )

    def forward(self, out: Tensor, y: Tensor) -> Tensor:
        """Mean (anchor-class-weighted) non-zero triplet loss of embeddings ``out`` [B, D].

        0 (still attached to the graph) when the miner finds no semi-hard triplet.
        """
        f = out.float()
        triplets = self.miner(f, y)
        info = self.triplet(f, y, triplets)["loss"]
        losses = info["losses"]
        if not isinstance(losses, Tensor) or losses.numel() == 0:
            return (f * 0.0).sum()
        anchors = info["indices"][0]
        weights = self.class_weights[y[anchors]] * (losses > 0)
        return weighted_mean(losses, weights)

    def proba(self, out: Tensor) -> Tensor:
        """Not available: the detector's SVM head gives the probabilities."""
        raise NotImplementedError(
            "loss=triplet has no class probabilities; the detector predicts with its SVM head"
        )
