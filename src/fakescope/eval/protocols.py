"""Evaluation protocols: which detectors to train on which rows, and what to test them on.

A protocol takes a sample table with a ``split`` column, a detector factory
(a callable returning a fresh, unfitted :class:`~fakescope.detectors.base.Detector`,
e.g. ``lambda: DETECTORS.get(name)(params)``), and returns a
:class:`~fakescope.eval.report.Report`. Every training calls
``detector.fit(train, val)``, so the detector's ``threshold_`` is chosen on the
validation split, never on test labels; evaluation then scores the test split
clean and under each robustness tier.

Registered protocols (:data:`PROTOCOLS`):

* ``all`` - train once on every training row, test per generator and overall;
* ``cross-generator`` - train one detector per generator (its reals + its
  fakes; all training reals when it has none of its own) and test each on every
  generator: ``Report.matrix()`` is the train x test matrix;
* ``single-source`` and ``leave-one-family-out`` - see
  :mod:`fakescope.eval.generalisation`.

Adding a protocol = one function with the :class:`EvalProtocol` signature,
decorated with ``@PROTOCOLS.register("name")`` (it can reuse
:func:`split_table`, :func:`rows_of_generator` and :func:`train_and_evaluate`).
``options`` carries protocol-specific settings (``eval.source``,
``eval.holdout`` from the config; None values = not given); a protocol
ignores the keys it does not use.
The per-generator grouping rule is documented in :mod:`fakescope.eval.metrics`.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, Protocol

import pandas as pd

import fakescope
from fakescope.config import ExperimentConfig, RobustnessConfig
from fakescope.data.schema import GENERATOR as SAMPLE_GENERATOR
from fakescope.data.schema import LABEL, PATH, SPLIT, validate_table
from fakescope.detectors.base import Detector
from fakescope.errors import DataError
from fakescope.eval.metrics import CLEAN, OVERALL, TIER, TRAIN, VALUE, group_metrics
from fakescope.eval.report import ERROR, P_FAKE, Report
from fakescope.eval.robustness import predict_tiers, tiers_from_config
from fakescope.registry import Registry

DetectorFactory = Callable[[], Detector]

GROUP_RULE = (
    "per-generator rows = that generator's reals + fakes; a generator without reals of its own "
    "is scored against all test reals; files that failed to decode are excluded (n_errors)"
)


class EvalProtocol(Protocol):
    """Signature of every registered protocol."""

    def __call__(
        self,
        table: pd.DataFrame,
        factory: DetectorFactory,
        *,
        workdir: Path | None = None,
        robustness: RobustnessConfig | None = None,
        progress: bool = False,
        options: Mapping[str, Any] | None = None,
    ) -> Report: ...


#: All evaluation protocols, by name (filled by importing :mod:`fakescope.eval.catalog`).
PROTOCOLS: Registry[EvalProtocol] = Registry("protocol", catalog="fakescope.eval.catalog")


def run_protocol(
    name: str,
    table: pd.DataFrame,
    factory: DetectorFactory,
    *,
    workdir: str | Path | None = None,
    robustness: RobustnessConfig | None = None,
    progress: bool = False,
    options: Mapping[str, Any] | None = None,
) -> Report:
    """Run the protocol registered as ``name`` (unknown names raise a one-line FakescopeError).

    ``options``: protocol-specific settings, e.g. ``{"source": "dcgan"}`` for
    ``single-source`` or ``{"holdout": "gan"}`` for ``leave-one-family-out``;
    protocols ignore keys they do not use.
    """
    protocol = PROTOCOLS.get(name)
    report = protocol(
        table,
        factory,
        workdir=Path(workdir) if workdir else None,
        robustness=robustness,
        progress=progress,
        options=dict(options or {}),
    )
    report.meta = {"protocol": name, **report.meta}
    return report


def run_experiment(
    cfg: ExperimentConfig,
    load_table: Callable[[], pd.DataFrame],
    *,
    progress: bool = False,
) -> Report:
    """Train ``cfg.detector`` as ``cfg.eval``'s protocol asks and evaluate it (thresholds from val).

    The protocol name and the detector params are validated before ``load_table``
    runs (indexing a large dataset only to fail on a typo wastes minutes).
    """
    from fakescope.detectors.catalog import DETECTORS

    PROTOCOLS.get(cfg.eval.protocol)  # unknown protocol: a one-line error now
    cls = DETECTORS.get(cfg.detector.name)
    params = cls(cfg.detector.params).params  # validated once, up front
    if not progress:
        params = params.quiet()  # no training bars either

    def factory() -> Detector:
        return cls(params)

    options: dict[str, Any] = dict(cfg.eval.protocol_options())
    options["ood"] = cfg.ood  # the ood protocol's settings (other protocols ignore them)
    if cfg.eval.test_data is not None:
        from fakescope.data.prepare import index_config

        test_cfg = cfg.data.model_copy(update={"root": cfg.eval.test_data, "family_map": None})
        options["test_table"] = index_config(test_cfg, progress=progress)
        options["train_name"] = Path(str(cfg.data.root)).name
    return run_protocol(
        cfg.eval.protocol,
        load_table(),
        factory,
        workdir=cfg.workdir,
        robustness=cfg.eval.robustness,
        progress=progress,
        options=options,
    )


# ----------------------------------------------------------------- helpers
def split_table(table: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """``(train, val, test)`` rows of a sample table; train and test must not be empty."""
    table = validate_table(table)
    parts = tuple(table[table[SPLIT] == s].reset_index(drop=True) for s in ("train", "val", "test"))
    train, val, test = parts
    for name, part in (("train", train), ("test", test)):
        if len(part) == 0:
            raise DataError(
                f"the sample table has no {name!r} rows; give the data a {name} split "
                "(train/val/test folders or data.split fractions)"
            )
    return train, val, test


def fake_generators(table: pd.DataFrame) -> list[str]:
    """Sorted names of the generators that have fakes in ``table`` ("" excluded)."""
    fakes = table.loc[table[LABEL] == 1, SAMPLE_GENERATOR].fillna("").astype(str)
    return sorted(set(fakes) - {""})


def rows_of_generator(table: pd.DataFrame, generator: str) -> pd.DataFrame:
    """Rows tagged ``generator``; when none of them is real, every real of ``table`` is added."""
    own = table[SAMPLE_GENERATOR] == generator
    if not (own & (table[LABEL] == 0)).any():
        own = own | (table[LABEL] == 0)
    return table[own].reset_index(drop=True)


def _slug(name: str) -> str:
    return (
        "all"
        if name == OVERALL
        else (re.sub(r"[^A-Za-z0-9._-]+", "_", name).strip("._") or "unnamed")
    )


def _detector_meta(detector: Detector) -> dict[str, Any]:
    return {
        "detector": detector.name or type(detector).__name__,
        "params": detector.params.model_dump(mode="json"),
        "fakescope_version": fakescope.__version__,
        "generator_rule": GROUP_RULE,
    }


# -------------------------------------------------------------- evaluation
def evaluate_detector(
    detector: Detector,
    table: pd.DataFrame,
    *,
    val_threshold: float | None = None,
    robustness: RobustnessConfig | None = None,
    progress: bool = False,
    source: str = OVERALL,
) -> Report:
    """Evaluate a trained ``detector`` on every row of ``table`` (pass the test rows).

    ``val_threshold``: the P(fake) cut for ``acc_at_val_threshold``; None uses
    ``detector.threshold_`` (chosen on validation data by ``fit`` and saved in
    bundles). ``robustness``: degradation tiers scored after the clean tier.
    ``source``: the train-source name written in the ``train`` column.
    """
    detector.check_fitted()
    table = validate_table(table)
    if len(table) == 0:
        raise DataError(
            "nothing to evaluate: the test table is empty; check the data root and split"
        )
    threshold = float(detector.threshold_ if val_threshold is None else val_threshold)
    paths = table[PATH].tolist()
    frames, scores = [], None
    for tier, pred in predict_tiers(
        detector, paths, tiers_from_config(robustness), progress=progress
    ):
        p = pred.p_fake
        frame = group_metrics(table, p, threshold)
        frame.insert(0, VALUE, tier.value)
        frame.insert(0, TIER, tier.kind)
        frame.insert(0, TRAIN, source)
        frames.append(frame)
        if tier.kind == CLEAN:
            scores = pd.DataFrame(
                {
                    TRAIN: source,
                    PATH: table[PATH].to_numpy(),
                    LABEL: table[LABEL].to_numpy(),
                    SAMPLE_GENERATOR: table[SAMPLE_GENERATOR].to_numpy(),
                    P_FAKE: p,
                    ERROR: pred.errors,
                }
            )
    meta = {**_detector_meta(detector), "threshold": threshold, "n_test": len(table)}
    if robustness is not None:
        meta["robustness"] = robustness.model_dump()
    return Report(pd.concat(frames, ignore_index=True), meta, scores)


def train_and_evaluate(
    factory: DetectorFactory,
    train: pd.DataFrame,
    val: pd.DataFrame,
    test: pd.DataFrame,
    *,
    source: str,
    workdir: Path | None = None,
    robustness: RobustnessConfig | None = None,
    progress: bool = False,
) -> Report:
    """Fit a fresh detector on ``train`` (threshold chosen on ``val``) and evaluate it on ``test``.

    ``meta["threshold_from"]`` is "val" when ``val`` had both labels (the
    detector chose ``threshold_`` on it), else "default" (0.5).
    """
    detector = factory()
    run_dir = workdir / _slug(source) if workdir is not None else None
    detector.fit(train, val if len(val) else None, workdir=run_dir)
    report = evaluate_detector(
        detector, test, robustness=robustness, progress=progress, source=source
    )
    from_val = len(val) > 0 and val[LABEL].nunique() == 2
    report.meta["threshold_from"] = "val" if from_val else "default"
    report.meta["n_train"] = len(train)
    return report


def merge_meta(reports: list[Report], sources: list[str]) -> dict[str, Any]:
    """Shared meta of the first report plus per-source threshold and origin."""
    meta = {k: v for k, v in reports[0].meta.items() if k not in ("threshold", "threshold_from")}
    meta["thresholds"] = {
        s: {"value": r.meta.get("threshold"), "chosen_on": r.meta.get("threshold_from")}
        for s, r in zip(sources, reports, strict=True)
    }
    return meta


# --------------------------------------------------------------- protocols
@PROTOCOLS.register("all")
def protocol_all(
    table: pd.DataFrame,
    factory: DetectorFactory,
    *,
    workdir: Path | None = None,
    robustness: RobustnessConfig | None = None,
    progress: bool = False,
    options: Mapping[str, Any] | None = None,
) -> Report:
    """Train once on every training row (threshold on every val row); test per generator."""
    tiers_from_config(robustness)  # fail on a bad tier before training
    train, val, test = split_table(table)
    report = train_and_evaluate(
        factory,
        train,
        val,
        test,
        source=OVERALL,
        workdir=workdir,
        robustness=robustness,
        progress=progress,
    )
    report.meta = merge_meta([report], [OVERALL])
    return report


@PROTOCOLS.register("cross-generator")
def protocol_cross_generator(
    table: pd.DataFrame,
    factory: DetectorFactory,
    *,
    workdir: Path | None = None,
    robustness: RobustnessConfig | None = None,
    progress: bool = False,
    options: Mapping[str, Any] | None = None,
) -> Report:
    """Train on each generator (its reals + fakes), test on every generator: a G x G matrix.

    Training/validation rows of generator ``g`` follow :func:`rows_of_generator`.
    """
    tiers_from_config(robustness)
    train, val, test = split_table(table)
    sources = fake_generators(train)
    if not sources:
        raise DataError(
            "cross-generator needs fakes tagged with their generator in the train split; "
            "use a generator-folder layout or a manifest with a generator column"
        )
    reports = []
    for source in sources:
        tr = rows_of_generator(train, source)
        va = (
            rows_of_generator(val, source) if source in set(val[SAMPLE_GENERATOR]) else val.iloc[:0]
        )
        reports.append(
            train_and_evaluate(
                factory,
                tr,
                va,
                test,
                source=source,
                workdir=workdir,
                robustness=robustness,
                progress=progress,
            )
        )
    return Report.concat(reports, meta=merge_meta(reports, sources))
