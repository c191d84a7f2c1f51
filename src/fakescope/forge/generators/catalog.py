"""Every generator of the zoo, registered: import :data:`GENERATORS` from here.

One import line per generator file fills the registry of
:mod:`fakescope.forge.generators.base`.
"""

from fakescope.forge.generators import (
    dcgan,  # noqa: F401
    ddpm,  # noqa: F401
    face_swap,  # noqa: F401
    inpaint,  # noqa: F401
    latent_diffusion,  # noqa: F401
    random_arch,  # noqa: F401
    realnvp,  # noqa: F401
    resize_gan,  # noqa: F401
    self_blend,  # noqa: F401
    tae,  # noqa: F401
    upsampler,  # noqa: F401
    vae,  # noqa: F401
)
from fakescope.forge.generators.base import FAMILIES, GENERATORS, GeneratorParams, ImageGenerator

__all__ = ["FAMILIES", "GENERATORS", "GeneratorParams", "ImageGenerator"]
