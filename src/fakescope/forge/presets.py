"""Benchmark presets: which generators, how many images, how long each generator trains.

=========  =====  ==========================================  =====================================
preset     size   generators                                  images per generator (train/val/test)
=========  =====  ==========================================  =====================================
``smoke``  32     the non-face zoo, a few steps each          8 / 4 / 8 fakes + as many reals
``mini``   32     the non-face zoo, ~30 s of training each    160 / 40 / 100 fakes + as many reals
``cifar``  32     the non-face zoo, <= 20 min each            2,000 / 250 / 1,000 fakes + reals
``faces``  128    the non-face zoo + face_swap, self_blend,   2,000 / 250 / 1,000 fakes + reals
                  inpaint; LFW's central 60 % crop
=========  =====  ==========================================  =====================================

``aligned`` (256 px): the five real-decoder autoencoders (tae_sd, tae_sdxl,
tae_sd3, tae_flux1, tae_flux2); every source image is written as a real beside
its reconstruction by each decoder.

Budgets (2 CPU cores): ``smoke`` <= 60 s in all; ``mini`` <= 15 min in all
(4 min 49 s measured from the bundled CIFAR-10 sample, 6-55 s of training per
generator, so the README demo fits in 10 min); ``cifar`` / ``faces`` <= 20 min
of training per generator. Training is counted in steps (a build is
reproducible), so the budgets are met by the per-generator ``steps`` tables
below, set from each generator's measured seconds per step on 2 cores
(``cifar`` and ``faces`` are not yet confirmed by a timed full build).

``mini`` fits the 3,000 bundled CIFAR-10 test images (no split: 30 % is held
out for test): it needs 1,600 train/val and 800 test images with disjoint reals.
``faces`` shares reals across generators (``share_reals``): LFW's 8,000 faces
cannot give 10 generators 3,250 disjoint reals each. Shared or not, each source
image belongs to exactly one split for every generator.

``aligned`` (issue 22) pairs every real with its own reconstruction
(``pairs``: a manipulation's source *is* the real of its pair; ``all_images``:
every usable image of each split is used, ``counts`` are then minimums).
**Compression history** (``history``): real photos carry a JPEG history that
decoder outputs lack, so a detector could learn "JPEG grid = real". With
``history: equalize`` every real is first down-scaled by ``history_scale``
(0.5, antialiased: the 8x8 JPEG grid is averaged away) before the crop and
resize, the fake is made from that same image, and both are written through
the one encode path as JPEG ``history_quality`` (90) with ``history_subsampling``
(4:2:0) and no metadata, whatever the source format. ``history: keep`` is the
naive variant (the source format is matched as for every other preset), for
comparison.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from fakescope.errors import ConfigError

#: Samplers and the learned up-sampler: they work on any images.
NON_FACE: tuple[str, ...] = (
    "dcgan",
    "resize_gan",
    "ddpm",
    "latent_diffusion",
    "vae",
    "realnvp",
    "upsampler",
)
#: Face manipulations (aligned face crops only).
FACE: tuple[str, ...] = ("face_swap", "self_blend", "inpaint")
#: The real-decoder autoencoders (:mod:`fakescope.forge.generators.tae`), by decoder name.
DECODERS: tuple[str, ...] = ("sd", "sdxl", "sd3", "flux1", "flux2")


class SplitCounts(BaseModel):
    """Fakes per generator in each split; each split gets as many reals."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    train: int = Field(ge=1)
    val: int = Field(ge=1)
    test: int = Field(ge=1)

    def of(self, split: str) -> int:
        """The count of ``split`` ("train", "val" or "test")."""
        return int(getattr(self, split))


