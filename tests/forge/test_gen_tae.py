"""The real-decoder generators (tae_*): registration, mode semantics, inputs, determinism."""

from __future__ import annotations

import io
import zipfile
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from fakescope.errors import ConfigError
from fakescope.forge.generators.catalog import FAMILIES, GENERATORS
from fakescope.forge.generators.tae import DECODER_GENERATORS, TaeGenerator, decoder_generators
from fakescope.models.tae import TAE_SPECS
from fakescope.models.weights import WeightsError

SIZE = 64


def test_five_decoders_are_registered_training_free_manipulations() -> None:
    assert {"ldm_decoder", "random_arch"} <= set(FAMILIES)
    for decoder in TAE_SPECS:
        cls = GENERATORS.get(f"tae_{decoder}")
        assert cls is DECODER_GENERATORS[decoder]
        assert cls.family == "ldm_decoder" and cls.kind == "manipulation"
        assert cls.decoder == decoder and cls.Params().steps == 0
    assert decoder_generators("sd, flux2") == ["tae_sd", "tae_flux2"]
    with pytest.raises(ConfigError, match="unknown decoder 'sd4'; choose one of: sd, sdxl"):
        decoder_generators("sd4")


def test_missing_weights_is_one_line(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("FAKESCOPE_WEIGHTS", raising=False)
    with pytest.raises(WeightsError) as err:
        GENERATORS.get("tae_sd")({}, image_size=SIZE)
    assert "\n" not in str(err.value) and "FAKESCOPE_WEIGHTS" in str(err.value)


@pytest.fixture(scope="module")
def weights(shared_data: Path) -> str:
    return str(shared_data / "tiny-autoencoders.zip")


@pytest.fixture(scope="module")
def faces(shared_data: Path) -> torch.Tensor:
    """Four LFW faces (central 60 %) at 64 px: [4, 3, 64, 64] in [0, 1]."""
    out = []
    with zipfile.ZipFile(shared_data / "lfw-deepfunneled-8k.zip") as zf:
        names = sorted(n for n in zf.namelist() if n.endswith(".jpg"))
        for name in names[200:1000:200]:
            img = Image.open(io.BytesIO(zf.read(name))).convert("RGB").crop((50, 50, 200, 200))
            img = img.resize((SIZE, SIZE), Image.Resampling.BICUBIC)
            out.append(torch.from_numpy(np.array(img)).permute(2, 0, 1).float() / 255.0)
    return torch.stack(out)


def _gen(
    weights: str, mode: str = "reconstruct", size: int = SIZE, **extra: object
) -> TaeGenerator:
    return DECODER_GENERATORS["sd"](
        {"mode": mode, "weights": weights, **extra}, image_size=size, seed=3
    )


def _rng(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def _mad(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Mean absolute difference per image [N]."""
    return (a - b).abs().mean(dim=(1, 2, 3))


def test_modes_reconstruct_mix_noise(weights: str, faces: torch.Tensor) -> None:
    x, donors = faces, faces.roll(1, 0)
    rec = _gen(weights).manipulate(x, _rng())
    assert rec.shape == x.shape and float(rec.min()) >= 0 and float(rec.max()) <= 1
    assert (_mad(rec, x) < 0.08).all()  # close to the input (64 px faces: fine detail)
    assert (_mad(rec, x) < 0.4 * _mad(x, donors)).all()  # far closer than another face
    assert (_mad(rec, x) > 0.002).all()  # but not a copy: the decoder's own pixels
    mix = _gen(weights, "mix").manipulate(x, _rng(), donors)
    assert (_mad(mix, x) > 1.4 * _mad(rec, x)).all() and (_mad(mix, donors) > 0.05).all()
    zero = _gen(weights, "noise", strength=0.0).manipulate(x, _rng())
    assert torch.equal(zero, rec)
    weak = _gen(weights, "noise", strength=0.3).manipulate(x, _rng())
    strong = _gen(weights, "noise", strength=1.5).manipulate(x, _rng())
    assert (_mad(rec, x) < _mad(weak, x)).all() and (_mad(weak, x) < _mad(strong, x)).all()


def test_deterministic_from_the_seed_and_batch_independent(
    weights: str, faces: torch.Tensor
) -> None:
    gen = _gen(weights, "noise", strength=0.5)
    a = gen.manipulate(faces, _rng(1))
    assert torch.equal(a, gen.manipulate(faces, _rng(1)))
    assert not torch.equal(a, gen.manipulate(faces, _rng(2)))
    rec = _gen(weights)
    whole = rec.manipulate(faces, _rng())
    alone = torch.cat([rec.manipulate(faces[i : i + 1], _rng()) for i in range(len(faces))])
    assert torch.allclose(whole, alone, atol=1e-5)


def test_inputs_grey_rgba_16bit_and_odd_sizes(weights: str, faces: torch.Tensor) -> None:
    gen = _gen(weights)
    x = faces[:2]
    rgb = gen.manipulate(x, _rng())
    rgba = torch.cat([x, torch.ones_like(x[:, :1])], dim=1)
    assert torch.allclose(gen.manipulate(rgba, _rng()), rgb, atol=1e-6)
    x16 = (x * 65535).round().to(torch.int32)
    assert torch.allclose(gen.manipulate(x16, _rng()), rgb, atol=2e-3)
    grey = x.mean(dim=1, keepdim=True)
    out = gen.manipulate(grey, _rng())
    assert torch.allclose(out, gen.manipulate(grey.expand(-1, 3, -1, -1), _rng()))
    assert gen.manipulate(x[..., :61, :60], _rng()).shape == (2, 3, 56, 56)
    with pytest.raises(ConfigError, match="multiple of 8, got 60; pass --resolution 56"):
        _gen(weights, size=60)
