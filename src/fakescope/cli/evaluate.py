"""``fakescope eval``: evaluate a saved bundle, or train-and-evaluate with a protocol."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from fakescope.cli.common import (
    ConfigOpt,
    DeviceOpt,
    ProgressOpt,
    SetOpt,
    build_config,
    cli_errors,
    frame_table,
    out,
)
from fakescope.cli.train import DataOpt, FamilyMapOpt, LayoutOpt, load_table

if TYPE_CHECKING:
    import pandas as pd

    from fakescope.config import ExperimentConfig
    from fakescope.eval.report import Report

#: The protocol a saved bundle is evaluated with (it never retrains).
BUNDLE_PROTOCOL = "all"


def _evaluate_bundle(model: Path, cfg: ExperimentConfig, progress: bool) -> Report:
    """Score the test split of ``cfg.data`` with the bundle at ``model`` (threshold from the bundle)."""
    from fakescope.bundle import load_bundle
    from fakescope.data.schema import SPLIT
    from fakescope.errors import ConfigError, DataError
    from fakescope.eval.protocols import evaluate_detector
    from fakescope.eval.robustness import tiers_from_config

    if cfg.eval.protocol != BUNDLE_PROTOCOL:
        raise ConfigError(
            f"protocol {cfg.eval.protocol!r} trains its own detectors; "
            "pass --detector NAME instead of --model (a bundle is evaluated with --protocol all)"
        )
    tiers_from_config(cfg.eval.robustness)  # reject a bad tier before any work
    detector = load_bundle(model)
    table = load_table(cfg.data, audit=True, progress=progress)
    test = table[table[SPLIT] == "test"]
    if test.empty:
        raise DataError(
            f"{cfg.data.root} has no test split to evaluate; check the layout or data.split"
        )
    report = evaluate_detector(detector, test, robustness=cfg.eval.robustness, progress=progress)
    report.meta = {
        "protocol": BUNDLE_PROTOCOL,
        "bundle": str(model.expanduser().resolve()),
        **report.meta,
    }
    _add_calibration(report, model)
    _add_verdicts(report, model, test, progress)
    return report


def _add_verdicts(report: Report, model: Path, test: pd.DataFrame, progress: bool) -> None:
    """Add the ``verdicts`` section (real / fake / unsure x true label, through the one
    decision path) when the bundle has a calibration or an OOD abstainer."""
    from fakescope.data.schema import LABEL, PATH
    from fakescope.eval.verdict_counts import count_verdicts, verdict_section
    from fakescope.inference.verdict import VerdictModel

    vm = VerdictModel.load(model)
    if vm.calibrator is None and vm.abstainer is None:
        return
    verdicts = vm.decide_paths(test[PATH].tolist(), progress="verdicts" if progress else None)
    report.add_section(verdict_section(count_verdicts(verdicts, test[LABEL].to_numpy())))


def _add_calibration(report: Report, model: Path) -> None:
    """Add the ``calibration`` section (ECE raw vs calibrated, reliability diagram) when the
    bundle has a ``calibration.json``."""
    from fakescope.data.schema import LABEL
    from fakescope.eval.calibration_report import calibration_section
    from fakescope.eval.report import P_FAKE
    from fakescope.inference.calibration import Calibrator

    calibrator = Calibrator.load(model.expanduser())
    if calibrator is None or report.scores is None:
        return
    scores = report.scores
    section, _ = calibration_section(
        scores[LABEL].to_numpy(), scores[P_FAKE].to_numpy(), calibrator
    )
    report.add_section(section)


def _write_diagram(report: Report, directory: Path) -> Path | None:
    """Write the calibration section's reliability diagram (if any) into the report folder."""
    from fakescope.eval.calibration_report import KEY, RELIABILITY_PNG
    from fakescope.fileio import atomic_write_bytes

    plots = getattr(report.section(KEY), "plots", None)
    if not plots:
        return None
    return atomic_write_bytes(Path(directory) / RELIABILITY_PNG, plots[0][1])


def _run_protocol(cfg: ExperimentConfig, progress: bool) -> Report:
    """Train with ``cfg.detector`` as the protocol asks and evaluate (thresholds from val)."""
    from fakescope.eval.catalog import run_experiment

    return run_experiment(
        cfg, lambda: load_table(cfg.data, audit=True, progress=progress), progress=progress
    )


