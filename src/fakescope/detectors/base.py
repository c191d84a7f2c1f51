"""The :class:`Detector` contract: the one thing users train, save, load and run.

Every detector - an end-to-end trained network, a frozen-embedding probe, a
hierarchical tree - implements a handful of private hooks; evaluation, OOD
scoring, ``scan`` and serving only ever call the public methods below, so they
never branch on the kind of detector.

Score direction: ``predict_proba`` returns P(fake) in [0, 1] (higher = more
likely fake). Class 0 is always "real", so P(fake) = 1 - P(class 0) also for
attribution detectors with one class per generator.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar, Self

import numpy as np
import pandas as pd
import torch
from PIL import Image
from pydantic import BaseModel, ConfigDict, field_validator

from fakescope.data.loader import run_batches
from fakescope.data.schema import LABEL, PATH, TARGETS
from fakescope.data.transforms import InputConfig, eval_transform
from fakescope.errors import DataError, NotFittedError
from fakescope.registry import Registry


class DetectorParams(BaseModel):
    """Settings shared by every detector; subclasses add their own fields.

    Unknown keys are an error (``extra="forbid"``), so a typo in a config fails loudly.
    """

    model_config = ConfigDict(extra="forbid")

    target: str = "label"
    batch_size: int = 64
    num_workers: int | None = None
    device: str = "cpu"
    seed: int = 0

    @field_validator("target")
    @classmethod
    def _known_target(cls, value: str) -> str:
        if value not in TARGETS:
            raise ValueError(f"target must be one of {', '.join(TARGETS)}, got {value!r}")
        return value


@dataclass
class Prediction:
    """Detector output for N inputs.

    ``proba`` [N, C]: class probabilities (rows sum to 1; NaN where the file
    failed); ``errors`` [N]: "" or the one-line decode error; ``classes`` [C]
    with ``classes[0] == "real"``.
    """

    proba: np.ndarray
    errors: list[str]
    classes: list[str]

    @property
    def p_fake(self) -> np.ndarray:
        """P(fake) [N] = 1 - P(real); NaN for failed files."""
        return 1.0 - self.proba[:, 0]

    @property
    def predicted_class(self) -> list[str | None]:
        """Argmax class name per row (None for failed files)."""
        return [
            None if np.isnan(row).any() else self.classes[int(np.argmax(row))] for row in self.proba
        ]


class Detector(ABC):
    """Base class of all detectors (see module docstring for the score convention).

    Subclasses set ``name`` and ``Params`` and implement the ``_hooks``.
    Fitted attributes end in ``_``: ``classes_`` (class names, "real" first)
    and ``threshold_`` (the P(fake) cut chosen on validation data, 0.5 without).
    """

    name: ClassVar[str] = ""
    Params: ClassVar[type[DetectorParams]] = DetectorParams

    def __init__(self, params: DetectorParams | Mapping[str, Any] | None = None) -> None:
        from fakescope.config import validate_params

        raw = params.model_dump() if isinstance(params, DetectorParams) else dict(params or {})
        self.params = validate_params(
            self.Params, raw, f"{self.name or type(self).__name__} detector"
        )
        self.classes_: list[str] | None = None
        self.threshold_: float = 0.5

    # ----------------------------------------------------------------- hooks
    @property
    @abstractmethod
    def input_config(self) -> InputConfig:
        """How images are preprocessed for this detector's model."""

    @property
    @abstractmethod
    def embedding_dim(self) -> int:
        """D of :meth:`embed`'s output [N, D]."""

    @abstractmethod
    def _fit(self, train: pd.DataFrame, val: pd.DataFrame | None, workdir: Path | None) -> None:
        """Train on ``train`` (and monitor ``val``); must set ``self.classes_``."""

    @abstractmethod
    def _proba_batch(self, x: torch.Tensor) -> np.ndarray:
        """Class probabilities [B, C] for a preprocessed batch ``x`` [B, 3, H, W]."""

    @abstractmethod
    def _embed_batch(self, x: torch.Tensor) -> np.ndarray:
        """Embeddings [B, D] for a preprocessed batch ``x`` [B, 3, H, W]."""

    @abstractmethod
    def _tensors(self) -> dict[str, torch.Tensor]:
        """Everything learnt, as named tensors (saved to ``model.safetensors``)."""

    @abstractmethod
    def _restore(self, tensors: dict[str, torch.Tensor], directory: Path) -> None:
        """Rebuild the fitted model from saved tensors (``classes_`` is already set)."""

    def _save_extra(self, directory: Path) -> None:  # noqa: B027 - optional hook
        """Write extra non-pickle files into the bundle directory (default: none)."""

    # ------------------------------------------------------------ public API
    def fit(
        self,
        train: pd.DataFrame,
        val: pd.DataFrame | None = None,
        *,
        workdir: str | Path | None = None,
    ) -> Self:
        """Fit on the sample table ``train``; choose ``threshold_`` on ``val`` when given.

        ``workdir`` holds checkpoints and caches (resumable); None = a temp dir.
        """
        if len(train) == 0:
            raise DataError("the training set is empty; check the data root and split")
        if self.params.target == "label" and train[LABEL].nunique() < 2:
            raise DataError(
                "the training set has only one label; it needs both real (0) and fake (1) images"
            )
        self._fit(
            train, val if val is not None and len(val) else None, Path(workdir) if workdir else None
        )
        if self.classes_ is None:
            raise RuntimeError(f"{type(self).__name__}._fit did not set classes_")
        if val is not None and len(val) and val[LABEL].nunique() == 2:
            from fakescope.eval.threshold import choose_threshold

            p = self.predict(val[PATH].tolist()).p_fake
            ok = ~np.isnan(p)
            self.threshold_ = choose_threshold(val[LABEL].to_numpy()[ok], p[ok])
        return self

    def check_fitted(self) -> list[str]:
        """Return ``classes_`` or raise :class:`NotFittedError`."""
        if self.classes_ is None:
            raise NotFittedError(
                f"this {self.name} detector is not fitted; call fit() or load a bundle"
            )
        return self.classes_

    def _run(
        self,
        paths: Sequence[str | Path],
        fn: Callable[[torch.Tensor], np.ndarray],
        out_dim: int,
        image_fn: Callable[[Image.Image], Image.Image] | None,
        progress: str | None,
    ) -> tuple[np.ndarray, list[str]]:
        cfg = self.input_config
        return run_batches(
            paths,
            eval_transform(cfg),
            (3, cfg.size, cfg.size),
            fn,
            out_dim,
            batch_size=self.params.batch_size,
            num_workers=self.params.num_workers,
            image_fn=image_fn,
            progress=progress,
        )

    def predict(
        self,
        paths: Sequence[str | Path],
        *,
        image_fn: Callable[[Image.Image], Image.Image] | None = None,
        progress: str | None = None,
    ) -> Prediction:
        """Class probabilities for image files; failed files get NaN rows and an error.

        ``image_fn`` (PIL -> PIL) degrades each image first (robustness tiers).
        """
        classes = self.check_fitted()
        proba, errors = self._run(paths, self._proba_batch, len(classes), image_fn, progress)
        return Prediction(proba, errors, list(classes))

    def predict_proba(self, paths: Sequence[str | Path]) -> np.ndarray:
        """P(fake) [N] for image files (NaN where a file could not be decoded)."""
        return self.predict(paths).p_fake

    def predict_images(self, images: Sequence[Image.Image]) -> Prediction:
        """Class probabilities for in-memory RGB images (single-image / server use)."""
        classes = self.check_fitted()
        transform = eval_transform(self.input_config)
        x = torch.stack([transform(img.convert("RGB")) for img in images])
        return Prediction(self._proba_batch(x), [""] * len(images), list(classes))

    def embed(self, paths: Sequence[str | Path], *, progress: str | None = None) -> np.ndarray:
        """Embeddings [N, D] for image files (NaN rows where a file failed)."""
        self.check_fitted()
        out, _ = self._run(paths, self._embed_batch, self.embedding_dim, None, progress)
        return out

    def save(self, directory: str | Path) -> Path:
        """Write this fitted detector as a bundle directory (atomically); returns its path."""
        from fakescope.bundle import save_bundle

        return save_bundle(self, Path(directory))

    @staticmethod
    def load(directory: str | Path, *, device: str | None = None) -> Detector:
        """Load any detector bundle written by :meth:`save` (onto ``device`` if given)."""
        from fakescope.bundle import load_bundle

        return load_bundle(Path(directory), device=device)


#: All detectors, by name (filled by imports in :mod:`fakescope.detectors`).
DETECTORS: Registry[type[Detector]] = Registry("detector")
