"""``fakescope bundle``: ``info`` (a saved detector's metadata, without loading its weights),
``card`` (its Markdown model card) and ``seal`` (checksums for shipping it as the default model)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.text import Text

from fakescope.cli.common import cli_errors, kv_table, out

app = typer.Typer(
    help="Inspect saved detector bundles, write their model cards, seal one to ship as the default.",
    no_args_is_help=True,
)


def meta_rows(meta: dict[str, Any], params: dict[str, Any]) -> list[tuple[str, str]]:
    """(name, value) rows describing a bundle's ``meta.json`` and detector params."""
    known = {
        "data_use",
        "detector",
        "classes",
        "threshold",
        "fakescope_version",
        "format",
        "input",
        "embedding_dim",
    }
    threshold = meta.get("threshold")
    rows = [
        ("detector", str(meta.get("detector", "?"))),
        ("classes", ", ".join(map(str, meta.get("classes", [])))),
        ("threshold", f"{threshold:.6g}" if isinstance(threshold, int | float) else str(threshold)),
        ("fakescope version", str(meta.get("fakescope_version", "?"))),
        ("bundle format", str(meta.get("format", "?"))),
        ("input", json.dumps(meta.get("input", {}))),
        ("embedding dim", str(meta.get("embedding_dim", "?"))),
    ]
    rows.extend(data_use_rows(meta))
    rows.extend((k, json.dumps(v)) for k, v in meta.items() if k not in known)
    rows.extend((f"params.{k}", json.dumps(v)) for k, v in params.items())
    return rows


def data_use_rows(meta: dict[str, Any]) -> list[tuple[str, str]]:
    """``("data: <step>", "<data set> (<n> images)")`` per fitted part, from ``meta["data_use"]``;
    one row saying it is unknown for bundles made before it was recorded."""
    uses = meta.get("data_use")
    if not isinstance(uses, list) or not uses:
        return [("data", "not recorded (bundle not made by 'fakescope train' of this version)")]
    rows = []
    for use in uses:
        if isinstance(use, dict):
            step, data, n = use.get("step", "?"), use.get("data", "?"), use.get("rows", "?")
            rows.append((f"data: {step}", f"{data} ({n} images)"))
    return rows


@app.command("info")
def info(
    bundle: Annotated[Path, typer.Argument(help="Bundle folder written by 'fakescope train'.")],
) -> None:
    """Print a bundle's detector, classes, threshold, version, input config and which data set what."""
    with cli_errors():
        import yaml

        from fakescope.bundle import CONFIG, read_meta
        from fakescope.errors import BundleError

        meta = read_meta(bundle)
        try:
            config = yaml.safe_load((bundle / CONFIG).read_text()) or {}
        except yaml.YAMLError:
            raise BundleError(
                f"{bundle / CONFIG} is not valid YAML; re-save the detector"
            ) from None
        params = (config.get("params") or {}) if isinstance(config, dict) else {}
        out.print(kv_table(meta_rows(meta, params), title=str(bundle)))


@app.command("card")
def card(
    bundle: Annotated[Path, typer.Argument(help="Bundle folder written by 'fakescope train'.")],
    out_file: Annotated[
        Path, typer.Option("--out", "-o", help="Markdown file to write (atomically).")
    ] = Path("model-card.md"),
    evals: Annotated[
        list[str] | None,
        typer.Option(
            "--eval",
            help="A test set's report.json from 'fakescope eval' (or its folder), optionally "
            "named: NAME=PATH. Repeatable; scores.csv beside it adds bootstrap intervals.",
        ),
    ] = None,
) -> None:
    """Write a model card: detector, backbone, training data and licences, calibration,
    abstainer, metrics per test set (with intervals when scores were kept), known limits."""
    with cli_errors():
        from fakescope.eval.model_card import parse_eval, write_card

        items = [parse_eval(text) for text in evals or []]
        written = write_card(bundle, out_file, items)
        out.print(Text(f"wrote model card to {written} ({len(items)} test set(s))"))


@app.command("seal")
def seal(
    bundle: Annotated[Path, typer.Argument(help="Bundle folder to ship as a default model.")],
    release: Annotated[
        Path | None,
        typer.Option(
            "--release",
            help="YAML with release facts merged into meta.json: release (name, version, "
            "date), training_data (summary, sources with real/fake/licence, families, "
            "absent_families), train_command.",
            dir_okay=False,
        ),
    ] = None,
) -> None:
    """Prepare BUNDLE to ship as fakescope's default model: merge --release facts into its
    meta.json, then write SHA256SUMS (checked before every use of the default model)."""
    with cli_errors():
        import yaml

        from fakescope.errors import ConfigError
        from fakescope.inference.default_model import seal as seal_bundle

        facts = None
        if release is not None:
            try:
                facts = yaml.safe_load(release.expanduser().read_text(encoding="utf-8"))
            except (OSError, yaml.YAMLError) as exc:
                first = (str(exc).splitlines() or ["unreadable"])[0]
                raise ConfigError(f"--release {release}: {first}; pass a YAML file") from None
            if not isinstance(facts, dict):
                raise ConfigError(f"--release {release} must hold a mapping (release: ...)")
        sums = seal_bundle(bundle, facts)
        out.print(Text(f"wrote {sums}; copy {bundle} to fakescope/assets/default-model/"))
