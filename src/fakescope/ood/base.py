"""The OOD scorer contract and its registry.

An :class:`OODScorer` turns a detector's :class:`~fakescope.features.Features`
into one out-of-distribution score per image. sklearn style:

* ``__init__`` only stores its keyword arguments (the scorer's settings);
* ``fit(features, labels) -> self`` runs once on the in-distribution (ID)
  training split's features; fitted attributes end in ``_``;
* ``score(features) -> np.ndarray [N]`` float64: **higher = more
  out-of-distribution**; NaN for rows whose features are not finite (failed files);
* ``score`` before ``fit`` raises :class:`~fakescope.errors.NotFittedError`.

Scorers register themselves in :data:`SCORERS` (one small file each, one import
line in :mod:`fakescope.ood.catalog`). Saving (used by the abstainer) is generic: the
settings go to JSON, fitted ``ndarray`` attributes to safetensors, other
fitted attributes (numbers, strings, lists) to JSON; a scorer with other
state (a torch module) overrides :meth:`OODScorer.get_state` / ``set_state``.

Scorers that need the images themselves (ODIN perturbs the input along a
gradient) are :class:`InputScorer`: their per-batch scores are computed during
feature extraction (:meth:`fakescope.detectors.base.Detector.features` with
``input_scorers=``) and stored in ``Features.extras[scorer.extra_key]``.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import TYPE_CHECKING, Any, ClassVar, Self

import numpy as np

from fakescope.errors import FakescopeError, NotFittedError
from fakescope.features import Features
from fakescope.registry import Registry

if TYPE_CHECKING:
    import torch

    from fakescope.detectors.base import Detector


class OODScorer(ABC):
    """Base class of OOD scorers: higher score = more out-of-distribution.

    Subclasses set ``name`` and implement :meth:`_fit` (optional: default
    fits nothing) and :meth:`_score` on the finite rows only.
    """

    name: ClassVar[str] = ""
    #: Whether :meth:`fit` needs class labels [N] (class-conditional scorers).
    needs_labels: ClassVar[bool] = False

    def __init__(self, **params: Any) -> None:
        self.params: dict[str, Any] = dict(params)
        self.fitted_: bool = False

    # --------------------------------------------------------------- hooks
    def _fit(self, features: Features, labels: np.ndarray | None) -> None:  # noqa: B027
        """Learn from the ID training features (all rows finite); default: nothing."""

    @abstractmethod
    def _score(self, features: Features) -> np.ndarray:
        """Scores [n] (higher = more OOD) for ``features`` whose rows are all finite."""

    # ----------------------------------------------------------- public API
    def fit(self, features: Features, labels: np.ndarray | None = None) -> Self:
        """Fit on ID training features (rows that failed are dropped); returns self.

        ``labels`` [N]: class indices into ``features.classes`` (needed when
        ``needs_labels``).
        """
        ok = features.ok
        if not ok.any():
            raise FakescopeError(
                f"ood scorer {self.name}: no finite training features to fit on; check the images"
            )
        y = None
        if labels is not None:
            y = np.asarray(labels)
            if len(y) != len(features):
                raise FakescopeError(
                    f"ood scorer {self.name}: {len(y)} labels for {len(features)} feature rows"
                )
            y = y[ok]
        elif self.needs_labels:
            raise FakescopeError(f"ood scorer {self.name} needs class labels to fit; pass labels")
        self._fit(features.subset(ok), y)
        self.fitted_ = True
        return self

    def check_fitted(self) -> None:
        """Raise :class:`NotFittedError` unless :meth:`fit` (or a load) has run."""
        if not getattr(self, "fitted_", False):
            raise NotFittedError(
                f"ood scorer {self.name!r} is not fitted; call fit() on ID training features first"
            )

    def score(self, features: Features) -> np.ndarray:
        """OOD scores [N] float64, **higher = more out-of-distribution**; NaN for failed rows."""
        self.check_fitted()
        out = np.full(len(features), np.nan, dtype=np.float64)
        ok = features.ok
        if ok.any():
            out[ok] = np.asarray(self._score(features.subset(ok)), dtype=np.float64)
        return out

    # ------------------------------------------------------------- state
    def get_state(self) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
        """``(json_state, arrays)``: fitted attributes (names ending in ``_``), split by kind."""
        self.check_fitted()
        meta: dict[str, Any] = {}
        arrays: dict[str, np.ndarray] = {}
        for key, value in vars(self).items():
            if not key.endswith("_") or key.startswith("_"):
                continue
            if isinstance(value, np.ndarray):
                arrays[key] = np.ascontiguousarray(value)
            elif value is None or isinstance(value, bool | int | float | str | list):
                meta[key] = value
            else:
                raise TypeError(f"{type(self).__name__}.{key}: override get_state to save it")
        return meta, arrays

    def set_state(self, meta: dict[str, Any], arrays: dict[str, np.ndarray]) -> None:
        """Restore what :meth:`get_state` returned."""
        for key, value in meta.items():
            setattr(self, key, value)
        for key, arr in arrays.items():
            setattr(self, key, np.asarray(arr))
        self.fitted_ = True

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.params.items())
        return f"{type(self).__name__}({args})"


class InputScorer(OODScorer):
    """A scorer that needs the images: its scores are made during feature extraction.

    :meth:`batch_scores` runs on each preprocessed batch (it may use the
    detector's differentiable path, :meth:`Detector.differentiable_logits`);
    :meth:`score` reads ``features.extras[self.extra_key]``.
    """

    @property
    def extra_key(self) -> str:
        """The ``Features.extras`` key of this scorer's per-image scores (name + settings)."""
        args = ",".join(f"{k}={v}" for k, v in sorted(self.params.items()))
        return f"{self.name}({args})"

    @abstractmethod
    def batch_scores(self, detector: Detector, x: torch.Tensor) -> np.ndarray:
        """OOD scores [B] (higher = more OOD) for a preprocessed batch ``x`` [B, 3, H, W]."""

    def _score(self, features: Features) -> np.ndarray:
        if self.extra_key not in features.extras:
            raise FakescopeError(
                f"ood scorer {self.name} needs the images: extract features with "
                f"detector.features(..., input_scorers=[scorer])"
            )
        return features.extras[self.extra_key]


#: All OOD scorers by name (filled by importing :mod:`fakescope.ood.catalog`).
SCORERS: Registry[type[OODScorer]] = Registry("ood scorer", catalog="fakescope.ood.catalog")


def create_scorer(name: str, **params: Any) -> OODScorer:
    """A new unfitted scorer ``name`` with settings ``params`` (one-line error when unknown)."""
    cls = SCORERS.get(name)
    try:
        return cls(**params)
    except TypeError as exc:
        raise FakescopeError(f"ood scorer {name}: bad settings {params} ({exc})") from None
