"""Evaluation: metrics, thresholds, protocols, robustness tiers and reports.

Entry points: :func:`run_protocol` (train + evaluate with a registered
protocol, see :data:`PROTOCOLS`) and :func:`evaluate_detector` (an already
trained detector on test rows). Both return a :class:`Report`.
Importing :mod:`fakescope.eval.generalisation` registers ``single-source`` and
``leave-one-family-out``; :mod:`fakescope.eval.leave_one_out` registers
``leave-one-out`` (any grouping) and ``cross-dataset``;
:mod:`fakescope.eval.attribution` registers ``attribution``.
"""

from fakescope.eval import (
    attribution,
    generalisation,
    leave_one_out,
    metrics,
    ood_protocol,  # noqa: F401 - registers the "ood" protocol
    verdict_counts,  # noqa: F401 - registers the "verdicts" report section
)
from fakescope.eval.metrics import OVERALL, binary_metrics, group_masks, group_metrics
from fakescope.eval.protocols import (
    PROTOCOLS,
    DetectorFactory,
    EvalProtocol,
    evaluate_detector,
    run_protocol,
)
from fakescope.eval.report import Report
from fakescope.eval.robustness import DEGRADATIONS, Tier, tiers_from_config
from fakescope.eval.threshold import choose_threshold

__all__ = [
    "DEGRADATIONS",
    "OVERALL",
    "PROTOCOLS",
    "DetectorFactory",
    "EvalProtocol",
    "Report",
    "Tier",
    "attribution",
    "binary_metrics",
    "choose_threshold",
    "evaluate_detector",
    "generalisation",
    "group_masks",
    "group_metrics",
    "leave_one_out",
    "metrics",
    "run_protocol",
    "tiers_from_config",
]