class Preset(BaseModel):
    """Everything a build depends on besides the source and the seed (unknown keys are errors)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str
    description: str = ""
    #: Working resolution (square) of every image of the benchmark.
    resolution: int = Field(ge=8, le=1024)
    #: Side of the centred square crop, as a fraction of the source's shorter side.
    crop: float = Field(default=1.0, gt=0, le=1)
    generators: tuple[str, ...]
    counts: SplitCounts
    #: Training steps per generator; generators not listed train ``default_steps``.
    steps: dict[str, int] = Field(default_factory=dict)
    default_steps: int = Field(default=100, ge=0)
    #: Extra generator parameters per generator (e.g. ``{"ddpm": {"batch_size": 32}}``).
    generator_params: dict[str, dict[str, Any]] = Field(default_factory=dict)
    #: Fraction of a source without a test split held out as its test part.
    holdout: float = Field(default=0.3, gt=0, lt=1)
    #: Reals (and manipulation sources) may repeat across generators (never across splits).
    share_reals: bool = False
    #: At most this many train-split images are decoded for the generators to train on.
    max_train_images: int = Field(default=10_000, ge=1)
    #: Images per sampling / manipulation batch.
    sample_batch: int = Field(default=64, ge=1)
    #: Images per set for the Frechet distances (0 = skip the quality step).
    fd_images: int = Field(default=500, ge=0)
    #: Images in each generator's sample grid.
    grid_images: int = Field(default=16, ge=1)
    #: Training-time budgets in seconds (reported next to the measured times).
    budget_train_s_per_generator: float = Field(default=1200.0, gt=0)
    budget_total_s: float | None = None
    seed: int = 0
    #: A manipulation's source is the real of its pair (fake i is made from real i).
    pairs: bool = False
    #: Every usable image of each split part is used (``counts`` are then minimums).
    all_images: bool = False
    #: With ``all_images`` and no val folder: the fraction of the train part carved as val.
    val_fraction: float = Field(default=0.1, gt=0, lt=1)
    #: ``keep``: match the source's format; ``equalize``: one compression history for all
    #: (down-scale reals by ``history_scale`` first, write every file as JPEG q90 4:2:0).
    history: Literal["keep", "equalize"] = "keep"
    history_scale: float = Field(default=0.5, gt=0, lt=1)
    history_quality: int = Field(default=90, ge=1, le=100)
    #: Pillow's chroma-subsampling code: 0 = 4:4:4, 1 = 4:2:2, 2 = 4:2:0.
    history_subsampling: Literal[0, 1, 2] = 2
    #: Draw each generator's mean noise-residual spectrum beside the reals' (spectra.png,
    #: shown in summary.html); needs images of at least 16 px.
    spectra: bool = False

    @property
    def prescale(self) -> float:
        """Factor every source image is down-scaled by before the crop (1.0 = none)."""
        return self.history_scale if self.history == "equalize" else 1.0

    def steps_for(self, generator: str) -> int:
        """Training steps of ``generator`` in this preset."""
        return int(self.steps.get(generator, self.default_steps))

    def params_for(self, generator: str) -> dict[str, Any]:
        """The parameters a generator is built with: its extra params plus ``steps``."""
        return {**self.generator_params.get(generator, {}), "steps": self.steps_for(generator)}


PRESETS: dict[str, Preset] = {
    "smoke": Preset(
        name="smoke",
        description="CI check: a few seconds of training per generator, <= 60 s in all",
        resolution=32,
        generators=NON_FACE,
        counts=SplitCounts(train=8, val=4, test=8),
        default_steps=5,
        generator_params={
            **{g: {"batch_size": 8, "checkpoint_every": 5} for g in NON_FACE},
            "ddpm": {"batch_size": 8, "checkpoint_every": 5, "sampling_steps": 4},
            "latent_diffusion": {"batch_size": 8, "checkpoint_every": 5, "sampling_steps": 4},
        },
        max_train_images=256,
        sample_batch=16,
        fd_images=0,
        grid_images=8,
        budget_train_s_per_generator=5.0,
        budget_total_s=60.0,
    ),
    "mini": Preset(
        name="mini",
        description="experiments and the README demo: ~5 min on 2 CPU cores at 32 px",
        resolution=32,
        generators=NON_FACE,
        counts=SplitCounts(train=160, val=40, test=100),
        # Timed full build (bundled sample, 2 cores, idle): training 31 / 39 / 55 / 39 / 32 / 18 / 6 s
        # in this order; the whole build 4 min 49 s.
        steps={
            "dcgan": 300,
            "resize_gan": 220,
            "ddpm": 450,
            "latent_diffusion": 700,
            "vae": 550,
            "realnvp": 200,
            "upsampler": 75,
        },
        generator_params={
            "ddpm": {"sampling_steps": 25},
            "latent_diffusion": {"sampling_steps": 25},
        },
        default_steps=300,
        max_train_images=2_100,
        fd_images=50,
        budget_train_s_per_generator=60.0,
        budget_total_s=900.0,
    ),
    "cifar": Preset(
        name="cifar",
        description="standard CIFAR-10 benchmark: <= 20 min of training per generator",
        resolution=32,
        generators=NON_FACE,
        counts=SplitCounts(train=2_000, val=250, test=1_000),
        # <= 20 min per generator on 2 cores, from the authors' per-step timings (unconfirmed)
        steps={
            "dcgan": 5_000,
            "resize_gan": 4_000,
            "ddpm": 10_000,
            "latent_diffusion": 15_000,
            "vae": 12_000,
            "realnvp": 3_000,
            "upsampler": 2_500,
        },
        default_steps=5_000,
        max_train_images=20_000,
        fd_images=500,
        budget_train_s_per_generator=1200.0,
    ),
    "faces": Preset(
        name="faces",
        description="LFW faces at 128 px (central 60 % crop): the zoo plus face manipulations",
        resolution=128,
        crop=0.6,
        generators=NON_FACE + FACE,
        counts=SplitCounts(train=2_000, val=250, test=1_000),
        # <= 20 min per generator at 128 px batch 16, from the authors' timings (unconfirmed)
        steps={
            "dcgan": 1_400,
            "resize_gan": 900,
            "ddpm": 1_800,
            "latent_diffusion": 2_500,
            "vae": 3_000,
            "realnvp": 180,
            "upsampler": 700,
            "face_swap": 0,
            "self_blend": 0,
            "inpaint": 800,
        },
        default_steps=2_000,
        generator_params={
            **{g: {"batch_size": 16} for g in (*NON_FACE, "inpaint")},
            "ddpm": {"batch_size": 16, "sampling_steps": 20},
            "latent_diffusion": {"batch_size": 16, "sampling_steps": 25},
        },
        share_reals=True,
        max_train_images=2_500,
        sample_batch=32,
        fd_images=500,
        budget_train_s_per_generator=1200.0,
    ),
    "aligned": Preset(
        name="aligned",
        description=(
            "every real beside its reconstruction by five real latent-diffusion decoders, "
            "one compression history for both"
        ),
        resolution=256,
        generators=tuple(f"tae_{d}" for d in DECODERS),
        counts=SplitCounts(train=1, val=1, test=1),
        default_steps=0,
        pairs=True,
        all_images=True,
        share_reals=True,
        history="equalize",
        spectra=True,
        max_train_images=1,
        sample_batch=8,
        fd_images=200,
        grid_images=16,
        budget_train_s_per_generator=1.0,
    ),
}


def get_preset(preset: str | Preset, **overrides: Any) -> Preset:
    """The preset named ``preset`` (or ``preset`` itself) with ``overrides`` applied (None = keep).

    Raises a one-line :class:`ConfigError` for an unknown name or an invalid override.
    """
    if isinstance(preset, Preset):
        base = preset
    elif preset in PRESETS:
        base = PRESETS[preset]
    else:
        raise ConfigError(f"unknown preset {preset!r}; choose one of: {', '.join(PRESETS)}")
    updates = {k: v for k, v in overrides.items() if v is not None}
    if not updates:
        return base
    try:
        return Preset.model_validate({**base.model_dump(), **updates})
    except ValidationError as exc:
        err = exc.errors()[0]
        key = ".".join(str(p) for p in err["loc"])
        raise ConfigError(f"invalid preset setting {key!r}: {err['msg']}") from None
