"""fakescope: detect AI-generated and manipulated images.

Conventions used everywhere in the package:

* labels: 0 = real, 1 = fake;
* detector scores: P(fake) in [0, 1] (higher = more likely fake);
* OOD scores: higher = more anomalous;
* thresholds are chosen on validation data, never on test labels.
"""

__version__ = "0.1.0"

__all__ = ["__version__"]
