"""The CIFAR-10 OOD benchmark (OpenOOD style): one ID classifier, every scorer, several OOD sets.

:func:`run_benchmark`:

1. lists the ID source (a folder or ``.zip`` with ``train/<class>/*`` and
   ``test/<class>/*``, e.g. ``cifar10-jpeg.zip``) and every OOD set (a folder or a
   ``.zip``, or a folder inside a zip: ``outliers.zip/mnist``), and draws seeded
   per-class / per-set subsamples of the preset's sizes;
2. trains the ID classifier - the ``probe`` detector (frozen packaged ImageNet
   EfficientNet-Lite0 + logistic regression, target = the class folder) - or
   loads it from ``DIR/model`` when that bundle exists;
3. extracts :class:`~fakescope.features.Features` once per image set
   (train, ID test, each OOD set; the probe's embedding cache lives in
   ``DIR/embeddings``) and fits every scorer of :data:`~fakescope.ood.catalog.SCORERS`
   that applies (``confidence`` needs a confidence branch; ``odin`` runs on a
   smaller subsample, it needs a backward pass per image);
4. optionally adds a synthetic-outlier set made from ID test images
   (:func:`fakescope.data.outliers.make_outliers`);
5. fits the thesis's learned abnormality module (:data:`TRAINED_SCORERS`) as S1 does:
   ID training images (negatives) against synthetic outliers made from those same
   training images (positives) - never from the ID test images, so it sees neither the
   ID test set nor the images of the ``synthetic`` OOD set (but the same five kinds of
   damage: its ``synthetic`` column is not an unseen-OOD result);
6. returns a :class:`BenchmarkResult`: one row per (scorer, OOD set) with the
   :mod:`~fakescope.ood.metrics`, the ID accuracy, and the scores for plots.

Every error a user can cause is raised before anything is written.
"""

from __future__ import annotations

import tempfile
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from fakescope.data.schema import Sample, make_table
from fakescope.detectors.base import Detector
from fakescope.errors import ConfigError, DataError, FakescopeError
from fakescope.features import Features
from fakescope.forge.source import ImageSource
from fakescope.ood.abnormality import AbnormalityScorer
from fakescope.ood.base import InputScorer
from fakescope.ood.benchmark_sets import (
    ImageSet,
    id_split,
    materialise,
    names_under,
    open_source,
    parse_ood,
    subsample,
    subset,
    synthetic_set,
)
from fakescope.ood.catalog import SCORERS, create_scorer
from fakescope.ood.metrics import ood_metrics

__all__ = ["PRESETS", "BenchmarkResult", "ImageSet", "Preset", "parse_ood", "run_benchmark"]


@dataclass(frozen=True)
class Preset:
    """Subsample sizes (seeded) and the classifier's input size."""

    train_per_class: int
    test_per_class: int
    ood_per_set: int
    odin_per_set: int
    img_size: int


PRESETS: dict[str, Preset] = {
    # <= 20 min on 2 CPU cores (EfficientNet-Lite0 at 128 px)
    "small": Preset(
        train_per_class=200, test_per_class=60, ood_per_set=400, odin_per_set=150, img_size=128
    ),
    # <= 90 min on 2 CPU cores
    "full": Preset(
        train_per_class=1000, test_per_class=300, ood_per_set=2000, odin_per_set=500, img_size=224
    ),
}
#: Scorers skipped unless the detector provides what they need.
OPTIONAL_SCORERS = ("confidence",)
#: Scorers outside :data:`~fakescope.ood.catalog.SCORERS` that train on ID versus synthetic outliers
#: (their generic ``fit(features)`` cannot work); run after the registered ones.
TRAINED_SCORERS = ("abnormality",)
#: Seed stream of the abnormality module's training outliers (the ``synthetic`` set uses 7).
TRAIN_OUTLIER_STREAM = 11
MODEL_DIR = "model"


@dataclass
class BenchmarkResult:
    """Rows (scorer, ood_set, metrics...), ID accuracy, and per-scorer scores for plots."""

    rows: list[dict[str, Any]]
    id_accuracy: float
    meta: dict[str, Any]
    scores: dict[str, dict[str, np.ndarray]]  # scorer -> set name ("id" or OOD) -> scores [N]


