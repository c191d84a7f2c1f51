"""Evaluation: metrics, thresholds, protocols, robustness tiers and reports.

Entry points, with every protocol and report section registered, are in
:mod:`.catalog`: :func:`~.protocols.run_protocol` (train + evaluate with a
registered protocol, see :data:`~.protocols.PROTOCOLS`) and
:func:`~.protocols.evaluate_detector` (an already trained detector on test rows).
Both return a :class:`~.report.Report`. :mod:`.generalisation` registers
``single-source`` and ``leave-one-family-out``; :mod:`.leave_one_out` registers
``leave-one-out`` (any grouping) and ``cross-dataset``; :mod:`.attribution`
registers ``attribution``; :mod:`.ood_protocol` registers ``ood``. This file
imports nothing (a protocol imports its sibling modules, which run this file
first: filling the registries here would be an import cycle).
"""
