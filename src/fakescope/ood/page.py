"""The generated results page of the CIFAR-10 OOD benchmark (``docs/ood.md``).

:func:`render_page` turns a benchmark folder's ``report.json`` into Markdown:
what was run (the command that wrote the page, with paths as given), versions, the ID accuracy,
the near / far-OOD summary per scorer beside the OpenOOD v1.5 anchors, and the
full AUROC / FPR95 / AUPR tables. Nothing machine-specific is written, so
re-rendering the same report gives the same page.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pandas as pd

import fakescope
from fakescope.errors import FakescopeError
from fakescope.eval.results import portable_path
from fakescope.eval.sections import md_table
from fakescope.fileio import atomic_write_text
from fakescope.ood.report import percent_table

#: OpenOOD v1.5, CIFAR-10, ResNet-18 (95% accuracy): (near, far) AUROC in %.
ANCHORS: dict[str, tuple[float, float]] = {
    "knn": (90.6, 93.0),
    "vim": (88.7, 93.5),
    "msp": (88.0, 90.7),
}
#: Which OOD sets count as near and far (others are listed but not averaged).
NEAR: tuple[str, ...] = ("tinyimagenet", "cifar100")
FAR: tuple[str, ...] = ("mnist", "fashion-mnist", "svhn", "dtd", "textures", "places365")


def _md(frame: pd.DataFrame) -> list[str]:
    """A Markdown table with one decimal per number ("-" for NaN)."""

    def cell(v: Any) -> str:
        if isinstance(v, float):
            return "-" if v != v else f"{v:.1f}"
        return str(v)

    text = frame.map(cell)
    return md_table(text, [str(c) for c in text.columns])


def read_report(directory: str | Path) -> dict[str, Any]:
    """``{"rows", "id_accuracy", "meta"}`` from a benchmark folder (either report.json layout)."""
    path = Path(directory) / "report.json"
    if not path.is_file():
        raise FakescopeError(
            f"{path} not found; run 'fakescope ood benchmark ... --out {directory}' first"
        )
    data = json.loads(path.read_text())
    ood = data.get("ood")
    if isinstance(ood, dict):  # first layout: everything under "ood"
        return {
            "rows": ood.get("rows", []),
            "id_accuracy": ood.get("id_accuracy"),
            "meta": ood.get("meta", {}),
        }
    return {"rows": ood or [], "id_accuracy": data.get("id_accuracy"), "meta": data.get("meta", {})}


def command_of(meta: dict[str, Any], out: str, page: str | None = None) -> str:
    """The ``fakescope ood benchmark`` command that produced ``meta`` (paths as given).

    ``page``: the page that command wrote with ``--page`` (None: it wrote none).
    """
    parts = ["fakescope ood benchmark", f"--id {portable_path(meta.get('id_source', '?'))}"]
    parts += [
        f"--ood {name}={portable_path(path)}"
        for name, path in (meta.get("ood_sets") or {}).items()
        if name != "synthetic"
    ]
    parts += [f"--out {out}", f"--preset {meta.get('preset', 'small')}"]
    if "synthetic" not in (meta.get("ood_sets") or {}):
        parts.append("--no-synthetic")
    if meta.get("seed", 0) != 0:
        parts.append(f"--seed {meta['seed']}")
    if page is not None:
        parts.append(f"--page {page}")
    return " \\\n    ".join(parts)


def made_by(meta: dict[str, Any], out: str, page: str, *, by_benchmark: bool) -> list[str]:
    """The command lines that wrote ``page``: the benchmark with ``--page`` (``by_benchmark``),
    else the benchmark then ``fakescope ood page``; paths as the user typed them."""
    if by_benchmark:
        return [command_of(meta, out, page)]
    return [command_of(meta, out), f"fakescope ood page {out} --page {page}"]


def trained_note(meta: dict[str, Any]) -> list[str]:
    """Bullets on the scorers trained on synthetic outliers (``meta["trained_scorers"]``)."""
    info = (meta.get("trained_scorers") or {}).get("abnormality")
    if not info:
        return []
    probe = (meta.get("classifier") or {}).get("detector", "probe") == "probe"
    inputs = (
        " With the probe classifier it sees the class probabilities and the embedding only "
        "(S1's U-Net and ViT detectors add a residual map and a confidence)."
        if probe
        else ""
    )
    return [
        f"- `abnormality`: the S1 thesis's learned abnormality module, trained on "
        f"{info.get('n_id')} ID training images (negatives) against {info.get('n_outliers')} "
        "synthetic outliers made from them (blur, noise, rotation, JPEG q10); the other "
        "scorers are post-hoc and see no outliers. Its `synthetic` column is the same five "
        "kinds of damage on other images (the ID test images), so it is not an unseen-OOD "
        f"result.{inputs}"
    ]


def summary(rows: list[dict[str, Any]]) -> pd.DataFrame:
    """Per scorer: mean AUROC % over the near and the far sets, with the anchors beside them."""
    df = pd.DataFrame(rows)
    out = []
    for scorer, part in df.groupby("scorer", sort=True):
        near = part[part["ood_set"].isin(NEAR)]["auroc"].mean() * 100
        far = part[part["ood_set"].isin(FAR)]["auroc"].mean() * 100
        anchor = ANCHORS.get(str(scorer))
        out.append(
            {
                "scorer": scorer,
                "near AUROC %": float(near),
                "far AUROC %": float(far),
                "OpenOOD near / far": "-" if anchor is None else f"{anchor[0]} / {anchor[1]}",
            }
        )
    return pd.DataFrame(out).sort_values("near AUROC %", ascending=False, kind="stable")


def render_page(
    report: dict[str, Any], *, out: str, page: str = "docs/ood.md", by_benchmark: bool = False
) -> str:
    """The Markdown page for a benchmark report read by :func:`read_report`.

    ``out`` / ``page``: the benchmark folder and the page path as the user typed them;
    ``by_benchmark``: the page was written by ``ood benchmark --page`` (else ``ood page``).
    """
    rows, meta = report["rows"], report["meta"]
    if not rows:
        raise FakescopeError("the benchmark report has no rows; rerun the benchmark")
    acc = report.get("id_accuracy")
    clf = meta.get("classifier", {})
    lines = [
        "# Out-of-distribution detection: the CIFAR-10 OOD benchmark",
        "",
        "<!-- generated from the benchmark's report.json by the command below; do not edit by hand -->",
        "",
        "Made by:",
        "",
        "```bash",
        *made_by(meta, out, page, by_benchmark=by_benchmark),
        "```",
        "",
        f"- fakescope {fakescope.__version__}; preset `{meta.get('preset')}`, seed {meta.get('seed')}; "
        f"{meta.get('n_train')} training and {meta.get('n_test')} test images of CIFAR-10; "
        f"{meta.get('seconds', float('nan')) / 60:.1f} min on the machine that ran it.",
        f"- ID classifier: {clf.get('backbone')} (pretrained: {clf.get('pretrained')}) at "
        f"{clf.get('img_size')} px, {clf.get('head')} head; ID accuracy "
        f"{'-' if acc is None else f'{100 * acc:.1f}%'}.",
        "- Scores: higher = more out-of-distribution. Near-OOD = "
        f"{', '.join(s for s in NEAR)}; far-OOD = {', '.join(s for s in FAR)} (those present).",
        *trained_note(meta),
        "- Anchors: OpenOOD v1.5, ResNet-18 trained to ~95% CIFAR-10 accuracy.",
        "",
        "## Summary",
        "",
        *_md(summary(rows)),
        "",
    ]
    for metric, title in (
        ("auroc", "AUROC %"),
        ("fpr95", "FPR at 95% ID kept % (lower is better)"),
        ("aupr_in", "AUPR, ID positive %"),
        ("aupr_out", "AUPR, OOD positive %"),
    ):
        lines += [f"## {title}", "", *_md(percent_table(rows, metric)), ""]
    return "\n".join(lines)


def write_page(directory: str | Path, page: str | Path, *, by_benchmark: bool = False) -> Path:
    """Render ``directory``'s report to ``page`` (atomically); the page records the command
    that wrote it (``by_benchmark``: ``ood benchmark --page``, else ``ood page``)."""
    text = render_page(
        read_report(directory),
        out=portable_path(directory),
        page=portable_path(page),
        by_benchmark=by_benchmark,
    )
    return atomic_write_text(page, text)
