"""The generator zoo: one file per generator, each registered in :data:`GENERATORS`.

The imports below fill the registry (one line per generator file).
"""

from fakescope.bench.generators.base import FAMILIES, GENERATORS, GeneratorParams, ImageGenerator

__all__ = ["FAMILIES", "GENERATORS", "GeneratorParams", "ImageGenerator"]
