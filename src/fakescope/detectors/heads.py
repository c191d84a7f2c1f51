"""scikit-learn heads for frozen embeddings, and their pickle-free serialization.

A *head* maps embeddings X [N, D] to class probabilities [N, C]. Each head is
registered in :data:`HEADS` with a pydantic model of its parameters (unknown
keys are a one-line :class:`~fakescope.errors.ConfigError`) and a builder.
The fitted head is a :class:`sklearn.pipeline.Pipeline` ``scaler -> head``
(the scaler is ``"passthrough"`` when ``standardize=False``).

Heads:

* ``logistic``: the UnivFD linear probe, :class:`LogisticRegression` (lbfgs,
  ``max_iter`` 1000, ``C``).
* ``random_forest``: :class:`RandomForestClassifier` (``n_estimators`` 200, ``n_jobs`` -1).
* ``svm_rbf``: an RBF :class:`SVC` with Platt-scaled probabilities
  (``CalibratedClassifierCV(SVC, method="sigmoid", ensemble=False)``: what
  ``SVC(probability=True)`` does, without that deprecated flag).
* ``knn``: :class:`KNeighborsClassifier`, cosine distance. UnivFD's nearest
  neighbour uses k = 1, whose P(fake) is only ever 0 or 1 (useless for AUROC
  and thresholds), so the default is k = 5 (scores in steps of 0.2); set
  ``n_neighbors: 1`` for the paper's setting. k is capped at the training size.

Serialization uses :mod:`skops.io` (a zip of JSON + arrays, no pickle). Loading
first reads the file's schema and refuses any type outside
:data:`ALLOWED_TYPES` (an explicit allow-list, stricter than skops' defaults),
raising :class:`~fakescope.errors.BundleError`.
"""

from __future__ import annotations

import json
import zipfile
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, ValidationError
from sklearn.base import BaseEstimator
from sklearn.calibration import CalibratedClassifierCV
from sklearn.ensemble import RandomForestClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.neighbors import KNeighborsClassifier
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.svm import SVC

from fakescope.errors import BundleError, ConfigError, DataError
from fakescope.fileio import atomic_path
from fakescope.registry import Registry


class HeadParams(BaseModel):
    """Base of every head's parameters: unknown keys are an error."""

    model_config = ConfigDict(extra="forbid")


#: Builds an unfitted estimator from validated params, the training targets y [N] and a seed.
HeadBuilder = Callable[[Any, np.ndarray, int], BaseEstimator]


@dataclass(frozen=True)
class HeadSpec:
    """A registered head: its parameter model and its builder."""

    params: type[HeadParams]
    build: HeadBuilder


#: All heads, by name.
HEADS: Registry[HeadSpec] = Registry("head")


def register_head(name: str, params: type[HeadParams]) -> Callable[[HeadBuilder], HeadBuilder]:
    """Decorator registering a builder ``(params, y, seed) -> estimator`` as head ``name``."""

    def deco(build: HeadBuilder) -> HeadBuilder:
        HEADS.register(name)(HeadSpec(params, build))
        return build

    return deco


# ------------------------------------------------------------------ heads
class LogisticParams(HeadParams):
    """``logistic``: L2 logistic regression (lbfgs)."""

    C: float = Field(1.0, gt=0)
    max_iter: int = Field(1000, ge=1)
    class_weight: Literal["balanced"] | None = None


@register_head("logistic", LogisticParams)
def _logistic(p: LogisticParams, y: np.ndarray, seed: int) -> BaseEstimator:
    return LogisticRegression(
        C=p.C, max_iter=p.max_iter, class_weight=p.class_weight, solver="lbfgs", random_state=seed
    )


class ForestParams(HeadParams):
    """``random_forest``: a random forest of ``n_estimators`` trees."""

    n_estimators: int = Field(200, ge=1)
    max_depth: int | None = Field(None, ge=1)
    min_samples_leaf: int = Field(1, ge=1)
    class_weight: Literal["balanced", "balanced_subsample"] | None = None
    n_jobs: int | None = -1


