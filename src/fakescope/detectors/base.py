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

import functools
import json
from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any, ClassVar, Protocol, Self

import numpy as np
import pandas as pd
import torch
import yaml
from PIL import Image
from pydantic import BaseModel, ConfigDict, field_validator
from safetensors.torch import load_file, save_file

import fakescope
from fakescope.bundle_format import CONFIG, FORMAT, META, WEIGHTS, bundle_target, read_meta
from fakescope.data.loader import run_batches
from fakescope.data.schema import LABEL, PATH, TARGETS
from fakescope.data.transforms import InputConfig, eval_transform
from fakescope.detectors.export import cannot_export
from fakescope.detectors.features import BatchScores, extract_features, features_of_images
from fakescope.detectors.prediction import LevelPrediction, Prediction
from fakescope.detectors.threshold import choose_threshold
from fakescope.errors import DataError, FakescopeError, NotFittedError
from fakescope.features import Features
from fakescope.fileio import atomic_dir
from fakescope.registry import Registry

__all__ = [
    "DETECTORS",
    "EXPLAIN_SUPPORT",
    "BatchScorer",
    "Detector",
    "DetectorParams",
    "LevelPrediction",
    "Prediction",
]


#: Which detectors :meth:`Detector.explain_network` (heatmaps) supports, for error messages.
EXPLAIN_SUPPORT = (
    "heatmaps need a differentiable image -> P(fake) path: a cnn detector with a logit loss "
    "(ce, bce) or a probe detector with the logistic head and no reducer"
)


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

    def quiet(self) -> Self:
        """A copy without training progress bars (``progress=False`` where the detector has
        that setting; detectors without training bars are returned unchanged)."""
        if "progress" not in type(self).model_fields:
            return self
        return self.model_copy(update={"progress": False})


