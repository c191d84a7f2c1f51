"""Serving: the HTTP app only (:mod:`.app`), with its micro-batcher, limits and inputs.

Verdicts come from :mod:`fakescope.inference`: :class:`~fakescope.inference.verdict.VerdictModel`
(a loaded bundle) hands scores to :func:`~fakescope.inference.decision.decide`, the
only place a verdict ("real" / "fake" / "unsure") is computed; the server reads
the :class:`~fakescope.inference.types.Verdict` fields (``verdict.ood``, never
the reason text).
"""