@register_head("random_forest", ForestParams)
def _forest(p: ForestParams, y: np.ndarray, seed: int) -> BaseEstimator:
    return RandomForestClassifier(
        n_estimators=p.n_estimators,
        max_depth=p.max_depth,
        min_samples_leaf=p.min_samples_leaf,
        class_weight=p.class_weight,
        n_jobs=p.n_jobs,
        random_state=seed,
    )


class SvmParams(HeadParams):
    """``svm_rbf``: RBF-kernel SVM with Platt scaling fit on ``cv`` folds."""

    C: float = Field(1.0, gt=0)
    gamma: Literal["scale", "auto"] | float = "scale"
    class_weight: Literal["balanced"] | None = None
    cv: int = Field(5, ge=2)


@register_head("svm_rbf", SvmParams)
def _svm(p: SvmParams, y: np.ndarray, seed: int) -> BaseEstimator:
    counts = np.bincount(y)
    smallest = int(counts[counts > 0].min()) if len(y) else 0
    if smallest < 2:
        raise DataError(
            "the svm_rbf head needs at least 2 training images of every class; add images"
        )
    svc = SVC(C=p.C, gamma=p.gamma, class_weight=p.class_weight, random_state=seed)
    return CalibratedClassifierCV(svc, method="sigmoid", cv=min(p.cv, smallest), ensemble=False)


class KnnParams(HeadParams):
    """``knn``: k-nearest neighbours (cosine by default); see the module docstring for k."""

    n_neighbors: int = Field(5, ge=1)
    metric: Literal["cosine", "euclidean", "manhattan"] = "cosine"
    weights: Literal["uniform", "distance"] = "uniform"


@register_head("knn", KnnParams)
def _knn(p: KnnParams, y: np.ndarray, seed: int) -> BaseEstimator:
    return KNeighborsClassifier(
        n_neighbors=max(1, min(p.n_neighbors, len(y))), metric=p.metric, weights=p.weights
    )


# ------------------------------------------------------------------- API
def check_head_params(name: str, params: Mapping[str, Any]) -> HeadParams:
    """Validate ``params`` for head ``name``; raises :class:`ConfigError` (one line)."""
    spec = HEADS.get(name)
    try:
        return spec.params.model_validate(dict(params))
    except ValidationError as exc:
        err = exc.errors()[0]
        key = ".".join(str(k) for k in err["loc"])
        valid = ", ".join(sorted(spec.params.model_fields))
        if err["type"] == "extra_forbidden":
            raise ConfigError(
                f"unknown {name} head parameter {key!r}; valid ones: {valid}"
            ) from None
        raise ConfigError(f"invalid {name} head parameter {key!r}: {err['msg']}") from None


def build_head(
    name: str, params: Mapping[str, Any], y: np.ndarray, *, seed: int = 0, standardize: bool = True
) -> Pipeline:
    """Unfitted pipeline ``scaler -> head`` for targets ``y`` [N] (class indices)."""
    spec = HEADS.get(name)
    est = spec.build(check_head_params(name, params), np.asarray(y), seed)
    scaler: Any = StandardScaler() if standardize else "passthrough"
    return Pipeline([("scaler", scaler), ("head", est)])


def fit_head(
    name: str,
    params: Mapping[str, Any],
    x: np.ndarray,
    y: np.ndarray,
    *,
    seed: int = 0,
    standardize: bool = True,
) -> Pipeline:
    """Fit head ``name`` on embeddings ``x`` [N, D] (finite) and class indices ``y`` [N]."""
    x = np.asarray(x, dtype=np.float32)
    y = np.asarray(y, dtype=np.int64)
    if len(np.unique(y)) < 2:
        raise DataError("a head needs training embeddings of at least two classes; add images")
    return build_head(name, params, y, seed=seed, standardize=standardize).fit(x, y)


