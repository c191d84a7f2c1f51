"""Optional explanation heatmaps for ``POST /v1/detect?explain=1``.

The server never depends on a heatmap implementation: :func:`find_explainer`
looks for ``fakescope.inference.heatmap.heatmap_png(model, image) -> PNG bytes``
(an overlay on the image) and :func:`explain_unavailable` asks that module's
optional ``check_explainable(model)`` whether this model can be explained.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import Any

from PIL import Image

#: Module and function that make an explanation heatmap: ``fn(model, image) -> PNG bytes``
#: (an overlay on the image); the module's optional ``check_explainable(model)`` raises a
#: one-line error for models it cannot explain.
HEATMAP_MODULE, HEATMAP_FN, HEATMAP_CHECK = (
    "fakescope.inference.heatmap",
    "heatmap_png",
    "check_explainable",
)


def find_explainer() -> Callable[[Any, Image.Image], bytes] | None:
    """``fakescope.inference.heatmap.heatmap_png`` when that module exists, else None."""
    try:
        module = importlib.import_module(HEATMAP_MODULE)
    except ImportError:  # no module, or one of its optional dependencies is missing
        return None
    fn = getattr(module, HEATMAP_FN, None)
    return fn if callable(fn) else None


def explain_unavailable(model: Any, explainer: Any) -> str:
    """Why ``?explain=1`` cannot work for ``model`` ("" when it can)."""
    if explainer is None:
        return "this server has no heatmap module installed"
    if getattr(explainer, "__module__", None) != HEATMAP_MODULE:
        return ""
    check = getattr(importlib.import_module(HEATMAP_MODULE), HEATMAP_CHECK, None)
    if check is None:
        return ""
    try:
        check(model)
    except Exception as exc:  # FakescopeError: "detector X has no heatmaps; use ..."
        return " ".join(str(exc).split()) or type(exc).__name__
    return ""