# ------------------------------------------------------------------ model
def default_detector_params(preset: Preset, out: Path) -> dict[str, Any]:
    """The benchmark's ID classifier: frozen ImageNet EfficientNet-Lite0 + logistic regression."""
    return {
        "backbone": "efficientnet_lite0",
        "pretrained": True,
        "img_size": preset.img_size,
        "target": "cls",
        "head": "logistic",
        "head_params": {"C": 1.0, "max_iter": 2000},
        "cache_dir": str(out / "embeddings"),
        "batch_size": 64,
    }


def _train_or_load(train: ImageSet, out: Path, params: Mapping[str, Any]) -> Detector:
    from fakescope.detectors.catalog import DETECTORS

    bundle = out / MODEL_DIR
    if (bundle / "meta.json").is_file():
        det = Detector.load(bundle)
        missing = sorted(set(train.classes) - set(det.check_fitted()))
        if missing:
            raise DataError(
                f"{bundle}: the saved classifier lacks classes {missing}; delete it to retrain"
            )
        return det
    table = make_table(
        [
            Sample(p, 1, cls=c, split="train")
            for p, c in zip(train.paths, train.classes, strict=True)
        ]
    )
    det = DETECTORS.get(str(params.get("detector", "probe")))(
        {k: v for k, v in params.items() if k != "detector"}
    ).fit(table)
    det.save(bundle)
    return det


def _keep_columns(f: Features, cols: np.ndarray) -> Features:
    """Features restricted to the class columns ``cols`` (drops the unused "real" column)."""
    proba = f.proba[:, cols]
    with np.errstate(invalid="ignore"):
        proba = proba / proba.sum(axis=1, keepdims=True)
    return Features(
        proba,
        f.logits[:, cols],
        f.embedding,
        f.errors,
        [f.classes[i] for i in cols],
        f.confidence,
        f.extras,
    )


def _check(f: Features, what: str) -> None:
    decoded = np.array([not e for e in f.errors], dtype=bool)
    if not decoded.any():
        first = next((e for e in f.errors if e), "no error recorded")
        raise DataError(f"{what}: no image could be decoded (first: {first}); check the files")
    bad = decoded & ~f.ok
    if bad.any():
        raise FakescopeError(
            f"{what}: the classifier gave non-finite features for {int(bad.sum())} decodable "
            "images; check the model (delete DIR/model to retrain)"
        )


