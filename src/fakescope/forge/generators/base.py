"""The generator-zoo contract: small generative models and manipulations trained on CPU.

Two kinds of generator make the benchmark's fakes:

* a **sampler** (GANs, diffusion, latent diffusion, VAE, flow) learns the
  distribution of the real train split and draws new images from noise;
* a **manipulation** (learned up-sampler, face swap, self-blending, inpainting)
  transforms a given real image (its *source*, recorded in the manifest).

Images cross this interface as float tensors [N, 3, H, W] in [0, 1], at the
benchmark's working resolution ``image_size``. The builder encodes every
output exactly like the reals (:mod:`fakescope.forge.encode`), so a generator
never writes files itself.

Training is measured in optimisation **steps** (a preset gives each generator
its steps), never in wall-clock time, so a build is reproducible. Training
state is checkpointed to ``workdir`` as safetensors (never pickles) every
``checkpoint_every`` steps, and :meth:`ImageGenerator.fit` resumes from the
last checkpoint: a killed build restarts where it stopped with the same result.
"""

from __future__ import annotations

import json
from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, ClassVar, Literal

import torch
from pydantic import BaseModel, ConfigDict, Field
from safetensors import safe_open
from safetensors.torch import load_file, save_file
from torch import nn

from fakescope.fileio import atomic_path
from fakescope.registry import Registry

Kind = Literal["sampler", "manipulation"]
CHECKPOINT = "checkpoint.safetensors"

#: Families the manifest's ``family`` column may hold.
FAMILIES: tuple[str, ...] = (
    "gan",
    "diffusion",
    "latent_diffusion",
    "vae",
    "flow",
    "upsampler",
    "face_swap",
    "self_blend",
    "inpaint",
    "ldm_decoder",
    "random_arch",
)


class GeneratorParams(BaseModel):
    """Settings every generator takes; subclasses add their own (unknown keys are an error)."""

    model_config = ConfigDict(extra="forbid")

    steps: int = Field(default=1000, ge=0)
    batch_size: int = Field(default=64, ge=1)
    lr: float = Field(default=2e-4, gt=0)
    checkpoint_every: int = Field(default=200, ge=1)


