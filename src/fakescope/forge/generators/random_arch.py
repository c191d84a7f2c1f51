"""``random_arch``: reals passed through untrained, randomly drawn encoder-decoders (family ``random_arch``).

After FingerprintNet (Jeong et al., ECCV 2022), whose premise is that a
detector shown the up-sampling traces of many *kinds* of decoder generalises
better than one shown a few GANs. Nothing is trained (``steps`` defaults to 0;
a preset should list ``random_arch: 0``); the variety comes from the
architectures. Image sides must be multiples of ``2 ** depth[1]`` (8 by default).

**The pool.** At build time ``nets`` architectures are drawn, net ``i`` from a
generator seeded by ``(seed, i)`` only (so a net never depends on the others):

* encoder: a 3x3 stem, then ``depth`` (``depth`` range, 1-3) stride-2
  down-samplings, each a stride-2 3x3 conv, or a 2x2 average / max pool
  followed by a 3x3 conv; every level has its own width (``width`` range);
* decoder: ``depth`` 2x up-samplings back to full size, each drawn from the
  allowed ``upsampling`` kinds: ``transposed`` (kernel 2 / 3 / 4 with stride 2
  and the padding that doubles the size exactly), ``nearest`` + 3x3 conv,
  ``bilinear`` + 3x3 conv, ``pixel_shuffle`` (3x3 conv to 4x channels, then
  PixelShuffle(2)); then a 3x3 head to 3 channels;
* one normalisation for the whole net (``none``, ``instance`` without affine:
  per-image statistics, so no batch statistic leaks between images, or
  ``group``), one activation (``relu``, ``leaky_relu``, ``gelu``, ``tanh``);
* weights ~ N(0, gain^2 / fan_in) with the activation's gain (He / Xavier
  scaling, so activations keep their scale through the depth), biases
  ~ U(-0.1, 0.1). The last up-sampling stage of net ``i`` uses the
  ``i mod len(upsampling)``-th allowed kind (in a seeded order), so a pool of
  at least ``len(upsampling)`` nets covers every allowed kind.

**The mix (keeping content).** For a real ``x`` [3, H, W] in [0, 1] and its net
output ``y = net(2x - 1)``::

    r   = y - mean_hw(y)             # per-channel mean removed: the colours stay
    out = clamp(x + s * r / std(r))  # std over the whole image (C, H, W)

with ``s`` drawn per image from ``strength``. Before clamping the root-mean-
square change is exactly ``s``; clamping only shrinks it, so PSNR(out, x) is at
least ``-20 log10(s_max)`` dB (default ``strength`` (0.02, 0.06): at least
24.4 dB, about 24-34 dB; saturated images score higher). The residual ``r`` is
the random network's image, so it carries that decoder's up-sampling traces
(periodic at 2, 4, 8 px), while the image itself stays recognisable. Nets have
no skip connections, so all of ``r``'s fine detail went through the decoder's
up-sampling. Trace strength varies by kind: transposed conv and pixel shuffle
leave strong peaks at the 2x frequency in the residual's spectrum, bilinear
+ conv clear ones, nearest + conv the mildest (the tests measure each).

**Which net an image gets.** :meth:`RandomArch.assign` draws every image's net
index (and its strength) from the ``rng`` the builder passes to
:meth:`~RandomArch.manipulate`, which calls it first: the same seed gives
byte-identical outputs, and ``describe(index)`` names the architecture
(``last_nets_`` holds the indices of the last batch). Networks are built on
first use and cached (64 nets at the default widths: about 20 MB of weights).
Cost: about 0.4 CPU-seconds per 256 px image (default ranges; convolutions
at full resolution dominate).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Annotated, ClassVar, Literal

import torch
from pydantic import Field, field_validator
from torch import nn

from fakescope.errors import ConfigError, DataError
from fakescope.forge.generators.base import (
    GENERATORS,
    GeneratorParams,
    TrainingFreeManipulation,
)
from fakescope.forge.plan import derive_seed

UpKind = Literal["transposed", "nearest", "bilinear", "pixel_shuffle"]
DownKind = Literal["conv", "avgpool", "maxpool"]
Norm = Literal["none", "instance", "group"]
Act = Literal["relu", "leaky_relu", "gelu", "tanh"]
UP_KINDS: tuple[UpKind, ...] = ("transposed", "nearest", "bilinear", "pixel_shuffle")
DOWN_KINDS: tuple[DownKind, ...] = ("conv", "avgpool", "maxpool")
NORMS: tuple[Norm, ...] = ("none", "instance", "group")
ACTS: tuple[Act, ...] = ("relu", "leaky_relu", "gelu", "tanh")
TRANSPOSED_KERNELS = (2, 3, 4)
#: Activation gains for the N(0, gain^2 / fan_in) initialisation.
GAINS: dict[str, float] = {
    "relu": math.sqrt(2.0),
    "leaky_relu": math.sqrt(2.0 / (1 + 0.2**2)),
    "gelu": math.sqrt(2.0),
    "tanh": 5.0 / 3.0,
}
#: Images per forward pass in :meth:`RandomArch.manipulate` (bounds memory at 256 px).
CHUNK = 16
Strength = Annotated[float, Field(gt=0, le=0.3)]


@dataclass(frozen=True)
class ArchSpec:
    """One drawn architecture: ``widths`` has ``depth + 1`` levels (full size first);
    ``down[i]`` / ``up[i]`` go between levels ``i`` and ``i + 1``; ``kernels[i]`` is the
    transposed-conv kernel of ``up[i]`` (0 for the other kinds)."""

    widths: tuple[int, ...]
    down: tuple[DownKind, ...]
    up: tuple[UpKind, ...]
    kernels: tuple[int, ...]
    norm: Norm
    act: Act

    @property
    def depth(self) -> int:
        """Number of 2x down-samplings (= up-samplings)."""
        return len(self.down)

    def describe(self) -> str:
        """One line naming the architecture, e.g. ``enc 3>24/conv>40 | dec tconv4>24 | norm=group act=gelu``."""
        enc = "/".join(f"{d}>{w}" for d, w in zip(self.down, self.widths[1:], strict=True))
        ups = [
            (f"tconv{k}" if u == "transposed" else u) + f">{w}"
            for u, k, w in zip(self.up, self.kernels, self.widths[:-1], strict=True)
        ]
        dec = "/".join(reversed(ups))  # decoder order: deepest stage first
        return f"enc {self.widths[0]}/{enc} | dec {dec} | norm={self.norm} act={self.act}"


def _activation(act: Act) -> nn.Module:
    if act == "leaky_relu":
        return nn.LeakyReLU(0.2)
    return {"relu": nn.ReLU(), "gelu": nn.GELU(), "tanh": nn.Tanh()}[act]


def _norm(norm: Norm, channels: int) -> nn.Module:
    if norm == "instance":
        return nn.InstanceNorm2d(channels, affine=False, track_running_stats=False)
    if norm == "group":
        groups = next(g for g in (8, 4, 2, 1) if channels % g == 0)
        return nn.GroupNorm(groups, channels, affine=False)
    return nn.Identity()


def _up(kind: UpKind, kernel: int, cin: int, cout: int) -> nn.Module:
    """A 2x up-sampling [B, cin, h, w] -> [B, cout, 2h, 2w] of the given kind."""
    if kind == "transposed":
        pad, extra = {2: (0, 0), 3: (1, 1), 4: (1, 0)}[kernel]
        return nn.ConvTranspose2d(cin, cout, kernel, stride=2, padding=pad, output_padding=extra)
    if kind == "pixel_shuffle":
        return nn.Sequential(nn.Conv2d(cin, 4 * cout, 3, padding=1), nn.PixelShuffle(2))
    return nn.Sequential(nn.Upsample(scale_factor=2, mode=kind), nn.Conv2d(cin, cout, 3, padding=1))


def _down(kind: DownKind, cin: int, cout: int) -> nn.Module:
    """A 2x down-sampling [B, cin, h, w] -> [B, cout, h / 2, w / 2] of the given kind."""
    if kind == "conv":
        return nn.Conv2d(cin, cout, 3, stride=2, padding=1)
    pool = nn.AvgPool2d(2) if kind == "avgpool" else nn.MaxPool2d(2)
    return nn.Sequential(pool, nn.Conv2d(cin, cout, 3, padding=1))


def _fan_in(layer: nn.Conv2d | nn.ConvTranspose2d) -> float:
    """Inputs summed per output value (a stride-s transposed conv sums k^2 / s^2 taps per channel)."""
    k = layer.kernel_size[0] * layer.kernel_size[1]
    if isinstance(layer, nn.ConvTranspose2d):
        return layer.in_channels * k / (layer.stride[0] * layer.stride[1])
    return layer.in_channels * k


class RandomNet(nn.Module):
    """The encoder-decoder of one :class:`ArchSpec`: [B, 3, H, W] -> [B, 3, H, W] (H, W multiples
    of ``2**depth``), weights drawn from ``gen`` (see the module docstring)."""

    def __init__(self, spec: ArchSpec, gen: torch.Generator) -> None:
        super().__init__()
        w, act, norm = spec.widths, spec.act, spec.norm

        def block(layer: nn.Module, ch: int) -> nn.Sequential:
            return nn.Sequential(layer, _norm(norm, ch), _activation(act))

        with torch.random.fork_rng(devices=[]):  # default inits must not move the global RNG
            self.stem = block(nn.Conv2d(3, w[0], 3, padding=1), w[0])
            self.encoder = nn.Sequential(
                *(block(_down(d, w[i], w[i + 1]), w[i + 1]) for i, d in enumerate(spec.down))
            )
            self.decoder = nn.Sequential(
                *(
                    block(_up(spec.up[i], spec.kernels[i], w[i + 1], w[i]), w[i])
                    for i in reversed(range(spec.depth))
                )
            )
            self.head = nn.Conv2d(w[0], 3, 3, padding=1)
        with torch.no_grad():
            self._init(act, gen)
        self.requires_grad_(False)

    def _init(self, act: Act, gen: torch.Generator) -> None:
        for module in self.modules():
            if isinstance(module, nn.Conv2d | nn.ConvTranspose2d):
                # The head's input went through the activation too, so one gain fits every layer.
                std = GAINS[act] / math.sqrt(_fan_in(module))
                module.weight.copy_(torch.randn(module.weight.shape, generator=gen) * std)
                if module.bias is not None:
                    module.bias.copy_((torch.rand(module.bias.shape, generator=gen) - 0.5) * 0.2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.decoder(self.encoder(self.stem(x))))


class RandomArchParams(GeneratorParams):
    """Random-architecture settings: the kinds and ranges architectures are drawn from."""

    steps: int = Field(default=0, ge=0)
    upsampling: list[UpKind] = Field(default_factory=lambda: list(UP_KINDS))
    downsampling: list[DownKind] = Field(default_factory=lambda: list(DOWN_KINDS))
    norms: list[Norm] = Field(default_factory=lambda: list(NORMS))
    activations: list[Act] = Field(default_factory=lambda: list(ACTS))
    depth: tuple[Annotated[int, Field(ge=1, le=3)], Annotated[int, Field(ge=1, le=3)]] = (1, 3)
    width: tuple[Annotated[int, Field(ge=4, le=256)], Annotated[int, Field(ge=4, le=256)]] = (
        16,
        64,
    )
    nets: int = Field(default=64, ge=1, le=4096)
    strength: tuple[Strength, Strength] = (0.02, 0.06)

    @field_validator("upsampling", "downsampling", "norms", "activations")
    @classmethod
    def _unique(cls, values: list[str]) -> list[str]:
        if not values or len(set(values)) != len(values):
            raise ValueError("list at least one choice, each once")
        return values

    @field_validator("depth", "width", "strength")
    @classmethod
    def _ordered(cls, bounds: tuple[float, float]) -> tuple[float, float]:
        if bounds[0] > bounds[1]:
            raise ValueError(f"give (low, high) with low <= high, got {tuple(bounds)}")
        return bounds


def draw_spec(p: RandomArchParams, gen: torch.Generator, last_up: UpKind) -> ArchSpec:
    """One architecture drawn from ``p``'s choices with ``gen``; its last up-sampling
    (the one that outputs full resolution) is ``last_up``."""

    def pick(options: Sequence[str]) -> str:
        return options[int(torch.randint(len(options), (1,), generator=gen))]

    def between(low: int, high: int) -> int:
        return int(torch.randint(low, high + 1, (1,), generator=gen))

    depth = between(*p.depth)
    widths = tuple(between(*p.width) for _ in range(depth + 1))
    down = tuple(pick(p.downsampling) for _ in range(depth))
    up = [last_up, *(pick(p.upsampling) for _ in range(depth - 1))]  # up[0]: full-size stage
    kernels = tuple(
        TRANSPOSED_KERNELS[int(torch.randint(3, (1,), generator=gen))] if u == "transposed" else 0
        for u in up
    )
    return ArchSpec(
        widths=widths,
        down=down,  # type: ignore[arg-type]
        up=tuple(up),  # type: ignore[arg-type]
        kernels=kernels,
        norm=pick(p.norms),  # type: ignore[arg-type]
        act=pick(p.activations),  # type: ignore[arg-type]
    )


@GENERATORS.register("random_arch")
class RandomArch(TrainingFreeManipulation):
    """Reals mixed with the output of an untrained, randomly drawn encoder-decoder
    (see the module docstring)."""

    name = "random_arch"
    family = "random_arch"
    #: Whether :meth:`manipulate` needs ``donors`` (it does not).
    uses_donors: ClassVar[bool] = False
    Params: ClassVar[type[GeneratorParams]] = RandomArchParams
    params: RandomArchParams

    def _build(self) -> None:
        """Draw the pool's architectures (networks are built on first use, from ``(seed, i)``)."""
        p = self.params
        self.multiple = 2 ** p.depth[1]
        if self.image_size % self.multiple:
            raise ConfigError(
                f"random_arch needs an image size divisible by {self.multiple} "
                f"(2 ** the largest depth), got {self.image_size}; use a multiple of 8"
            )
        if p.nets < len(p.upsampling):
            raise ConfigError(
                f"random_arch nets={p.nets} cannot cover the {len(p.upsampling)} allowed "
                "up-sampling kinds; raise nets or allow fewer kinds"
            )
        order = torch.randperm(
            len(p.upsampling),
            generator=torch.Generator().manual_seed(derive_seed(self.seed, "random_arch", "order")),
        ).tolist()
        self.specs: list[ArchSpec] = [
            draw_spec(p, self._gen(i), p.upsampling[order[i % len(order)]]) for i in range(p.nets)
        ]
        self._nets: dict[int, RandomNet] = {}
        self.last_nets_: list[int] = []

    def _gen(self, index: int, what: str = "spec") -> torch.Generator:
        return torch.Generator().manual_seed(derive_seed(self.seed, "random_arch", what, index))

    def net(self, index: int) -> RandomNet:
        """Pool network ``index`` (built, on ``device``, the first time it is asked for)."""
        if index not in self._nets:
            net = RandomNet(self.specs[index], self._gen(index, "weights"))
            self._nets[index] = net.to(self.device).eval()
        return self._nets[index]

    def describe(self, index: int) -> str:
        """One line naming the architecture of pool network ``index``."""
        return self.specs[index].describe()

    def assign(self, n: int, rng: torch.Generator) -> tuple[list[int], torch.Tensor]:
        """Net indices (list of ``n``) and mix strengths [n] for a batch of ``n`` images;
        :meth:`manipulate` makes exactly this draw first with its ``rng``."""
        indices = torch.randint(self.params.nets, (n,), generator=rng).tolist()
        low, high = self.params.strength
        return indices, low + (high - low) * torch.rand(n, generator=rng)

    def mix(self, images: torch.Tensor, y: torch.Tensor, strength: torch.Tensor) -> torch.Tensor:
        """``clamp(x + s * r / std(r))`` [n, 3, H, W] with ``r = y - mean_hw(y)`` (see the module
        docstring); ``images`` x and net outputs ``y`` [n, 3, H, W], ``strength`` s [n]."""
        r = y - y.mean(dim=(2, 3), keepdim=True)
        r = r / r.flatten(1).std(dim=1).clamp_min(1e-6).view(-1, 1, 1, 1)
        return (images + strength.view(-1, 1, 1, 1).to(images) * r).clamp(0.0, 1.0)

    @torch.no_grad()
    def manipulate(
        self, images: torch.Tensor, rng: torch.Generator, donors: torch.Tensor | None = None
    ) -> torch.Tensor:
        """Manipulated copies [n, 3, H, W] in [0, 1] of reals ``images`` [n, 3, H, W] in [0, 1]
        (H, W multiples of ``2 ** max depth``); ``donors`` is not used."""
        if (
            images.ndim != 4
            or images.shape[1] != 3
            or images.shape[-1] % self.multiple
            or images.shape[-2] % self.multiple
        ):
            raise DataError(
                f"random_arch needs images [n, 3, H, W] with H and W divisible by {self.multiple}, "
                f"got {tuple(images.shape)}; resize them to the benchmark's image size first"
            )
        indices, strength = self.assign(len(images), rng)
        self.last_nets_ = indices
        out = torch.empty_like(images, dtype=torch.float32, device="cpu")
        for index in sorted(set(indices)):  # one forward per net, images of that net together
            rows = [j for j, i in enumerate(indices) if i == index]
            for start in range(0, len(rows), CHUNK):
                sel = torch.tensor(rows[start : start + CHUNK])
                x = images[sel].float().to(self.device)
                y = self.net(index)(2 * x - 1)
                out[sel] = self.mix(x, y, strength[sel]).cpu()
        return out