# ------------------------------------------------------------------ main
def run_benchmark(
    id_source: str | Path,
    ood: Mapping[str, str],
    out: str | Path,
    *,
    preset: str = "small",
    synthetic: bool = True,
    seed: int = 0,
    detector_params: Mapping[str, Any] | None = None,
    scorers: Sequence[str] | None = None,
    log: Callable[[str], None] = lambda _msg: None,
) -> BenchmarkResult:
    """Run the benchmark (module docstring); ``out`` holds the model bundle and embedding cache."""
    if preset not in PRESETS:
        raise DataError(f"unknown preset {preset!r}; choose one of: {', '.join(PRESETS)}")
    cfg = PRESETS[preset]
    out = Path(out).expanduser()
    names = list(scorers) if scorers is not None else [*SCORERS.names(), *TRAINED_SCORERS]
    known = [*SCORERS.names(), *TRAINED_SCORERS]
    for n in names:
        if n not in known:
            raise ConfigError(f"unknown OOD scorer {n!r}; choose from: {', '.join(known)}")
    start = time.monotonic()
    rng = np.random.default_rng(seed)
    with tempfile.TemporaryDirectory(prefix="fakescope-ood-") as tmp:
        scratch = Path(tmp)
        with ImageSource(Path(id_source).expanduser()) as src:
            train = id_split(src, "train", cfg.train_per_class, rng, scratch)
            test = id_split(src, "test", cfg.test_per_class, rng, scratch)
        if sorted(set(train.classes)) != sorted(set(test.classes)):
            raise DataError(f"ID source {id_source}: train and test splits have different classes")
        sets: dict[str, ImageSet] = {}
        for name, path in ood.items():
            src, prefix = open_source(path)
            with src:
                chosen = subsample(
                    names_under(src, prefix, f"OOD set {name}"), cfg.ood_per_set, rng
                )
                sets[name] = ImageSet(name, materialise(src, chosen, scratch / "ood" / name))
        if synthetic:
            sets["synthetic"] = synthetic_set(
                test, cfg.ood_per_set, seed, scratch / "ood" / "synthetic"
            )

        params = dict(detector_params or default_detector_params(cfg, out))
        out.mkdir(parents=True, exist_ok=True)
        log(f"ID classifier: {len(train.paths)} training images, {len(set(train.classes))} classes")
        det = _train_or_load(train, out, params)
        classes = det.check_fitted()
        cols = np.array(sorted(classes.index(c) for c in set(train.classes)))
        local = [classes[i] for i in cols]
        y_train = np.array([local.index(c) for c in train.classes])
        y_test = np.array([local.index(c) for c in test.classes])

        def feats(s: ImageSet, what: str, inputs: Sequence[InputScorer] = ()) -> Features:
            f = _keep_columns(det.features(s.paths, progress=what, input_scorers=inputs), cols)
            _check(f, what)
            return f

        f_train = feats(train, "ID train features")
        f_test = feats(test, "ID test features")
        f_ood = {name: feats(s, f"OOD {name} features") for name, s in sets.items()}
        ok = f_test.ok
        acc = float(np.mean(f_test.proba[ok].argmax(axis=1) == y_test[ok]))
        log(f"ID test accuracy {acc:.4f}")

        rows: list[dict[str, Any]] = []
        all_scores: dict[str, dict[str, np.ndarray]] = {}
        for name in names:
            if name in TRAINED_SCORERS:
                continue
            scorer = create_scorer(name)
            if name in OPTIONAL_SCORERS and f_train.confidence is None:
                log(f"skipping {name}: the classifier has no confidence branch")
                continue
            if isinstance(scorer, InputScorer):
                try:
                    sub_id = subset(test, cfg.odin_per_set, rng)
                    fi = feats(sub_id, f"{name}: ID test", [scorer])
                    fo = {
                        k: feats(subset(s, cfg.odin_per_set, rng), f"{name}: OOD {k}", [scorer])
                        for k, s in sets.items()
                    }
                except FakescopeError as exc:
                    log(f"skipping {name}: {exc}")
                    continue
                scorer.fit(fi)
            else:
                scorer.fit(f_train, y_train)
                fi, fo = f_test, f_ood
            s_id = scorer.score(fi)
            all_scores[name] = {"id": s_id}
            for set_name, f in fo.items():
                s_ood = scorer.score(f)
                all_scores[name][set_name] = s_ood
                rows.append(
                    {"scorer": name, "ood_set": set_name, **ood_metrics(s_id, s_ood).as_dict()}
                )
        trained: dict[str, Any] = {}
        if "abnormality" in names:
            outliers = synthetic_set(
                train,
                len(train.paths),
                seed,
                scratch / "train-outliers",
                stream=TRAIN_OUTLIER_STREAM,
                name="train-outliers",
            )
            log(f"abnormality module: {len(train.paths)} ID vs {len(outliers.paths)} outliers")
            f_out = feats(outliers, "abnormality: outlier features")
            abn = AbnormalityScorer(seed=seed).fit_outliers(f_train, f_out)
            trained["abnormality"] = {
                "fit": "ID training images vs synthetic outliers made from them",
                "n_id": len(train.paths),
                "n_outliers": len(outliers.paths),
                "epochs": abn.params["epochs"],
            }
            s_id = abn.score(f_test)
            all_scores["abnormality"] = {"id": s_id}
            for set_name, f in f_ood.items():
                s_ood = abn.score(f)
                all_scores["abnormality"][set_name] = s_ood
                rows.append(
                    {
                        "scorer": "abnormality",
                        "ood_set": set_name,
                        **ood_metrics(s_id, s_ood).as_dict(),
                    }
                )
    meta = {
        "id_source": str(id_source),
        "ood_sets": dict(ood) | ({"synthetic": "made from ID test images"} if synthetic else {}),
        "preset": preset,
        "seed": seed,
        "classifier": {k: v for k, v in params.items() if k != "cache_dir"},
        "classes": local,
        "n_train": len(train.paths),
        "n_test": len(test.paths),
        "seconds": round(time.monotonic() - start, 1),
    }
    if trained:
        meta["trained_scorers"] = trained
    return BenchmarkResult(rows, acc, meta, all_scores)