class BatchScorer(Protocol):
    """What :meth:`Detector.features` needs of an OOD scorer that scores image batches
    (:class:`fakescope.ood.base.InputScorer`, e.g. ODIN), by its shape alone."""

    @property
    def extra_key(self) -> str:
        """The ``Features.extras`` key of the scorer's per-image scores."""
        ...

    def batch_scores(self, detector: Detector, x: torch.Tensor) -> np.ndarray:
        """OOD scores [B] (higher = more OOD) for a preprocessed batch ``x`` [B, 3, H, W]."""
        ...


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
        """Hook of :meth:`state_tensors`: everything learnt, as named tensors."""

    @abstractmethod
    def _restore(self, tensors: dict[str, torch.Tensor], directory: Path) -> None:
        """Hook of :meth:`load_state`: rebuild the fitted model (``classes_`` is already set)."""

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
            p = self.predict(val[PATH].tolist()).p_fake
            ok = ~np.isnan(p)
            self.threshold_ = choose_threshold(val[LABEL].to_numpy()[ok], p[ok])
        return self

    def state_tensors(self) -> dict[str, torch.Tensor]:
        """Everything this fitted detector learnt, as named tensors (a bundle's ``model.safetensors``).

        Each tensor keeps the shape of what it holds (e.g. a network's ``state_dict``
        entries: ``"fc.weight"`` [C, D], ``"fc.bias"`` [C]); they are detached, on the CPU
        and contiguous, ready for :func:`safetensors.torch.save_file`. Non-tensor state
        (classes, threshold, heads written by ``_save_extra``) is not included. Raises
        :class:`NotFittedError` before :meth:`fit` or a load.
        """
        self.check_fitted()
        return {k: v.detach().cpu().contiguous() for k, v in self._tensors().items()}

    def load_state(self, tensors: Mapping[str, torch.Tensor], directory: str | Path) -> None:
        """Rebuild the fitted model from :meth:`state_tensors`' output (the inverse of it).

        ``classes_`` (and ``threshold_``) must be set first: they live in the bundle's
        ``meta.json``, not in the tensors; ``directory`` is the bundle folder, read by
        detectors that keep extra files there (a head, nested bundles). Afterwards the
        detector predicts as the one that was saved (P(fake) = 1 - P(real), higher = more
        likely fake). Tensors that do not fit the detector's params raise a one-line error.
        """
        if self.classes_ is None:
            raise NotFittedError(
                f"set classes_ of this {self.name} detector (from the bundle's meta.json) "
                "before load_state"
            )
        self._restore(dict(tensors), Path(directory))

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
        batch_size: int | None = None,
        num_workers: int | None = None,
    ) -> tuple[np.ndarray, list[str]]:
        """Run ``fn`` over decoded batches; ``batch_size`` / ``num_workers`` default to params."""
        cfg = self.input_config
        return run_batches(
            paths,
            eval_transform(cfg),
            (3, cfg.size, cfg.size),
            fn,
            out_dim,
            batch_size=self.params.batch_size if batch_size is None else batch_size,
            num_workers=self.params.num_workers if num_workers is None else num_workers,
            image_fn=image_fn,
            progress=progress,
        )

    def predict(
        self,
        paths: Sequence[str | Path],
        *,
        image_fn: Callable[[Image.Image], Image.Image] | None = None,
        progress: str | None = None,
        batch_size: int | None = None,
        num_workers: int | None = None,
    ) -> Prediction:
        """Class probabilities for image files; failed files get NaN rows and an error.

        ``image_fn`` (PIL -> PIL) degrades each image first (robustness tiers).
        ``batch_size`` / ``num_workers``: for this call only (default: ``params``), so
        concurrent calls with different settings never touch shared state.
        """
        classes = self.check_fitted()
        proba, errors = self._run(
            paths, self._proba_batch, len(classes), image_fn, progress, batch_size, num_workers
        )
        return Prediction(proba, errors, list(classes), threshold=self.threshold_)

    def predict_proba(self, paths: Sequence[str | Path]) -> np.ndarray:
        """P(fake) [N] for image files (NaN where a file could not be decoded)."""
        return self.predict(paths).p_fake

    def predict_images(self, images: Sequence[Image.Image]) -> Prediction:
        """Class probabilities for in-memory RGB images (single-image / server use)."""
        classes = self.check_fitted()
        transform = eval_transform(self.input_config)
        x = torch.stack([transform(img.convert("RGB")) for img in images])
        return Prediction(
            self._proba_batch(x), [""] * len(images), list(classes), threshold=self.threshold_
        )

    def embed(self, paths: Sequence[str | Path], *, progress: str | None = None) -> np.ndarray:
        """Embeddings [N, D] for image files (NaN rows where a file failed)."""
        self.check_fitted()
        out, _ = self._run(paths, self._embed_batch, self.embedding_dim, None, progress)
        return out

    # ------------------------------------------------ features (OOD scoring)
    def _features_batch(self, x: torch.Tensor) -> tuple[np.ndarray, ...]:
        """``(proba [B, C], logits [B, C], embedding [B, D])`` for a batch ``x`` [B, 3, H, W].

        Default: two passes (``_proba_batch`` and ``_embed_batch``) and
        logits = log(proba); detectors override it to do one forward pass. A 4th
        element may be a dict of extra per-image arrays ("confidence" [B]: a
        confidence-branch output, higher = more in-distribution).
        """
        proba = self._proba_batch(x)
        with np.errstate(divide="ignore"):
            logits = np.log(np.clip(proba, 1e-12, None)).astype(np.float32)
        return proba, logits, self._embed_batch(x)

    def differentiable_logits(self, x: torch.Tensor) -> torch.Tensor:
        """Logits [B, C] as a differentiable function of the input ``x`` [B, 3, H, W].

        Optional hook for input-gradient OOD scorers (ODIN); detectors without
        one raise a one-line error.
        """
        raise FakescopeError(
            f"the {self.name} detector has no differentiable image -> logits path; "
            "input-gradient OOD scorers (odin) need one: choose another scorer"
        )

    def export_module(self) -> torch.nn.Module:
        """Optional hook: a torch module x [B, 3, H, W] -> ``(proba, logits, embedding)``.

        Used by ONNX export (:mod:`fakescope.inference.onnx_export`); outputs match
        :meth:`_features_batch`. The cnn (incl. a binary SVM head), probe (logistic head)
        and general detectors override it with the modules of
        :mod:`fakescope.detectors.export`; other detectors raise a one-line error.
        """
        raise cannot_export(self.name, "it has no torch export module")

    def explain_network(self) -> torch.nn.Module:
        """The image network run inside :meth:`differentiable_logits`, for Grad-CAM heatmaps.

        Optional hook (:mod:`fakescope.inference.heatmap` reads the last spatial layer of
        this module); detectors without one raise a one-line error naming those that have it.
        """
        raise FakescopeError(f"the {self.name} detector cannot make heatmaps; {EXPLAIN_SUPPORT}")

    def features(
        self,
        paths: Sequence[str | Path],
        *,
        progress: str | None = None,
        input_scorers: Sequence[BatchScorer] = (),
        batch_size: int | None = None,
        num_workers: int | None = None,
    ) -> Features:
        """Proba, logits and embeddings of image files in one pass (NaN rows for failed files).

        ``input_scorers``: OOD scorers that need the images (ODIN), scored on the same pass.
        ``batch_size`` / ``num_workers``: for this call only (default: ``params``).
        """
        return extract_features(
            self._features_batch,
            paths,
            classes=self.check_fitted(),
            input_config=self.input_config,
            embedding_dim=lambda: self.embedding_dim,
            batch_size=self.params.batch_size if batch_size is None else batch_size,
            num_workers=self.params.num_workers if num_workers is None else num_workers,
            progress=progress,
            batch_scores=self._batch_scores(input_scorers),
        )

    def features_images(
        self, images: Sequence[Image.Image], input_scorers: Sequence[BatchScorer] = ()
    ) -> Features:
        """:meth:`features` for in-memory RGB images."""
        return features_of_images(
            self._features_batch,
            images,
            classes=self.check_fitted(),
            input_config=self.input_config,
            batch_scores=self._batch_scores(input_scorers),
        )

    def _batch_scores(self, input_scorers: Sequence[BatchScorer]) -> dict[str, BatchScores]:
        """Each input scorer's per-batch scores on this detector, by its ``extras`` key."""
        return {s.extra_key: functools.partial(s.batch_scores, self) for s in input_scorers}

    # ------------------------------------------------------------ bundles
    def save(self, directory: str | Path) -> Path:
        """Write this fitted detector as a bundle directory (atomically); returns its path.

        The folder gets the umask's normal modes (``0o777``/``0o666`` less the umask), so
        a bundle shared with a team can be read by it; an older bundle there is replaced.
        With calibration and an OOD abstainer: :class:`fakescope.bundle.Bundle`.
        """
        self.check_fitted()
        target = bundle_target(Path(directory))
        with atomic_dir(target) as tmp:
            self.write_bundle_files(tmp)
        return target

    def write_bundle_files(self, folder: Path, extra_meta: Mapping[str, Any] | None = None) -> None:
        """Write this detector's part of a bundle into the open (temporary) ``folder``:
        ``config.yaml``, ``model.safetensors``, ``meta.json`` (plus ``extra_meta``) and
        the files of :meth:`_save_extra`."""
        classes = self.check_fitted()
        config = {"detector": self.name, "params": self.params.model_dump(mode="json")}
        (folder / CONFIG).write_text(yaml.safe_dump(config, sort_keys=False), encoding="utf-8")
        save_file(self.state_tensors(), str(folder / WEIGHTS))
        meta: dict[str, Any] = {
            "fakescope_version": fakescope.__version__,
            "format": FORMAT,
            "detector": self.name,
            "classes": list(classes),
            "threshold": float(self.threshold_),
            "input": self.input_config.model_dump(mode="json"),
            "embedding_dim": self.embedding_dim,
        }
        meta.update(extra_meta or {})
        (folder / META).write_text(json.dumps(meta, indent=2), encoding="utf-8")
        self._save_extra(folder)

    @staticmethod
    def load(directory: str | Path, *, device: str | None = None) -> Detector:
        """Load any detector bundle written by :meth:`save` (onto ``device`` if given).

        The class comes from :data:`DETECTORS` by the bundle's detector name: import
        :mod:`fakescope.detectors.catalog` (as :mod:`fakescope.bundle` does) so that every
        built-in detector is registered; otherwise an unknown name says so.
        """
        directory = Path(directory)
        meta = read_meta(directory)
        config = yaml.safe_load((directory / CONFIG).read_text()) or {}
        cls = DETECTORS.get(str(config.get("detector", meta.get("detector"))))
        params = dict(config.get("params") or {})
        if device is not None:
            params["device"] = device
        detector = cls(params)
        detector.classes_ = list(meta["classes"])
        detector.threshold_ = float(meta["threshold"])
        detector.load_state(load_file(str(directory / WEIGHTS)), directory)
        return detector


#: All detectors, by name: an empty registry that each detector module fills when imported;
#: :mod:`fakescope.detectors.catalog` imports them all. Detectors that build other detectors
#: by name (the hierarchy) and :meth:`Detector.load` read this same object.
DETECTORS: Registry[type[Detector]] = Registry("detector", catalog="fakescope.detectors.catalog")
