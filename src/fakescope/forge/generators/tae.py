"""Real latent-diffusion decoders as manipulations: ``tae_sd``, ``tae_sdxl``, ``tae_sd3``, ``tae_flux1``,
``tae_flux2`` (family ``ldm_decoder``).

Each wraps the tiny autoencoder (:mod:`fakescope.models.tae`) that mimics the
VAE of a published latent-diffusion model. Every image such a model makes
passes through its decoder, so decoding real photos gives fakes that carry the
decoder's up-sampling traces with the photo's content. Modes (param ``mode``):

* ``reconstruct``: ``decode(encode(x))``, the content-matched ("aligned") fake;
* ``mix``: ``decode((1 - a) * encode(x) + a * encode(donor))`` with a per-image
  weight ``a`` drawn from ``mix_range``: new content from two photos;
* ``noise``: ``decode(z + strength * sigma(z) * eps)``, ``eps`` seeded Gaussian
  noise and ``sigma(z)`` each image's per-channel latent std; strength 0 is
  ``reconstruct``.

Nothing is trained (``steps`` 0); the published weights are required
(``weights`` param, ``--weights`` or ``$FAKESCOPE_WEIGHTS``; sha256-checked).
Inputs: [N, C, H, W] with C = 1 (grey), 3 (RGB) or 4 (RGBA, composited on
white), float in [0, 1], uint8 or 16-bit integers; sides that are not
multiples of 8 are centre-cropped to the nearest smaller multiple.
"""

from __future__ import annotations

from typing import Any, ClassVar, Literal

import torch
from pydantic import Field

from fakescope.errors import ConfigError
from fakescope.forge.generators.base import (
    GENERATORS,
    GeneratorParams,
    TrainingFreeManipulation,
)
from fakescope.models.tae import TAE_SPECS, TinyAutoencoder, load_tae

FAMILY = "ldm_decoder"
Mode = Literal["reconstruct", "mix", "noise"]


class TaeParams(GeneratorParams):
    """Settings of a decoder generator (``steps`` stays 0: nothing is trained)."""

    steps: int = Field(default=0, ge=0)
    batch_size: int = Field(default=8, ge=1)
    mode: Mode = "reconstruct"
    #: ``noise`` mode: noise std as a multiple of each latent channel's std.
    strength: float = Field(default=0.5, ge=0, le=10)
    #: ``mix`` mode: the donor's weight ``a`` is drawn uniformly from this range.
    mix_range: tuple[float, float] = (0.3, 0.7)
    #: Folder or .zip with the weights (else ``--weights`` / ``$FAKESCOPE_WEIGHTS``).
    weights: str | None = None


def to_rgb_batch(images: torch.Tensor) -> torch.Tensor:
    """[N, C, H, W] grey/RGB/RGBA, float in [0, 1] or 8/16-bit integers -> float RGB [N, 3, H, W].

    Alpha is composited on white; integer tensors whose maximum exceeds 255 are
    taken as 16-bit (divided by 65535), others as 8-bit.
    """
    if images.ndim != 4 or images.shape[1] not in (1, 3, 4):
        raise ValueError(
            f"expected images [N, C, H, W] with C in 1, 3, 4; got shape {tuple(images.shape)}"
        )
    x = images
    if not x.is_floating_point():
        scale = 65535.0 if int(x.max()) > 255 else 255.0
        x = x.float() / scale
    x = x.float()
    if x.shape[1] == 1:
        x = x.expand(-1, 3, -1, -1)
    elif x.shape[1] == 4:
        alpha = x[:, 3:4]
        x = x[:, :3] * alpha + (1.0 - alpha)
    return x.clamp(0.0, 1.0)


def crop_to_multiple(x: torch.Tensor, k: int = 8) -> torch.Tensor:
    """Centre-crop [N, C, H, W] so both sides are multiples of ``k`` (unchanged when they are)."""
    h, w = x.shape[-2:]
    nh, nw = h - h % k, w - w % k
    if nh == 0 or nw == 0:
        raise ValueError(f"images of {h}x{w} are smaller than {k}x{k}; use larger images")
    top, left = (h - nh) // 2, (w - nw) // 2
    return x[..., top : top + nh, left : left + nw]