def evaluate(
    config: ConfigOpt = None,
    model: Annotated[
        Path | None,
        typer.Option("--model", "-m", help="A trained bundle to evaluate (no training)."),
    ] = None,
    detector: Annotated[
        str | None,
        typer.Option("--detector", help="Detector to train for the protocol [detector.name]."),
    ] = None,
    data: DataOpt = None,
    layout: LayoutOpt = None,
    family_map: FamilyMapOpt = None,
    protocol: Annotated[
        str | None,
        typer.Option(
            "--protocol",
            "-p",
            help="all | cross-generator | single-source | leave-one-out | leave-one-family-out | "
            "cross-dataset | ... [eval.protocol].",
        ),
    ] = None,
    source: Annotated[
        str | None,
        typer.Option("--source", help="single-source: the training generator [eval.source]."),
    ] = None,
    holdout: Annotated[
        str | None,
        typer.Option(
            "--holdout",
            help="leave-one-out / leave-one-family-out: the group to hold out [eval.holdout].",
        ),
    ] = None,
    group: Annotated[
        str | None,
        typer.Option(
            "--group",
            help="leave-one-out: group by generator | family | another column [eval.group].",
        ),
    ] = None,
    test_data: Annotated[
        Path | None,
        typer.Option("--test-data", help="cross-dataset: the dataset to test on [eval.test_data]."),
    ] = None,
    out_dir: Annotated[
        Path | None, typer.Option("--out", "-o", help="Report folder [out].")
    ] = None,
    jpeg: Annotated[
        list[int] | None, typer.Option("--jpeg", help="JPEG quality tier (repeatable).")
    ] = None,
    blur: Annotated[
        list[float] | None, typer.Option("--blur", help="Gaussian blur sigma tier (repeatable).")
    ] = None,
    downscale: Annotated[
        list[float] | None, typer.Option("--downscale", help="Downscale factor tier (repeatable).")
    ] = None,
    epochs: Annotated[
        int | None,
        typer.Option("--epochs", min=1, help="Training epochs [detector.params.epochs]."),
    ] = None,
    device: DeviceOpt = None,
    workdir: Annotated[
        Path | None, typer.Option("--workdir", help="Checkpoints and caches [workdir].")
    ] = None,
    sets: SetOpt = None,
    progress: ProgressOpt = True,
) -> None:
    """Evaluate: write report.json, report.md and report.html and print the overall table."""
    with cli_errors():
        from fakescope.errors import ConfigError

        if model is not None and (detector is not None or epochs is not None or device is not None):
            raise ConfigError(
                "--detector, --epochs and --device are for training; with --model BUNDLE the bundle is "
                "evaluated as saved - pass one or the other"
            )
        cfg = build_config(
            config,
            {
                "data.root": data,
                "data.layout": layout,
                "data.family_map": family_map,
                "detector.name": detector,
                "eval.protocol": protocol,
                "eval.source": source,
                "eval.holdout": holdout,
                "eval.group": group,
                "eval.test_data": test_data,
                "eval.robustness.jpeg": jpeg or None,
                "eval.robustness.blur": blur or None,
                "eval.robustness.downscale": downscale or None,
                "out": out_dir,
                "detector.params.epochs": epochs,
                "detector.params.device": device,
                "workdir": workdir,
            },
            sets,
        )
        report = (
            _evaluate_bundle(model, cfg, progress)
            if model is not None
            else _run_protocol(cfg, progress)
        )
        files = report.write(cfg.out)
        diagram = _write_diagram(report, Path(cfg.out))
        print_overall(report)
        print_calibration(report)
        print_verdicts(report)
        names = ", ".join([p.name for p in files.values()] + ([diagram.name] if diagram else []))
        out.print(f"wrote report to {cfg.out} ({names})")


def overall_frame(report: Report) -> pd.DataFrame:
    """The all-generator rows of ``report`` (clean + every tier), key metrics only, short headers."""
    import pandas as pd

    from fakescope.eval import metrics as m

    frame = report.to_frame()
    rows = frame[frame[m.GENERATOR] == m.OVERALL]
    tiers = [
        t if t == m.CLEAN else f"{t}={v:g}"
        for t, v in zip(rows[m.TIER], rows[m.VALUE], strict=True)
    ]
    columns: dict[str, object] = {}
    if len(report.sources) > 1:
        columns["train"] = rows[m.TRAIN].to_numpy()
    columns.update(
        {
            "tier": tiers,
            "real": rows[m.N_REAL].to_numpy(),
            "fake": rows[m.N_FAKE].to_numpy(),
            "errors": rows[m.N_ERRORS].to_numpy(),
            "auc": rows[m.AUC].to_numpy(),
            "ap": rows[m.AP].to_numpy(),
            "acc@0.5": rows[m.ACCURACY].to_numpy(),
            "acc@val": rows[m.ACC_AT_VAL].to_numpy(),
        }
    )
    return pd.DataFrame(columns)


def print_calibration(report: Report) -> None:
    """Print the ECE line of the ``calibration`` section, when the report has one."""
    from fakescope.eval.calibration_report import KEY

    section = report.section(KEY)
    if section is None:
        return
    d = section.payload()
    out.print(
        f"calibration ({d['method']}, {d['n_bins']} bins, {d['n_test']} test images): "
        f"ECE raw {d['ece_raw']:.4f} -> calibrated {d['ece_calibrated']:.4f}"
    )


def print_verdicts(report: Report) -> None:
    """Print the ``verdicts`` section's counts line, when the report has one."""
    from fakescope.eval.verdict_counts import KEY

    section = report.section(KEY)
    if section is None:
        return
    d = section.payload()
    c = d["counts"]
    unsure = c["real"]["unsure"] + c["fake"]["unsure"]
    rate = d["unsure_rate"]
    out.print(
        f"verdicts on {d['n']} test images: real {c['real']['real']}/{c['fake']['real']} "
        f"(true real/fake), fake {c['real']['fake']}/{c['fake']['fake']}, unsure {unsure}"
        + ("" if rate is None else f" ({rate:.0%})")
    )


def print_overall(report: Report) -> None:
    """Print :func:`overall_frame` as a table."""
    out.print(frame_table(overall_frame(report), title="overall (all test generators)"))
