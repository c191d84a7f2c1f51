"""The generator contract: resumable, deterministic step-based training with safetensors checkpoints."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from torch import nn

from fakescope.errors import ConfigError
from fakescope.forge.generators.base import CHECKPOINT, GeneratorParams, ImageGenerator


class TinyGenerator(ImageGenerator):
    """Learns the mean colour of the reals; samples it plus noise."""

    name = "tiny-test"
    family = "vae"

    def __init__(self, params: dict[str, object], *, image_size: int, seed: int = 0) -> None:
        super().__init__(params, image_size=image_size, seed=seed)
        torch.manual_seed(seed)
        self.net = nn.Linear(4, 3)
        self.opt = torch.optim.Adam(self.net.parameters(), lr=self.params.lr)

    def modules(self) -> dict[str, nn.Module]:
        return {"net": self.net}

    def optimizers(self) -> dict[str, torch.optim.Optimizer]:
        return {"opt": self.opt}

    def train_step(self, batch: torch.Tensor, rng: torch.Generator) -> dict[str, float]:
        z = torch.randn(len(batch), 4, generator=rng)
        loss = ((self.net(z) - batch.mean(dim=(2, 3))) ** 2).mean()
        self.opt.zero_grad()
        loss.backward()
        self.opt.step()
        return {"loss": float(loss.detach())}

    def sample(self, n: int, rng: torch.Generator) -> torch.Tensor:
        colour = self.net(torch.randn(n, 4, generator=rng)).clamp(0, 1)
        return colour[:, :, None, None].expand(n, 3, self.image_size, self.image_size)


def _images() -> torch.Tensor:
    return torch.rand(32, 3, 8, 8, generator=torch.Generator().manual_seed(1))


def test_resumed_training_equals_uninterrupted(tmp_path: Path) -> None:
    params = {"steps": 10, "batch_size": 4, "lr": 0.05, "checkpoint_every": 3}
    whole = TinyGenerator(params, image_size=8)
    whole.fit(_images(), tmp_path / "whole")

    first = TinyGenerator({**params, "steps": 6}, image_size=8)
    first.fit(_images(), tmp_path / "split")
    assert (tmp_path / "split" / CHECKPOINT).is_file()
    resumed = TinyGenerator(params, image_size=8)
    assert resumed.load_checkpoint(tmp_path / "split") and resumed.step_ == 6
    resumed.fit(_images(), tmp_path / "split")

    assert resumed.step_ == whole.step_ == 10
    for key, value in whole.state_tensors().items():
        torch.testing.assert_close(resumed.state_tensors()[key], value, rtol=0, atol=0)


def test_training_changes_weights_and_is_seeded(tmp_path: Path) -> None:
    params = {"steps": 5, "batch_size": 4, "lr": 0.05}
    a = TinyGenerator(params, image_size=8)
    before = a.state_tensors()["net.weight"].clone()
    a.fit(_images(), tmp_path / "a")
    b = TinyGenerator(params, image_size=8)
    b.fit(_images(), tmp_path / "b")
    assert not torch.equal(before, a.state_tensors()["net.weight"])
    torch.testing.assert_close(
        a.state_tensors()["net.weight"], b.state_tensors()["net.weight"], rtol=0, atol=0
    )
    out = a.sample(3, torch.Generator().manual_seed(0))
    assert out.shape == (3, 3, 8, 8) and float(out.min()) >= 0 and float(out.max()) <= 1


def test_unknown_param_and_wrong_kind_are_clear() -> None:
    with pytest.raises(ConfigError, match="unknown tiny-test generator parameter 'stepz'"):
        TinyGenerator({"stepz": 3}, image_size=8)
    with pytest.raises(NotImplementedError, match="not a manipulation"):
        TinyGenerator({}, image_size=8).manipulate(torch.zeros(1, 3, 8, 8), torch.Generator())
    assert GeneratorParams().steps > 0


def test_training_free_manipulation_ignores_steps_and_writes_no_checkpoint(tmp_path: Path) -> None:
    """A preset's default steps must not run empty "training" for a generator with no weights."""
    from fakescope.forge.generators.self_blend import SelfBlend

    gen = SelfBlend({"steps": 7}, image_size=16)
    gen.fit(torch.rand(4, 3, 16, 16), tmp_path / "work")
    assert gen.step_ == 0
    assert not (tmp_path / "work").exists() or not any((tmp_path / "work").iterdir())