class TaeGenerator(TrainingFreeManipulation):
    """Encode / decode real images with a tiny autoencoder (see the module docstring).

    :meth:`manipulate`: images [N, C, H, W] -> fakes [N, 3, H', W'] in [0, 1]
    (H' = H, W' = W when they are multiples of 8).
    """

    family: ClassVar[str] = FAMILY
    Params: ClassVar[type[GeneratorParams]] = TaeParams
    #: Key of :data:`fakescope.models.tae.TAE_SPECS` (the manifest's ``decoder`` column).
    decoder: ClassVar[str] = ""

    def _build(self) -> None:
        p = self.p
        if self.image_size % 8:
            raise ConfigError(
                f"{self.name} needs a resolution that is a multiple of 8, got {self.image_size}; "
                f"pass --resolution {max(8, self.image_size - self.image_size % 8)}"
            )
        lo, hi = p.mix_range
        if not 0.0 <= lo <= hi <= 1.0:
            raise ConfigError(
                f"{self.name}: mix_range must be two weights 0 <= lo <= hi <= 1, got {p.mix_range}"
            )
        self.model: TinyAutoencoder = load_tae(self.decoder, configured=p.weights).to(self.device)

    @property
    def p(self) -> TaeParams:
        """The params, typed."""
        assert isinstance(self.params, TaeParams)
        return self.params

    @property
    def uses_donors(self) -> bool:
        """Only ``mix`` uses donors (the manifest's ``donor`` column)."""
        return self.p.mode == "mix"

    def latents(self, images: torch.Tensor) -> torch.Tensor:
        """Latents [N, C, H/8, W/8] of images [N, 3, H, W] (H, W multiples of 8)."""
        with torch.no_grad():
            return self.model.encode(images.to(self.device))

    def manipulate(
        self, images: torch.Tensor, rng: torch.Generator, donors: torch.Tensor | None = None
    ) -> torch.Tensor:
        """Fakes [N, 3, H, W] in [0, 1] of ``images`` in the configured mode (see the module doc)."""
        x = crop_to_multiple(to_rgb_batch(images))
        z = self.latents(x)
        p = self.p
        if p.mode == "mix":
            if donors is None or len(donors) != len(images):
                raise ValueError(f"{self.name} in mix mode needs one donor per image")
            d = crop_to_multiple(to_rgb_batch(donors))
            if d.shape != x.shape:
                raise ValueError(
                    f"donors are {tuple(d.shape[-2:])} but images are {tuple(x.shape[-2:])}"
                )
            lo, hi = p.mix_range
            a = (lo + (hi - lo) * torch.rand(len(z), 1, 1, 1, generator=rng)).to(z)
            z = (1 - a) * z + a * self.latents(d)
        elif p.mode == "noise" and p.strength > 0:
            eps = torch.randn(z.shape, generator=rng).to(z)
            sigma = z.std(dim=(2, 3), keepdim=True)
            z = z + p.strength * sigma * eps
        with torch.no_grad():
            return self.model.decode(z).cpu()


def _register(decoder: str) -> type[TaeGenerator]:
    """Create and register the generator class ``tae_<decoder>``."""
    spec = TAE_SPECS[decoder]
    attrs: dict[str, Any] = {
        "name": f"tae_{decoder}",
        "decoder": decoder,
        "__doc__": f"Tiny autoencoder of the {spec.mimics} VAE ({spec.stem}_*.safetensors).",
        "__module__": __name__,
    }
    cls = type(f"Tae{decoder.capitalize()}", (TaeGenerator,), attrs)
    GENERATORS.register(attrs["name"])(cls)
    return cls


#: The registered decoder generators, by decoder name.
DECODER_GENERATORS: dict[str, type[TaeGenerator]] = {d: _register(d) for d in TAE_SPECS}


def generator_name(decoder: str) -> str:
    """``tae_<decoder>``; one-line :class:`ConfigError` listing the choices for an unknown name."""
    if decoder not in DECODER_GENERATORS:
        raise ConfigError(f"unknown decoder {decoder!r}; choose one of: {', '.join(TAE_SPECS)}")
    return f"tae_{decoder}"


def decoder_generators(decoders: str) -> list[str]:
    """Generator names of a comma-separated decoder list ("sd,flux1" -> tae_sd, tae_flux1)."""
    names = [d.strip() for d in decoders.split(",") if d.strip()]
    if not names:
        raise ConfigError(f"--decoders is empty; choose among: {', '.join(TAE_SPECS)}")
    return [generator_name(d) for d in names]
