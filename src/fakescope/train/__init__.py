"""Training loop (Lightning) used by the trainable detectors."""
