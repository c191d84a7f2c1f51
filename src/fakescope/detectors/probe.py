"""The ``probe`` detector: a frozen pretrained backbone + a scikit-learn head (UnivFD).

The backbone is never trained: every image is embedded once (embeddings
[N, D] cached on disk by file content, see :mod:`.embed_cache`) and a light
head from :data:`~fakescope.detectors.heads.HEADS` (logistic regression by
default: the UnivFD linear probe) is fit on the embeddings of the decodable
training images, optionally after a StandardScaler.

Reducer (S2b, the UnivFD replication): with ``reduce_dim`` set, an
:class:`~fakescope.models.autoencoder.EmbeddingAutoencoder` D -> ``reduce_dim``
is trained on the *training* embeddings only and the head is fit on its codes
[N, reduce_dim]; ``predict`` encodes before the head. The cache still holds
backbone embeddings (the reducer is applied after it) and ``embed`` still
returns them.

Scores: ``predict`` gives class probabilities [N, C] (class 0 = real), so
P(fake) = 1 - P(real), higher = more likely fake. ``embed`` gives the frozen
backbone's features [N, D] with D = ``backbone.feature_dim``.

Caching: clean inputs (``predict``/``embed``/``fit`` without ``image_fn``)
go through the cache; degraded inputs (``image_fn``, robustness tiers) never
do. The cache namespace hashes the backbone's ``cache_key`` (its name and a
digest of its actual weights: a reloaded bundle shares the cache of the run
that trained it, two random inits never do), the input config (``img_size``
included) and D.

Bundle: ``model.safetensors`` holds the backbone's state dict (``backbone.*``),
so the bundle is self-contained (no download, no weights file needed to load),
plus the reducer's state dict (``reducer.*``, with its standardisation buffers);
``head.skops`` holds the fitted scaler + head (skops, allow-listed types only).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

import numpy as np
import pandas as pd
import torch
from PIL import Image
from pydantic import Field, ValidationInfo, field_validator
from sklearn.pipeline import Pipeline

from fakescope.data.schema import PATH, encode_targets
from fakescope.data.transforms import InputConfig, eval_transform
from fakescope.detectors.base import DETECTORS, BatchScorer, Detector, DetectorParams, Prediction
from fakescope.detectors.embed_cache import (
    AUTO,
    EmbeddingCache,
    embed_files,
    resolve_cache_dir,
)
from fakescope.detectors.export import detached, probe_module
from fakescope.detectors.heads import (
    HEADS,
    check_head_params,
    fit_head,
    head_proba,
    load_head,
    save_head,
)
from fakescope.errors import BundleError, ConfigError, DataError, NotFittedError
from fakescope.features import Features
from fakescope.models.autoencoder import EmbeddingAutoencoder, fit_autoencoder

if TYPE_CHECKING:
    from fakescope.models.backbone import Backbone

#: File name of the fitted head inside a bundle.
HEAD_FILE = "head.skops"
_PREFIX = "backbone."
_REDUCER = "reducer."


class ProbeParams(DetectorParams):
    """Settings of the ``probe`` detector (unknown keys are an error).

    ``backbone``: a name of :func:`fakescope.models.list_backbones`;
    ``weights``/``pretrained``/``allow_pickle``: passed to ``create_backbone``
    (used to build the backbone for training; a loaded bundle carries its weights);
    ``img_size``: input size in px (None = the backbone's own);
    ``head``/``head_params``: a head of ``HEADS`` and its parameters;
    ``cache_dir``: embedding cache folder, "auto" = ``$FAKESCOPE_CACHE/embeddings``
    or ``~/.cache/fakescope/embeddings``, None = no caching;
    ``standardize``: a StandardScaler before the head;
    ``reduce_dim``: train an autoencoder D -> ``reduce_dim`` on the training
    embeddings and fit the head on its codes (S2b: 64 or 32; None = no reducer;
    must be smaller than D); ``reduce_hidden``/``reduce_epochs``: its hidden
    width and training epochs; ``progress``: a bar while the training images are embedded.
    """

    backbone: str = "efficientnet_lite0"
    weights: str | None = None
    pretrained: bool = True
    allow_pickle: bool = False
    img_size: int | None = Field(None, ge=8)
    head: str = "logistic"
    head_params: dict[str, Any] = Field(default_factory=dict)
    cache_dir: str | None = AUTO
    standardize: bool = True
    reduce_dim: int | None = Field(None, ge=1)
    reduce_hidden: int = Field(256, ge=1)
    reduce_epochs: int = Field(100, ge=1)
    progress: bool = True

    @field_validator("head")
    @classmethod
    def _known_head(cls, value: str) -> str:
        if value not in HEADS:
            raise ValueError(f"unknown head {value!r}; choose one of: {', '.join(HEADS.names())}")
        return value

    @field_validator("head_params")
    @classmethod
    def _valid_head_params(cls, value: dict[str, Any], info: ValidationInfo) -> dict[str, Any]:
        head = info.data.get("head")
        if head is not None:
            check_head_params(head, value)  # raises a one-line ConfigError
        return value


@DETECTORS.register("probe")
class ProbeDetector(Detector):
    """Frozen backbone embeddings + scikit-learn head (see the module docstring)."""

    name = "probe"
    Params = ProbeParams

    def __init__(self, params: DetectorParams | dict[str, Any] | None = None) -> None:
        super().__init__(params)
        self._backbone: Backbone | None = None
        self._head: Pipeline | None = None
        self._reducer: EmbeddingAutoencoder | None = None
        self._cache: EmbeddingCache | None = None

    # ----------------------------------------------------------- internals
    @property
    def _p(self) -> ProbeParams:
        """The validated params, typed."""
        return cast(ProbeParams, self.params)

    @property
    def device(self) -> torch.device:
        """Where the backbone runs (``params.device``; CPU by default)."""
        return torch.device(self._p.device)

    @property
    def backbone(self) -> Backbone:
        """The frozen backbone (built from the params on first use)."""
        if self._backbone is None:
            self._set_backbone(pretrained=self._p.pretrained, weights=self._p.weights)
        assert self._backbone is not None
        return self._backbone

    def _set_backbone(self, *, pretrained: bool, weights: str | None) -> Backbone:
        from fakescope.models.catalog import create_backbone

        with torch.random.fork_rng(devices=[]):  # a random init is reproducible from params.seed
            torch.manual_seed(self._p.seed)
            bb = create_backbone(
                self._p.backbone,
                weights=weights,
                pretrained=pretrained,
                allow_pickle=self._p.allow_pickle,
            )
        bb.eval().requires_grad_(False).to(self.device)
        self._backbone = bb
        self._cache = None
        return bb

    def _head_or_raise(self) -> Pipeline:
        if self._head is None:
            raise NotFittedError("this probe detector is not fitted; call fit() or load a bundle")
        return self._head

    @property
    def reducer(self) -> EmbeddingAutoencoder | None:
        """The fitted autoencoder D -> ``reduce_dim`` (None without ``reduce_dim`` or before fit)."""
        return self._reducer

    def _head_input(self, x: np.ndarray) -> np.ndarray:
        """What the head sees: embeddings [N, D], or their codes [N, reduce_dim] (NaN rows stay NaN)."""
        if self._p.reduce_dim is None:
            return x
        if self._reducer is None:
            raise NotFittedError("this probe detector is not fitted; call fit() or load a bundle")
        return self._reducer.encode_array(x)

    def _proba(self, x: np.ndarray) -> np.ndarray:
        """Class probabilities [N, C] for backbone embeddings ``x`` [N, D] (NaN rows stay NaN)."""
        classes = self.check_fitted()
        return head_proba(self._head_or_raise(), self._head_input(x), len(classes))

    def embedding_cache(self, degradation: str | None = None) -> EmbeddingCache | None:
        """The embedding cache for this backbone + input config (None when ``cache_dir`` is None).

        ``degradation``: a degradation's ``cache_tag`` (e.g. ``jpeg=50``) for the
        cache of degraded images; None = clean images.
        """
        directory = resolve_cache_dir(self._p.cache_dir)
        if directory is None:
            return None
        if degradation is None and self._cache is not None and self._cache.directory == directory:
            return self._cache
        description: dict[str, object] = {
            "backbone": self.backbone.cache_key,
            "input": self.input_config.model_dump(mode="json"),
        }
        if degradation is not None:
            description["degradation"] = degradation
        cache = EmbeddingCache(directory, description, self.embedding_dim)
        if degradation is None:
            self._cache = cache
        return cache

    def _embed_files(
        self,
        paths: Sequence[str | Path],
        progress: str | None,
        image_fn: Callable[[Image.Image], Image.Image] | None = None,
        batch_size: int | None = None,
        num_workers: int | None = None,
    ) -> tuple[np.ndarray, list[str]]:
        """Embeddings via the cache; a degradation is cached only when it has a ``cache_tag``.

        ``batch_size`` / ``num_workers``: for this call only (default: params).
        """
        cfg = self.input_config
        tag = getattr(image_fn, "cache_tag", None)
        return embed_files(
            paths,
            self._embed_batch,
            self.embedding_dim,
            eval_transform(cfg),
            (3, cfg.size, cfg.size),
            cache=self.embedding_cache(tag) if image_fn is None or tag else None,
            batch_size=self._p.batch_size if batch_size is None else batch_size,
            num_workers=self._p.num_workers if num_workers is None else num_workers,
            image_fn=image_fn,
            progress=progress,
        )

    # --------------------------------------------------------------- hooks
    @property
    def input_config(self) -> InputConfig:
        """The backbone's input config, with ``size`` = ``img_size`` when given."""
        cfg = self.backbone.input_config
        if self._p.img_size is not None and self._p.img_size != cfg.size:
            cfg = cfg.model_copy(update={"size": self._p.img_size})
        return cfg

    @property
    def embedding_dim(self) -> int:
        """D = the backbone's ``feature_dim``."""
        return int(self.backbone.feature_dim)

    def _fit(self, train: pd.DataFrame, val: pd.DataFrame | None, workdir: Path | None) -> None:
        y, classes = encode_targets(train, self._p.target)
        reduce_dim = self._p.reduce_dim
        if reduce_dim is not None and reduce_dim >= self.embedding_dim:
            raise ConfigError(
                f"reduce_dim {reduce_dim} must be smaller than the backbone's embedding size "
                f"{self.embedding_dim}; lower reduce_dim or set it to null"
            )
        bar = "probe: embedding training images" if self._p.progress else None
        x, errors = self._embed_files(train[PATH].tolist(), progress=bar)
        ok = ~np.isnan(x).any(axis=1)
        if not ok.any():
            first = next((e for e in errors if e), "no error recorded")
            raise DataError(
                f"none of the {len(x)} training images could be embedded (first: {first}); check the files"
            )
        if len(np.unique(y[ok])) < 2:
            raise DataError(
                "the decodable training images all belong to one class; add images of the others"
            )
        features = x[ok]
        self._reducer = None
        if reduce_dim is not None:
            self._reducer = fit_autoencoder(
                features,
                reduce_dim,
                hidden=self._p.reduce_hidden,
                epochs=self._p.reduce_epochs,
                seed=self._p.seed,
                device=self.device,
            )
            features = self._reducer.encode_array(features)
        self._head = fit_head(
            self._p.head,
            self._p.head_params,
            features,
            y[ok],
            seed=self._p.seed,
            standardize=self._p.standardize,
        )
        self.classes_ = classes

    def _embed_batch(self, x: torch.Tensor) -> np.ndarray:
        """Frozen features [B, D] float32 for a preprocessed batch ``x`` [B, 3, H, W]."""
        with torch.inference_mode():
            feats = self.backbone.forward_features(x.to(self.device))
        return feats.float().cpu().numpy().reshape(len(x), -1)

    def _proba_batch(self, x: torch.Tensor) -> np.ndarray:
        """Class probabilities [B, C] in ``classes_`` order for a batch ``x`` [B, 3, H, W]."""
        return self._proba(self._embed_batch(x))

    def _head_outputs(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """``(proba [N, C], logits [N, C])`` of backbone embeddings ``x`` [N, D]; logits =
        the head's ``decision_function`` when it has one, else log(proba)."""
        from fakescope.detectors.features import sklearn_head_logits

        n_classes = len(self.check_fitted())
        inputs = self._head_input(x)
        proba = head_proba(self._head_or_raise(), inputs, n_classes)
        return proba, sklearn_head_logits(self._head_or_raise(), inputs, n_classes, proba)

    def _features_batch(self, x: torch.Tensor) -> tuple[np.ndarray, ...]:
        """One backbone pass: ``(proba [B, C], logits [B, C], embedding [B, D])``."""
        emb = self._embed_batch(x)
        proba, logits = self._head_outputs(emb)
        return proba, logits, emb

    def features(
        self,
        paths: Sequence[str | Path],
        *,
        progress: str | None = None,
        input_scorers: Sequence[BatchScorer] = (),
        batch_size: int | None = None,
        num_workers: int | None = None,
    ) -> Features:
        """:meth:`Detector.features` via the embedding cache (when no input scorer needs images)."""
        if input_scorers:
            return super().features(
                paths,
                progress=progress,
                input_scorers=input_scorers,
                batch_size=batch_size,
                num_workers=num_workers,
            )
        classes = self.check_fitted()
        emb, errors = self._embed_files(paths, progress, None, batch_size, num_workers)
        proba, logits = self._head_outputs(emb)
        return Features(proba, logits, emb, errors, list(classes))

    def differentiable_logits(self, x: torch.Tensor) -> torch.Tensor:
        """Logits [B, C] of ``x`` [B, 3, H, W] with autograd, for a linear head (logistic
        regression / linear SVM, after an optional StandardScaler) without a reducer (ODIN)."""
        head = self._head_or_raise()
        steps = [step for _, step in head.steps if step not in (None, "passthrough")]
        final = steps[-1]
        linear = hasattr(final, "coef_") and hasattr(final, "intercept_")
        scalers_ok = all(type(st).__name__ == "StandardScaler" for st in steps[:-1])
        if self._p.reduce_dim is not None or not linear or not scalers_ok:
            return super().differentiable_logits(x)
        z = self.backbone.forward_features(x.to(self.device)).float().flatten(1)
        for st in steps[:-1]:
            mean = torch.as_tensor(getattr(st, "mean_", None) if st.with_mean else 0.0)
            scale = torch.as_tensor(getattr(st, "scale_", None) if st.with_std else 1.0)
            z = (z - mean.float().to(z.device)) / scale.float().to(z.device)
        coef = torch.as_tensor(np.asarray(final.coef_), dtype=torch.float32, device=z.device)
        bias = torch.as_tensor(np.asarray(final.intercept_), dtype=torch.float32, device=z.device)
        d = z @ coef.T + bias  # [B, 1] binary or [B, K]
        cols = np.asarray(final.classes_, dtype=np.int64)
        n_classes = len(self.check_fitted())
        out = torch.full((len(z), n_classes), -1e4, dtype=torch.float32, device=z.device)
        if d.shape[1] == 1:
            out[:, int(cols[0])] = 0.0
            out[:, int(cols[1])] = d[:, 0]
        else:
            out[:, torch.as_tensor(cols)] = d
        return out

    def export_module(self) -> torch.nn.Module:
        """The ONNX export module (eval mode, a CPU copy): the frozen backbone and a logistic
        head as a matrix product, no reducer; see :mod:`fakescope.detectors.export`."""
        classes = self.check_fitted()
        head = self._head_or_raise()
        return detached(
            probe_module(self.name, head, self.reducer is not None, len(classes), self.backbone)
        )

    def explain_network(self) -> torch.nn.Module:
        """The frozen backbone's network (heatmaps read its last spatial layer); only for a
        linear head without a reducer, the cases :meth:`differentiable_logits` covers."""
        final = self._head_or_raise().steps[-1][1]
        if self._p.reduce_dim is not None or not hasattr(final, "coef_"):
            return super().explain_network()
        return self.backbone.model

    def _tensors(self) -> dict[str, torch.Tensor]:
        # clone: safetensors refuses tensors sharing storage (tied weights)
        out = {_PREFIX + k: v.detach().cpu().clone() for k, v in self.backbone.state_dict().items()}
        if self._p.reduce_dim is not None:
            if self._reducer is None:
                raise NotFittedError("this probe detector is not fitted; call fit() first")
            out.update(
                {
                    _REDUCER + k: v.detach().cpu().clone()
                    for k, v in self._reducer.state_dict().items()
                }
            )
        return out

    def _save_extra(self, directory: Path) -> None:
        save_head(self._head_or_raise(), directory / HEAD_FILE)

    def _restore(self, tensors: dict[str, torch.Tensor], directory: Path) -> None:
        # Build the architecture only (no download, no weights file), then load the saved weights.
        bb = self._set_backbone(pretrained=False, weights=None)
        state = {k[len(_PREFIX) :]: v for k, v in tensors.items() if k.startswith(_PREFIX)}
        try:
            bb.load_state_dict(state, strict=True)
        except RuntimeError as exc:
            first = str(exc).splitlines()[0]
            raise BundleError(
                f"{directory}: saved backbone weights do not fit {self._p.backbone!r} ({first}); re-save the detector"
            ) from None
        bb.to(self.device)
        self._reducer = self._restore_reducer(tensors, directory)
        self._head = load_head(directory / HEAD_FILE)

    def _restore_reducer(
        self, tensors: dict[str, torch.Tensor], directory: Path
    ) -> EmbeddingAutoencoder | None:
        """The saved autoencoder (``reducer.*`` tensors), checked against the params and D."""
        state = {k[len(_REDUCER) :]: v for k, v in tensors.items() if k.startswith(_REDUCER)}
        if self._p.reduce_dim is None:
            if state:
                raise BundleError(
                    f"{directory}: the bundle holds reducer weights but reduce_dim is null; re-save the detector"
                )
            return None
        if not state:
            raise BundleError(
                f"{directory}: reduce_dim is {self._p.reduce_dim} but the bundle has no reducer weights; "
                "re-save the detector"
            )
        reducer = EmbeddingAutoencoder.from_state_dict(state)
        expected = (self.embedding_dim, self._p.reduce_dim, self._p.reduce_hidden)
        found = (reducer.in_dim, reducer.code_dim, reducer.hidden)
        if found != expected:
            raise BundleError(
                f"{directory}: saved reducer is {found[0]}->{found[1]} (hidden {found[2]}) but the "
                f"params say {expected[0]}->{expected[1]} (hidden {expected[2]}); re-save the detector"
            )
        return reducer

    # ---------------------------------------------------- cached public API
    def predict(
        self,
        paths: Sequence[str | Path],
        *,
        image_fn: Callable[[Image.Image], Image.Image] | None = None,
        progress: str | None = None,
        batch_size: int | None = None,
        num_workers: int | None = None,
    ) -> Prediction:
        """Class probabilities [N, C] for image files (NaN rows + errors for failed files).

        Embeddings come from (and go to) the cache; a degradation ``image_fn``
        is cached under its ``cache_tag`` when it has one (robustness tiers do),
        otherwise every image is decoded, degraded and embedded afresh.
        """
        classes = self.check_fitted()
        x, errors = self._embed_files(paths, progress, image_fn, batch_size, num_workers)
        return Prediction(self._proba(x), errors, list(classes), threshold=self.threshold_)

    def embed(self, paths: Sequence[str | Path], *, progress: str | None = None) -> np.ndarray:
        """Frozen embeddings [N, D] for image files via the cache (NaN rows where a file failed)."""
        self.check_fitted()
        out, _ = self._embed_files(paths, progress)
        return out
