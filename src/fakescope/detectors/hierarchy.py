"""``hierarchy``: hierarchical attribution (S2a, "Level Up the Deepfake Detection").

A tree of detectors, each node any registered detector (:class:`NodeSpec`;
default a ResNet-18 ``cnn``) that preprocesses images its own way:

* level 1 - real vs fake (``target="label"``, every training row);
* level 2 - which family (``target="family"``, the training fakes); skipped
  (probability 1) when the fakes come from one family;
* level 3 - per family with >= 2 generators, which generator
  (``target="generator"``, that family's fakes); probability 1 otherwise.

Children are trained on fakes only, but :func:`~fakescope.data.schema.encode_targets`
always puts "real" at class 0, so every child has an empty "real" class (a
probe head gives it 0, a cnn a small mass). Its probabilities are renormalised
over the non-real classes: P(family | fake), P(generator | family).

Scores: ``classes_`` = ["real", *sorted generators]; ``predict`` gives path
probabilities [N, 1 + G]: P(real) = P1(real), P(g) = P1(fake) x P2(fam(g)) x
P3(g | fam(g)); rows sum to 1 and P(fake) = 1 - P(real) is exactly level 1's
P(fake) in [0, 1] (higher = more likely fake), so thresholds, evaluation and
scan work unchanged. ``threshold_`` is level 1's (chosen on every val row).

Routing (the one rule of :class:`~fakescope.detectors.base.Prediction`): a file
is "real" when P(fake) < ``threshold_``, else the greedy route below "fake" -
the most probable family, then the most probable generator in it (the paper's
argmax path). That can differ from the generator with the highest *path*
probability; ``predict(...).predicted_class``, ``scan``'s ``class`` column,
:meth:`HierarchyDetector.route` and ``eval --protocol attribution`` all use the
greedy route, so they agree with each other and with the verdict.

Bundle: one directory; each node is a nested bundle under ``nodes/<node>/``
and ``hierarchy.json`` holds the family map and node names
(``model.safetensors`` is empty). The model-free math (families, path
probabilities, routing) lives in :mod:`fakescope.detectors.hierarchy_tree`.

Nodes are built and loaded by name from :data:`~fakescope.detectors.base.DETECTORS`,
the registry object itself (this module cannot import
:mod:`fakescope.detectors.catalog`, which imports it): whoever builds or loads a
hierarchy by name has imported the catalog, so every built-in detector is there.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, Self

import numpy as np
import pandas as pd
import torch
from PIL import Image
from pydantic import BaseModel, ConfigDict, Field, field_validator

from fakescope.config import validate_params
from fakescope.data.schema import FAMILY, GENERATOR, LABEL, REAL, validate_table
from fakescope.data.transforms import InputConfig
from fakescope.detectors.base import DETECTORS, Detector, DetectorParams, Prediction
from fakescope.detectors.hierarchy_tree import (
    TreeProba,
    adapt_batch,
    group_families,
    level3_names,
    renormalise,
    resolve_families,
)
from fakescope.errors import BundleError, ConfigError, DataError, FakescopeError, NotFittedError

LEVEL1, LEVEL2 = "level1", "level2"
#: Node folder inside a bundle, and the description file beside it.
NODES_DIR, TREE_FILE = "nodes", "hierarchy.json"
_TARGETS = {"level1": "label", "level2": "family", "level3": "generator"}


class NodeSpec(BaseModel):
    """One node of the tree: a registered detector ``name`` and its ``params`` (no ``target``)."""

    model_config = ConfigDict(extra="forbid")

    name: str = "cnn"
    params: dict[str, Any] = Field(default_factory=dict)

    @field_validator("name")
    @classmethod
    def _not_nested(cls, value: str) -> str:
        if value == "hierarchy":
            raise ValueError("a hierarchy node cannot itself be a hierarchy; name another detector")
        return value

    @field_validator("params")
    @classmethod
    def _no_target(cls, value: dict[str, Any]) -> dict[str, Any]:
        if "target" in value:
            raise ValueError("node params must not set target; the hierarchy sets it per level")
        return value


class HierarchyParams(DetectorParams):
    """Settings of the ``hierarchy`` detector.

    ``node``: the default of every node (the paper's ResNet-18 cnn);
    ``level1``/``level2``/``level3``: per-level overrides (None = ``node``);
    ``family_map``: generator -> family (None = the table's ``family`` column).
    ``device``, ``num_workers`` and ``seed`` are passed to nodes that do not set
    them; ``batch_size`` is not (each node keeps its own). ``target`` is always
    "generator".
    """

    target: str = "generator"
    node: NodeSpec = Field(
        default_factory=lambda: NodeSpec(name="cnn", params={"arch": "resnet18"})
    )
    level1: NodeSpec | None = None
    level2: NodeSpec | None = None
    level3: NodeSpec | None = None
    family_map: dict[str, str] | None = None

    @field_validator("target")
    @classmethod
    def _generator_only(cls, value: str) -> str:
        if value != "generator":
            raise ValueError("the hierarchy always attributes generators; drop target")
        return value

    def quiet(self) -> Self:
        """A copy whose nodes train without progress bars (``progress: false`` on every node
        spec whose detector has that setting)."""
        update: dict[str, NodeSpec] = {}
        for level in ("node", *_TARGETS):
            spec: NodeSpec | None = getattr(self, level)
            if spec is None or spec.name not in DETECTORS.names():
                continue  # an unknown name fails with its one-line error when the nodes are made
            if "progress" in DETECTORS.get(spec.name).Params.model_fields:
                quiet = {**spec.params, "progress": False}
                update[level] = spec.model_copy(update={"params": quiet})
        return self.model_copy(update=update)


@DETECTORS.register("hierarchy")
class HierarchyDetector(Detector):
    """Hierarchical attribution: real/fake -> family -> generator (see the module docstring)."""

    name = "hierarchy"
    Params = HierarchyParams
    params: HierarchyParams

    def __init__(self, params: DetectorParams | dict[str, Any] | None = None) -> None:
        super().__init__(params)
        for level, target in _TARGETS.items():
            self._node_params(level, target)  # fail on a bad node spec before any training
        self.nodes_: dict[str, Detector] | None = None
        self.families_: dict[str, list[str]] = {}  # family -> sorted generators
        self.family_map_: dict[str, str] = {}  # generator -> family
        self.level3_: dict[str, str] = {}  # family -> level-3 node name
        self._template: Detector | None = None

    # ------------------------------------------------------------ nodes
    def _node_params(self, level: str, target: str) -> tuple[type[Detector], dict[str, Any]]:
        """The detector class and validated params of a ``level`` node (one-line ConfigError)."""
        spec: NodeSpec = getattr(self.params, level) or self.params.node
        try:
            cls = DETECTORS.get(spec.name)
        except FakescopeError as exc:
            raise ConfigError(f"hierarchy {level} node: {exc}") from None
        p = self.params
        raw = {"device": p.device, "num_workers": p.num_workers, "seed": p.seed}
        raw = {**raw, **spec.params, "target": target}
        validate_params(cls.Params, raw, f"hierarchy {level} node {spec.name!r}")
        return cls, raw

    def _make(self, level: str) -> Detector:
        cls, raw = self._node_params(level, _TARGETS[level])
        return cls(raw)

    def _nodes(self) -> dict[str, Detector]:
        if self.nodes_ is None:
            raise NotFittedError(
                "this hierarchy detector is not fitted; call fit() or load a bundle"
            )
        return self.nodes_

    def _level1(self) -> Detector:
        """The fitted level-1 node, or an unfitted one (for ``input_config`` before fitting)."""
        if self.nodes_ is not None:
            return self.nodes_[LEVEL1]
        if self._template is None:
            self._template = self._make(LEVEL1)
        return self._template

    # ---------------------------------------------------------- families
    def _fakes_of(self, table: pd.DataFrame, generators: Sequence[str]) -> pd.DataFrame:
        """Fakes of ``generators`` with ``family`` set from the fitted map (may be empty)."""
        rows = table[(table[LABEL] == 1) & table[GENERATOR].isin(list(generators))].copy()
        rows[FAMILY] = rows[GENERATOR].map(self.family_map_)
        return rows.reset_index(drop=True)

    # --------------------------------------------------------------- fit
    def fit(
        self,
        train: pd.DataFrame,
        val: pd.DataFrame | None = None,
        *,
        workdir: str | Path | None = None,
    ) -> Self:
        """Fit every node (each on its subset of ``train``, watching the same subset of ``val``).

        ``threshold_`` = level 1's, which its own ``fit`` chose on every val row:
        the tree's P(fake) is level 1's, so re-scoring val through all nodes
        would give the same cut. Node workdirs: ``workdir/level1``,
        ``workdir/level2``, ``workdir/level3-<family>``.
        """
        self._fit(
            train, val if val is not None and len(val) else None, Path(workdir) if workdir else None
        )
        self.threshold_ = self._nodes()[LEVEL1].threshold_
        return self

    def _fit(self, train: pd.DataFrame, val: pd.DataFrame | None, workdir: Path | None) -> None:
        train = validate_table(train)
        val = validate_table(val) if val is not None else None
        if len(train) == 0:
            raise DataError("the training set is empty; check the data root and split")
        for label, what in ((1, "fakes"), (0, "reals")):
            if not (train[LABEL] == label).any():
                raise DataError(f"the training set has no {what}; the hierarchy needs both")
        self.family_map_ = resolve_families(train[train[LABEL] == 1], self.params.family_map)
        self.families_ = group_families(self.family_map_)
        self.level3_ = level3_names(self.families_)

        def sub(key: str) -> Path | None:
            return workdir / key if workdir is not None else None

        def fit_node(level: str, key: str, gens: Sequence[str] | None) -> Detector:
            tr = train if gens is None else self._fakes_of(train, gens)
            va = val if gens is None or val is None else self._fakes_of(val, gens)
            return self._make(level).fit(
                tr, va if va is not None and len(va) else None, workdir=sub(key)
            )

        nodes = {LEVEL1: fit_node(LEVEL1, LEVEL1, None)}
        if len(self.families_) >= 2:
            nodes[LEVEL2] = fit_node(LEVEL2, LEVEL2, list(self.family_map_))
        for fam, key in self.level3_.items():
            nodes[key] = fit_node("level3", key, self.families_[fam])
        self.nodes_ = nodes
        self.classes_ = [REAL, *sorted(self.family_map_)]

    # ----------------------------------------------------------- scoring
    def _tree(self, run: Callable[[str, Detector], Prediction]) -> TreeProba:
        """Run every node (``run(node_name, node)``) and collect renormalised level probabilities."""
        nodes = self._nodes()
        first = run(LEVEL1, nodes[LEVEL1])
        p_real = first.proba[:, first.classes.index(REAL)].copy()
        n, preds = len(p_real), [first]
        families = list(self.families_)
        p_family = np.ones((n, 1))
        if LEVEL2 in nodes:
            preds.append(run(LEVEL2, nodes[LEVEL2]))
            p_family = renormalise(preds[-1], families)
        p_generator: dict[str, np.ndarray] = {}
        for fam, gens in self.families_.items():
            p_generator[fam] = np.ones((n, 1))
            if fam in self.level3_:
                preds.append(run(self.level3_[fam], nodes[self.level3_[fam]]))
                p_generator[fam] = renormalise(preds[-1], gens)
        errors = [
            next((e for e in row if e), "") for row in zip(*(p.errors for p in preds), strict=True)
        ]
        bad = np.isnan(p_real) | np.isnan(p_family).any(axis=1)
        for block in p_generator.values():
            bad |= np.isnan(block).any(axis=1)
        p_real[bad] = np.nan
        return TreeProba(p_real, families, p_family, dict(self.families_), p_generator, errors)

    def tree_proba(
        self,
        paths: Sequence[str | Path],
        *,
        image_fn: Callable[[Image.Image], Image.Image] | None = None,
        progress: str | None = None,
        batch_size: int | None = None,
        num_workers: int | None = None,
    ) -> TreeProba:
        """Per-level probabilities for image files; every node decodes and preprocesses its own way.

        ``batch_size`` / ``num_workers``: for every node, this call only (default: each node's own).
        """
        return self._tree(
            lambda key, node: node.predict(
                paths,
                image_fn=image_fn,
                progress=f"{progress} [{key}]" if progress else None,
                batch_size=batch_size,
                num_workers=num_workers,
            )
        )

    def combine(self, tree: TreeProba) -> Prediction:
        """Path probabilities [N, 1 + G] over ``classes_`` plus the greedy fake route and levels.

        The :class:`~fakescope.detectors.base.Prediction` carries ``threshold_``,
        ``fake_route`` = :meth:`TreeProba.fake_route` (so its ``predicted_class``
        is the greedy route, "real" below the threshold) and ``levels`` =
        :meth:`TreeProba.levels` (level 2 / level 3 for per-level attribution scores).
        """
        classes = self.check_fitted()
        return Prediction(
            tree.path_proba(classes),
            list(tree.errors),
            list(classes),
            threshold=self.threshold_,
            fake_route=tree.fake_route(classes),
            levels=tree.levels(),
        )

    def route(
        self,
        paths: Sequence[str | Path],
        *,
        image_fn: Callable[[Image.Image], Image.Image] | None = None,
        progress: str | None = None,
    ) -> pd.DataFrame:
        """The greedy routing, one row per file: ``path`` + :data:`~fakescope.detectors.hierarchy_tree.ROUTE_COLUMNS`.

        ``is_fake`` is ``p_fake >= threshold_`` (the verdict), ``family``/``generator`` the argmax branch
        below "fake" (also given for files routed to real), ``predicted`` the end
        of the path ("real" or a generator), ``path_proba`` its probability
        (P(real), or P(fake) x p_family x p_generator); see :meth:`TreeProba.route`.
        """
        tree = self.tree_proba(paths, image_fn=image_fn, progress=progress)
        out = tree.route(self.threshold_)
        out.insert(0, "path", [str(p) for p in paths])
        return out

    def predict(
        self,
        paths: Sequence[str | Path],
        *,
        image_fn: Callable[[Image.Image], Image.Image] | None = None,
        progress: str | None = None,
        batch_size: int | None = None,
        num_workers: int | None = None,
    ) -> Prediction:
        """Path probabilities [N, 1 + G]; ``image_fn`` (a degradation) reaches every node."""
        tree = self.tree_proba(
            paths,
            image_fn=image_fn,
            progress=progress,
            batch_size=batch_size,
            num_workers=num_workers,
        )
        return self.combine(tree)

    def predict_images(self, images: Sequence[Image.Image]) -> Prediction:
        """Path probabilities [N, 1 + G] for in-memory images (each node preprocesses its own way)."""
        return self.combine(self._tree(lambda _key, node: node.predict_images(images)))

    def embed(self, paths: Sequence[str | Path], *, progress: str | None = None) -> np.ndarray:
        """Level 1's embeddings [N, D] (NaN rows where a file failed)."""
        return self._nodes()[LEVEL1].embed(paths, progress=progress)

    # ------------------------------------------------------------- hooks
    @property
    def input_config(self) -> InputConfig:
        """Level 1's input config (other nodes keep their own)."""
        return self._level1().input_config

    @property
    def embedding_dim(self) -> int:
        """D of level 1's embedding."""
        return self._level1().embedding_dim

    def _proba_batch(self, x: torch.Tensor) -> np.ndarray:
        """Path probabilities [B, 1 + G] for ``x`` [B, 3, H, W] preprocessed as level 1 wants.

        Nodes with another input config get the batch re-scaled to theirs (an
        approximation, for speed measurements); :meth:`predict` and
        :meth:`predict_images` preprocess every node exactly.
        """
        cfg = self.input_config

        def run(_key: str, node: Detector) -> Prediction:
            proba = node._proba_batch(adapt_batch(x, cfg, node.input_config))
            return Prediction(proba, [""] * len(x), node.check_fitted())

        return self.combine(self._tree(run)).proba

    def _embed_batch(self, x: torch.Tensor) -> np.ndarray:
        """Level 1's embeddings [B, D] for ``x`` [B, 3, H, W] preprocessed as level 1 wants."""
        return self._nodes()[LEVEL1]._embed_batch(x)

    def _tensors(self) -> dict[str, torch.Tensor]:
        return {}  # every weight lives in the nested node bundles

    def _description(self) -> dict[str, Any]:
        return {
            "family_map": self.family_map_,
            "families": self.families_,
            "nodes": {LEVEL1: LEVEL1, LEVEL2: LEVEL2 if LEVEL2 in self._nodes() else None},
            "level3": self.level3_,
        }

    def _save_extra(self, directory: Path) -> None:
        for key, node in self._nodes().items():
            node.save(directory / NODES_DIR / key)
        (directory / TREE_FILE).write_text(json.dumps(self._description(), indent=2))

    def _restore(self, tensors: dict[str, torch.Tensor], directory: Path) -> None:
        try:
            tree = json.loads((directory / TREE_FILE).read_text())
            self.family_map_ = dict(tree["family_map"])
            self.families_ = {str(k): list(v) for k, v in tree["families"].items()}
            self.level3_ = dict(tree["level3"])
            keys = [
                LEVEL1,
                *([LEVEL2] if tree["nodes"].get(LEVEL2) else []),
                *self.level3_.values(),
            ]
        except (OSError, json.JSONDecodeError, KeyError, TypeError, AttributeError) as exc:
            raise BundleError(
                f"{directory / TREE_FILE} is missing or invalid ({type(exc).__name__}); re-save the detector"
            ) from None
        if self.check_fitted()[1:] != sorted(self.family_map_):
            raise BundleError(
                f"{directory}: classes and {TREE_FILE} disagree; re-save the detector"
            )
        device = self.params.device
        self.nodes_ = {k: Detector.load(directory / NODES_DIR / k, device=device) for k in keys}