def head_proba(head: Pipeline, x: np.ndarray, n_classes: int) -> np.ndarray:
    """Class probabilities [N, n_classes] for embeddings ``x`` [N, D].

    Columns follow class indices 0..n_classes-1 (a class absent from training
    gets probability 0); rows of ``x`` containing NaN (failed files) stay NaN.
    """
    x = np.asarray(x, dtype=np.float32)
    out = np.full((len(x), n_classes), np.nan, dtype=np.float32)
    ok = ~np.isnan(x).any(axis=1)
    if ok.any():
        p = head.predict_proba(x[ok])
        cols = np.asarray(head.classes_, dtype=np.int64)
        block = np.zeros((int(ok.sum()), n_classes), dtype=np.float32)
        block[:, cols] = p
        out[ok] = block
    return out


# --------------------------------------------------------- serialization
#: Every type a head file may contain (module.qualname as skops records it).
ALLOWED_TYPES: frozenset[str] = frozenset(
    {
        "builtins.dict",
        "builtins.list",
        "builtins.tuple",
        "builtins.str",
        "builtins.int",
        "builtins.float",
        "builtins.bool",
        "builtins.NoneType",
        "builtins.slice",
        "numpy.ndarray",
        "numpy.dtype",
        "numpy.float64",
        "numpy.float32",
        "numpy.int64",
        "numpy.int32",
        "numpy.intp",
        "numpy.bool_",
        "numpy.str_",
        "sklearn.pipeline.Pipeline",
        "sklearn.preprocessing._data.StandardScaler",
        "sklearn.linear_model._logistic.LogisticRegression",
        "sklearn.ensemble._forest.RandomForestClassifier",
        "sklearn.tree._classes.DecisionTreeClassifier",
        "sklearn.tree._tree.Tree",
        "sklearn.svm._classes.SVC",
        "sklearn.calibration.CalibratedClassifierCV",
        "sklearn.calibration._CalibratedClassifier",
        "sklearn.calibration._SigmoidCalibration",
        "sklearn.neighbors._classification.KNeighborsClassifier",
        "sklearn.neighbors._kd_tree.KDTree",
        "sklearn.neighbors._ball_tree.BallTree",
        "sklearn.metrics._dist_metrics.EuclideanDistance64",
        "sklearn.metrics._dist_metrics.ManhattanDistance64",
    }
)


def save_head(head: Pipeline, path: Path) -> Path:
    """Write ``head`` to ``path`` with skops (no pickle), atomically (temp file + rename)."""
    import skops.io as sio

    path = Path(path)
    with atomic_path(path) as tmp:
        sio.dump(head, tmp)
    return path


def file_types(path: Path) -> set[str]:
    """All ``module.class`` names recorded in a skops file's schema (nothing is loaded)."""
    try:
        with zipfile.ZipFile(path) as zf:
            schema = json.loads(zf.read("schema.json"))
    except (OSError, zipfile.BadZipFile, KeyError, json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise BundleError(
            f"{path} is not a readable head file ({exc}); re-save the detector"
        ) from None
    found: set[str] = set()
    stack: list[Any] = [schema]
    while stack:
        node = stack.pop()
        if isinstance(node, dict):
            if "__class__" in node or "__module__" in node:
                found.add(f"{node.get('__module__')}.{node.get('__class__')}")
            stack.extend(node.values())
        elif isinstance(node, list):
            stack.extend(node)
    return found


def load_head(path: Path) -> Pipeline:
    """Load a head written by :func:`save_head`, refusing types outside :data:`ALLOWED_TYPES`."""
    import skops.io as sio

    path = Path(path)
    if not path.is_file():
        raise BundleError(f"head file {path} is missing; re-save the detector")
    bad = sorted(file_types(path) - ALLOWED_TYPES)
    if bad:
        raise BundleError(
            f"{path} contains type(s) not on fakescope's allow-list: {', '.join(bad)}; refusing to load it"
        )
    try:
        head = sio.load(path, trusted=sio.get_untrusted_types(file=path))
    except Exception as exc:  # skops raises many types on malformed files
        raise BundleError(
            f"could not load head file {path} ({type(exc).__name__}: {exc}); re-save the detector"
        ) from None
    if not isinstance(head, Pipeline):
        raise BundleError(
            f"{path} holds a {type(head).__name__}, not a head pipeline; re-save the detector"
        )
    return head
