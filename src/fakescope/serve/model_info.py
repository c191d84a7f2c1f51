"""``GET /v1/model``: what the server runs, from the loaded model and the bundle's ``meta.json``.

Keys: ``detector``, ``classes``, ``threshold`` (calibrated scale) and
``threshold_raw``, ``calibration`` (``present``, ``method``, ``description``
and the unsure ``band`` on both the raw and the calibrated P(fake) scale, or
None), ``ood`` (``present``, ``scorer``, ``threshold``), ``explain`` (whether
``?explain=1`` works), ``notes`` and ``training`` (the bundle's ``meta.json``
minus what is reported above: input config, versions, data summaries).
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

#: meta.json keys already reported elsewhere in the answer.
_REPORTED = {"detector", "classes", "threshold"}


def _finite(x: Any) -> float | None:
    try:
        v = float(x)
    except (TypeError, ValueError):
        return None
    return v if math.isfinite(v) else None


def _band(model: Any) -> dict[str, Any] | None:
    cal = getattr(model, "calibrator", None)
    band = getattr(cal, "band", None)
    if cal is None or band is None:
        return None
    real_max, fake_min = float(band.real_max), float(band.fake_min)
    return {
        "alpha": float(band.alpha),
        "real_max_raw": real_max,
        "fake_min_raw": fake_min,
        "real_max": _finite(cal.transform(real_max)),
        "fake_min": _finite(cal.transform(fake_min)),
        "meaning": "P(fake) strictly between real_max and fake_min (and conflicting sets) is 'unsure'",
    }


def model_info(model: Any, bundle: Path | None, explain: bool) -> dict[str, Any]:
    """JSON-ready description of ``model`` (a VerdictModel) and its bundle (see module docstring)."""
    base: dict[str, Any] = model.info() if hasattr(model, "info") else {}
    meta: dict[str, Any] = {}
    if bundle is not None:
        from fakescope.bundle import read_meta

        meta = read_meta(bundle)
    cal = getattr(model, "calibrator", None)
    calibration = None
    if cal is not None:
        calibration = {
            "present": True,
            "method": getattr(cal, "method", None),
            "description": cal.describe() if hasattr(cal, "describe") else "",
            "band": _band(model),
        }
    ab = getattr(model, "abstainer", None)
    ood: dict[str, Any] = {"present": ab is not None}
    if ab is not None:
        scorer = getattr(ab, "scorer", None) or getattr(ab, "scorer_name", None)
        if scorer is not None and not isinstance(scorer, str):
            scorer = getattr(scorer, "name", None) or type(scorer).__name__
        ood["scorer"] = scorer
        ood["threshold"] = _finite(getattr(ab, "threshold_", None))
    return {
        "detector": base.get("detector", meta.get("detector")),
        "classes": base.get("classes", meta.get("classes")),
        "threshold": _finite(base.get("threshold", meta.get("threshold"))),
        "threshold_raw": _finite(base.get("threshold_raw", meta.get("threshold"))),
        "calibration": calibration or {"present": False},
        "ood": ood,
        "explain": explain,
        "notes": list(base.get("notes", [])),
        "training": {k: v for k, v in meta.items() if k not in _REPORTED},
    }