class ImageGenerator(ABC):
    """Base class of the generator zoo (see the module docstring).

    Subclasses set ``name``, ``family``, ``kind``, ``Params``, build their
    networks in ``__init__`` (deterministically from ``seed``), and implement
    :meth:`modules`, :meth:`train_step` and :meth:`sample` or :meth:`manipulate`.
    """

    name: ClassVar[str] = ""
    family: ClassVar[str] = ""
    kind: ClassVar[Kind] = "sampler"
    Params: ClassVar[type[GeneratorParams]] = GeneratorParams

    def __init__(
        self,
        params: GeneratorParams | Mapping[str, Any] | None = None,
        *,
        image_size: int,
        seed: int = 0,
        device: str = "cpu",
    ) -> None:
        from fakescope.config import validate_params

        raw = params.model_dump() if isinstance(params, GeneratorParams) else dict(params or {})
        self.params = validate_params(
            self.Params, raw, f"{self.name or type(self).__name__} generator"
        )
        self.image_size = int(image_size)
        self.seed = int(seed)
        self.device = torch.device(device)
        self.step_ = 0
        self._build()

    def _build(self) -> None:  # noqa: B027 - optional hook
        """Create the networks and optimizers; runs at the end of ``__init__``, once
        ``params``, ``image_size``, ``seed`` and ``device`` are set (default: nothing).
        Subclasses override this instead of repeating the ``__init__`` signature."""

    # ----------------------------------------------------------------- hooks
    @abstractmethod
    def modules(self) -> dict[str, nn.Module]:
        """Every network (by name) whose weights define the generator."""

    @abstractmethod
    def optimizers(self) -> dict[str, torch.optim.Optimizer]:
        """Every optimizer (by name); their state is checkpointed too."""

    @abstractmethod
    def train_step(self, batch: torch.Tensor, rng: torch.Generator) -> dict[str, float]:
        """One optimisation step on real images ``batch`` [B, 3, H, W] in [0, 1]; returns losses."""

    def sample(self, n: int, rng: torch.Generator) -> torch.Tensor:
        """``n`` new images [n, 3, H, W] in [0, 1] (samplers only)."""
        raise NotImplementedError(f"{self.name} is a {self.kind}, not a sampler")

    def manipulate(
        self, images: torch.Tensor, rng: torch.Generator, donors: torch.Tensor | None = None
    ) -> torch.Tensor:
        """Manipulated copies [n, 3, H, W] in [0, 1] of real ``images`` (manipulations only).

        ``donors`` [n, 3, H, W]: other real images (e.g. the identity a face swap
        pastes in); None when the generator needs none.
        """
        raise NotImplementedError(f"{self.name} is a {self.kind}, not a manipulation")

    # ------------------------------------------------------------- training
    def fit(
        self,
        images: torch.Tensor,
        workdir: Path,
        *,
        on_step: Callable[[int, dict[str, float]], None] | None = None,
    ) -> None:
        """Train for ``params.steps`` steps on ``images`` [N, 3, H, W] in [0, 1], resumably.

        Batches are drawn with a generator seeded by ``(seed, step)``, so a run
        resumed from a checkpoint sees exactly the batches an uninterrupted run would.
        """
        workdir.mkdir(parents=True, exist_ok=True)
        self.load_checkpoint(workdir)
        for module in self.modules().values():
            module.train()
        while self.step_ < self.params.steps:
            rng = torch.Generator().manual_seed(self.seed * 1_000_003 + self.step_)
            idx = torch.randint(len(images), (self.params.batch_size,), generator=rng)
            losses = self.train_step(images[idx].to(self.device), rng)
            self.step_ += 1
            if on_step is not None:
                on_step(self.step_, losses)
            if self.step_ % self.params.checkpoint_every == 0 or self.step_ == self.params.steps:
                self.save_checkpoint(workdir)
        for module in self.modules().values():
            module.eval()

    # ---------------------------------------------------------- checkpoints
    def state_tensors(self) -> dict[str, torch.Tensor]:
        """Weights of every module, prefixed by module name (for safetensors)."""
        out: dict[str, torch.Tensor] = {}
        for name, module in self.modules().items():
            for key, value in module.state_dict().items():
                out[f"{name}.{key}"] = value.detach().cpu().contiguous().clone()
        return out

    def save_checkpoint(self, workdir: Path) -> None:
        """Atomically write weights, optimizer state and the step counter to ``workdir``."""
        tensors = self.state_tensors()
        opt_meta: dict[str, Any] = {}
        for name, opt in self.optimizers().items():
            state = opt.state_dict()
            for pid, slots in state["state"].items():
                for slot, value in slots.items():
                    key = f"optim.{name}.{pid}.{slot}"
                    tensor = value if torch.is_tensor(value) else torch.tensor(value)
                    tensors[key] = tensor.detach().cpu().contiguous().clone()
            opt_meta[name] = {"param_groups": state["param_groups"]}
        # One file, one atomic rename: weights, optimizer state and step never disagree.
        meta = {"step": str(self.step_), "optimizers": json.dumps(opt_meta)}
        with atomic_path(workdir / CHECKPOINT) as tmp:
            save_file(tensors, str(tmp), metadata=meta)

    def load_checkpoint(self, workdir: Path) -> bool:
        """Restore the last checkpoint in ``workdir`` if there is one; True when restored."""
        weights = workdir / CHECKPOINT
        if not weights.is_file():
            return False
        tensors = load_file(str(weights))
        with safe_open(str(weights), framework="pt") as fh:
            meta = fh.metadata()
        opt_meta = json.loads(meta["optimizers"])
        for name, module in self.modules().items():
            prefix = f"{name}."
            module.load_state_dict(
                {k[len(prefix) :]: v for k, v in tensors.items() if k.startswith(prefix)}
            )
        for name, opt in self.optimizers().items():
            state: dict[int, dict[str, torch.Tensor]] = {}
            prefix = f"optim.{name}."
            for key, value in tensors.items():
                if key.startswith(prefix):
                    pid, slot = key[len(prefix) :].split(".", 1)
                    state.setdefault(int(pid), {})[slot] = value
            opt.load_state_dict({"state": state, "param_groups": opt_meta[name]["param_groups"]})
        self.step_ = int(meta["step"])
        return True


class TrainingFreeManipulation(ImageGenerator):
    """A manipulation with nothing to learn (face swap, self-blending): no modules, no steps."""

    kind: ClassVar[Kind] = "manipulation"

    def modules(self) -> dict[str, nn.Module]:
        """None: no learned weights."""
        return {}

    def optimizers(self) -> dict[str, torch.optim.Optimizer]:
        """None: no learned weights."""
        return {}

    def train_step(self, batch: torch.Tensor, rng: torch.Generator) -> dict[str, float]:
        """Nothing to learn; returns no losses."""
        return {}

    def fit(
        self,
        images: torch.Tensor,
        workdir: Path,
        *,
        on_step: Callable[[int, dict[str, float]], None] | None = None,
    ) -> None:
        """Nothing to learn: no step runs and no (empty) checkpoint is written, whatever a
        preset's ``steps`` says for this generator."""


#: All generators of the zoo, by name (filled by importing :mod:`fakescope.forge.generators.catalog`).
GENERATORS: Registry[type[ImageGenerator]] = Registry(
    "generator", catalog="fakescope.forge.generators.catalog"
)
