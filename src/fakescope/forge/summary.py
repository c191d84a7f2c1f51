"""The build's HTML summary: one self-contained page (grids embedded as base64 PNG)."""

from __future__ import annotations

import base64
import html
import math
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from fakescope.fileio import atomic_write_text

SUMMARY = "summary.html"

_STYLE = """
body{font-family:system-ui,sans-serif;margin:2em;color:#222}
table{border-collapse:collapse;margin:1em 0}
td,th{border:1px solid #ccc;padding:4px 8px;text-align:left;vertical-align:top}
th{background:#f3f3f3}
.flag{color:#b00;font-weight:bold}
.ok{color:#070}
img{image-rendering:pixelated}
small{color:#666}
"""


def _num(value: Any, digits: int = 2) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "-"
    if isinstance(value, float):
        return f"{value:.{digits}f}"
    return html.escape(str(value))


def _img(png: bytes | None, alt: str) -> str:
    if not png:
        return "-"
    data = base64.b64encode(png).decode("ascii")
    return f'<img alt="{html.escape(alt)}" src="data:image/png;base64,{data}">'


def render_summary(
    info: Mapping[str, Any], grids: Mapping[str, bytes], spectra: bytes | None = None
) -> str:
    """The HTML page of a build from its ``benchmark.json`` content and PNG ``grids`` by generator.

    ``grids`` may hold a ``"real"`` entry: a grid of test reals shown first; ``spectra``: the
    build's fingerprint plot (PNG), shown after the generator table when given.
    """
    esc = html.escape
    spec = info.get("format", {})
    source = info.get("source", {})
    head = [
        ("preset", info.get("preset", {}).get("name", "")),
        ("source", source.get("path", "")),
        (
            "source images",
            f"{source.get('images', '')} ({source.get('corrupt_skipped', 0)} corrupt skipped;"
            f" split: {source.get('split_mode', '')})",
        ),
        ("format", spec.get("description", "")),
        ("seed", info.get("seed", "")),
        ("build time", f"{_num(info.get('build_seconds'), 1)} s"),
        ("fakescope", info.get("fakescope_version", "")),
    ]
    parts = [
        "<!DOCTYPE html><html><head><meta charset='utf-8'>",
        f"<title>fakescope benchmark {esc(str(head[0][1]))}</title><style>{_STYLE}</style>",
        "</head><body><h1>fakescope benchmark build</h1><table>",
        *(f"<tr><th>{esc(k)}</th><td>{esc(str(v))}</td></tr>" for k, v in head),
        "</table>",
    ]
    if "real" in grids:
        parts.append(f"<h2>Test reals</h2>{_img(grids['real'], 'reals')}")
    parts.append(
        "<h2>Generators</h2><table><tr><th>generator</th><th>family</th><th>steps</th>"
        "<th>training (s)</th><th>FD fakes vs reals</th><th>FD real vs real</th>"
        "<th>file-size AUC</th><th>format audit</th><th>test fakes</th></tr>"
    )
    for name, gen in sorted(info.get("generators", {}).items()):
        quality = gen.get("quality") or {}
        audit = gen.get("audit") or {}
        auc = audit.get("file_size_auc")
        flag = audit.get("file_size_flag")
        auc_cell = f"<span class='{'flag' if flag else 'ok'}'>{_num(auc)}{' (flag)' if flag else ''}</span>"
        passed = audit.get("sizes_modes_identical") and audit.get("qtables_identical")
        audit_cell = "<span class='ok'>pass</span>" if passed else "<span class='flag'>FAIL</span>"
        n = quality.get("n")
        parts.append(
            f"<tr><td>{esc(name)}</td><td>{esc(str(gen.get('family', '')))}</td>"
            f"<td>{_num(gen.get('steps'))}</td><td>{_num(gen.get('train_seconds'), 1)}</td>"
            f"<td>{_num(quality.get('fd'))}</td><td>{_num(quality.get('fd_real_vs_real'))}"
            f"{f' <small>(n={n})</small>' if n else ''}</td>"
            f"<td>{auc_cell}</td><td>{audit_cell}</td><td>{_img(grids.get(name), name)}</td></tr>"
        )
    parts.append(
        "</table><p><small>FD: Frechet distance on EfficientNet-Lite0 features, n test fakes vs "
        "n test reals, next to two disjoint sets of n test reals (lower = closer; only "
        "distances of equal n compare). File-size AUC: ROC-AUC of the file size alone as the "
        "fake score, flagged above 0.9 or below 0.1.</small></p>"
    )
    if spectra:
        parts.append(
            "<h2>Fingerprint spectra</h2><p>Mean log-magnitude Fourier spectrum of the noise "
            "residual (image minus its 3x3 median) of test reals and of each generator's test "
            f"fakes: up-sampling leaves peaks the reals lack.</p>{_img(spectra, 'spectra')}"
        )
    parts.append("</body></html>")
    return "\n".join(parts)


def write_summary(
    root: Path, info: Mapping[str, Any], grids: Mapping[str, bytes], spectra: bytes | None = None
) -> Path:
    """Write ``<root>/summary.html`` atomically; returns its path."""
    return atomic_write_text(root / SUMMARY, render_summary(info, grids, spectra))
