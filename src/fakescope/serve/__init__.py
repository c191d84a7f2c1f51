"""Serving: calibration of P(fake), the one verdict function, and (later) the HTTP app.

* :mod:`fakescope.inference.calibration` - :class:`~fakescope.inference.calibration.Calibrator`
  (Platt or isotonic P(fake) calibration + a split-conformal "unsure" band),
  stored in a bundle as ``calibration.json``.
* :mod:`fakescope.inference.verdict` - :class:`~fakescope.inference.verdict.VerdictModel`
  (detector + optional calibrator + optional OOD abstainer) and
  :func:`~fakescope.inference.verdict.decide`, the only place a verdict
  ("real" / "fake" / "unsure") is computed. ``scan``, ``check``, the server and
  evaluation all go through it.
"""
