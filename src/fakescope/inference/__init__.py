"""Inference: from a bundle and an image to a verdict.

* :mod:`.calibration` - Platt / isotonic calibration of P(fake) and the split-conformal
  "unsure" band (``calibration.json`` in a bundle);
* :mod:`.verdict` - the one verdict function: ``real`` / ``fake`` / ``unsure``;
* :mod:`.face_verdicts` - per-face verdicts and the most-fake-face rule;
* :mod:`.scan` - files and folders into CSV / JSONL rows;
* :mod:`.heatmap` - Grad-CAM evidence maps;
* :mod:`.onnx_export`, :mod:`.onnx_runtime` - the ONNX model and its runtime.
"""
