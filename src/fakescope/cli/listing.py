"""``fakescope list``: the registered plug-ins (detectors with their params, backbones, ...)."""

from __future__ import annotations

from collections.abc import Callable
from enum import StrEnum
from typing import Annotated

import typer
from pydantic import BaseModel

from fakescope.cli.common import cli_errors, out


class Kind(StrEnum):
    """What ``fakescope list`` can list."""

    detectors = "detectors"
    backbones = "backbones"
    heads = "heads"
    losses = "losses"
    layouts = "layouts"
    protocols = "protocols"


def _doc(obj: object) -> str:
    """First line of ``obj``'s docstring ("" when none)."""
    doc = (getattr(obj, "__doc__", None) or "").strip()
    return doc.splitlines()[0] if doc else ""


def _entry(name: str, doc: str) -> str:
    return f"  {name}" + (f" - {doc}" if doc else "")


def _param_lines(model: type[BaseModel]) -> list[str]:
    """``name = default  # description`` for every field of a params model."""
    lines = []
    for field, info in model.model_fields.items():
        default = info.get_default(call_default_factory=True)
        if isinstance(default, BaseModel):
            default = default.model_dump(mode="json")
        note = f"  # {info.description}" if info.description else ""
        lines.append(f"      {field} = {default!r}{note}")
    return lines


def _detector_lines() -> list[str]:
    from fakescope.detectors.catalog import DETECTORS

    lines: list[str] = []
    for name in DETECTORS.names():
        cls = DETECTORS.get(name)
        lines.append(_entry(name, _doc(cls)))
        lines.extend(_param_lines(cls.Params))
    return lines


def _backbone_lines() -> list[str]:
    from fakescope.models.catalog import list_backbones

    return [_entry(name, "") for name in list_backbones()]


def _head_lines() -> list[str]:
    from fakescope.detectors.heads import HEADS

    lines: list[str] = []
    for name in HEADS.names():
        spec = HEADS.get(name)
        lines.append(_entry(name, _doc(spec.build) or _doc(spec.params)))
        lines.extend(_param_lines(spec.params))
    return lines


def _loss_lines() -> list[str]:
    from fakescope.losses.catalog import LOSSES

    lines: list[str] = []
    for name in LOSSES.names():
        cls = LOSSES.get(name)
        lines.append(_entry(name, _doc(cls)))
        lines.extend(_param_lines(cls.Params))
    return lines


def _layout_lines() -> list[str]:
    from fakescope.data.layouts.catalog import LAYOUTS

    return [
        _entry(n, str(getattr(LAYOUTS.get(n), "description", "")) or _doc(LAYOUTS.get(n)))
        for n in LAYOUTS.names()
    ]


def _protocol_lines() -> list[str]:
    from fakescope.eval.catalog import PROTOCOLS

    return [_entry(name, _doc(PROTOCOLS.get(name))) for name in PROTOCOLS.names()]


LISTERS: dict[Kind, Callable[[], list[str]]] = {
    Kind.detectors: _detector_lines,
    Kind.backbones: _backbone_lines,
    Kind.heads: _head_lines,
    Kind.losses: _loss_lines,
    Kind.layouts: _layout_lines,
    Kind.protocols: _protocol_lines,
}


def list_registered(
    kind: Annotated[
        Kind | None,
        typer.Argument(help="What to list; all kinds when omitted.", show_default=False),
    ] = None,
) -> None:
    """List registered detectors (with params and defaults), backbones, heads, losses, layouts, protocols."""
    with cli_errors():
        kinds = list(Kind) if kind is None else [kind]
        for k in kinds:
            lines = LISTERS[k]()
            out.print(f"{k.value}:", style="bold", markup=False, highlight=False)
            out.print("\n".join(lines) if lines else "  (none)", markup=False, highlight=False)
