"""Every built-in evaluation protocol and report section, registered.

Import from here what looks them up by name: :func:`run_protocol`,
:func:`run_experiment`, :data:`PROTOCOLS`, and :class:`Report` when reading a
saved report back (``Report.from_json`` rebuilds sections through
:data:`SECTIONS`). One import line per module fills the registries of
:mod:`fakescope.eval.protocols` and :mod:`fakescope.eval.sections`.
"""

from fakescope.eval import (
    attribution,  # noqa: F401 - registers "attribution" (protocol and section)
    generalisation,  # noqa: F401 - registers "single-source", "leave-one-family-out"
    leave_one_out,  # noqa: F401 - registers "leave-one-out", "cross-dataset"
    ood_protocol,  # noqa: F401 - registers the "ood" protocol and section
    verdict_counts,  # noqa: F401 - registers the "verdicts" report section
)
from fakescope.eval.protocols import (
    PROTOCOLS,
    DetectorFactory,
    EvalProtocol,
    evaluate_detector,
    run_experiment,
    run_protocol,
)
from fakescope.eval.report import Report
from fakescope.eval.sections import SECTIONS

__all__ = [
    "PROTOCOLS",
    "SECTIONS",
    "DetectorFactory",
    "EvalProtocol",
    "Report",
    "evaluate_detector",
    "run_experiment",
    "run_protocol",
]
