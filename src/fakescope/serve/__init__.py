"""Serving: calibration of P(fake), the one verdict function, and (later) the HTTP app.

* :mod:`fakescope.serve.calibration` - :class:`~fakescope.serve.calibration.Calibrator`
  (Platt or isotonic P(fake) calibration + a split-conformal "unsure" band),
  stored in a bundle as ``calibration.json``.
* :mod:`fakescope.serve.verdict` - :class:`~fakescope.serve.verdict.VerdictModel`
  (detector + optional calibrator + optional OOD abstainer) and
  :func:`~fakescope.serve.verdict.decide`, the only place a verdict
  ("real" / "fake" / "unsure") is computed. ``scan``, ``check``, the server and
  evaluation all go through it.
"""
