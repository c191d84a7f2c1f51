"""``fakescope bundle info``: a saved detector's metadata, without loading its weights."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer

from fakescope.cli.common import cli_errors, kv_table, out

app = typer.Typer(help="Inspect saved detector bundles.", no_args_is_help=True)


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
