"""Tiny autoencoders: the architecture against the published weights, the PSNR load check,
the weights resolver and its sha256 verification (one-line errors)."""

from __future__ import annotations

import io
import zipfile
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from safetensors.torch import save_file

from fakescope.models.tae import (
    TAE_SPECS,
    WEIGHTS_ENV,
    TinyAutoencoder,
    load_tae,
    resolve_weights,
    tae_spec,
)
from fakescope.models.weights import WeightsError

#: Parameter counts (encoder, decoder) from the README of tiny-autoencoders.zip.
README_PARAMS = {
    "sd": (1_222_532, 1_222_531),
    "sdxl": (1_222_532, 1_222_531),
    "sd3": (1_229_456, 1_229_443),
    "flux1": (1_229_456, 1_229_443),
    "flux2": (1_338_528, 1_338_499),
}
#: The README's load check: PSNR about 27 dB (taesd, taesdxl), 29-31 dB (the others);
#: a wrong layer order gives < 15 dB.
MIN_PSNR = {"sd": 25.0, "sdxl": 25.0, "sd3": 27.0, "flux1": 27.0, "flux2": 27.0}


def _count(module: torch.nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


@pytest.mark.parametrize("decoder", sorted(TAE_SPECS))
def test_parameter_counts_match_the_published_networks(decoder: str) -> None:
    model = TinyAutoencoder(decoder).requires_grad_(False)
    assert (_count(model.encoder), _count(model.decoder)) == README_PARAMS[decoder]
    z = model.encode(torch.rand(2, 3, 24, 16))
    assert z.shape == (2, TAE_SPECS[decoder].latent_channels, 3, 2)
    x = model.decode(torch.randn(2, TAE_SPECS[decoder].latent_channels, 3, 2) * 10)
    assert x.shape == (2, 3, 24, 16) and float(x.min()) >= 0.0 and float(x.max()) <= 1.0


def test_unknown_decoder_is_one_line_listing_the_choices() -> None:
    with pytest.raises(WeightsError) as err:
        tae_spec("sd5")
    msg = str(err.value)
    assert "\n" not in msg and "'sd5'" in msg and "sd, sdxl, sd3, flux1, flux2" in msg


def test_resolver_order_explicit_then_configured_then_env(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    a, b, c = (tmp_path / n for n in "abc")
    for d in (a, b, c):
        d.mkdir()
    monkeypatch.setenv(WEIGHTS_ENV, str(c))
    assert resolve_weights("taesd", a, b) == a
    assert resolve_weights("taesd", None, b) == b
    assert resolve_weights("taesd") == c
    monkeypatch.delenv(WEIGHTS_ENV)
    with pytest.raises(WeightsError) as err:
        resolve_weights("taesd")
    msg = str(err.value)
    assert "\n" not in msg and "--weights" in msg and WEIGHTS_ENV in msg
    with pytest.raises(WeightsError, match="does not exist"):
        resolve_weights("taesd", tmp_path / "nowhere")


def _fake_weights(folder: Path, decoder: str) -> None:
    """Files with the right names and shapes but other values (so: the wrong sha256)."""
    model = TinyAutoencoder(decoder)
    stem = TAE_SPECS[decoder].stem
    folder.mkdir(parents=True, exist_ok=True)
    for part, module in (("encoder", model.encoder), ("decoder", model.decoder)):
        save_file(
            {k: v.contiguous() for k, v in module.state_dict().items()},
            str(folder / f"{stem}_{part}.safetensors"),
        )


def test_wrong_or_missing_files_give_one_line_errors(tmp_path: Path) -> None:
    _fake_weights(tmp_path / "nested" / "deeper", "sd")
    with pytest.raises(WeightsError) as err:
        load_tae("sd", tmp_path)  # found in a sub-folder, refused by its sha256
    msg = str(err.value)
    assert "\n" not in msg and "taesd_encoder.safetensors" in msg and "sha256" in msg
    assert "--weights" in msg and WEIGHTS_ENV in msg
    with pytest.raises(WeightsError) as err:
        load_tae("flux2", tmp_path)
    msg = str(err.value)
    assert "\n" not in msg and "taef2_encoder.safetensors is missing" in msg and WEIGHTS_ENV in msg


# ----------------------------------------------------------------- real weights
@pytest.fixture(scope="module")
def weights_zip(shared_data: Path) -> Path:
    return shared_data / "tiny-autoencoders.zip"


@pytest.fixture(scope="module")
def face(shared_data: Path) -> torch.Tensor:
    """One LFW face (the whole 250x250 centre square) bicubically resized to 256x256: [1, 3, 256, 256]."""
    with zipfile.ZipFile(shared_data / "lfw-deepfunneled-8k.zip") as zf:
        name = sorted(n for n in zf.namelist() if n.endswith(".jpg"))[100]
        img = Image.open(io.BytesIO(zf.read(name))).convert("RGB")
    img = img.resize((256, 256), Image.Resampling.BICUBIC)
    return torch.from_numpy(np.array(img)).permute(2, 0, 1)[None].float() / 255.0


def psnr(a: torch.Tensor, b: torch.Tensor) -> float:
    """PSNR in dB of images in [0, 1] (higher = closer)."""
    return float(10 * torch.log10(1.0 / ((a - b) ** 2).mean()))


@pytest.mark.parametrize("decoder", sorted(TAE_SPECS))
def test_published_weights_load_strictly_and_reconstruct_a_face(
    decoder: str, weights_zip: Path, face: torch.Tensor
) -> None:
    model = load_tae(decoder, weights_zip)  # a zip whose files sit in a sub-folder
    assert all(p.dtype == torch.float32 for p in model.parameters())
    with torch.no_grad():
        rec = model(face)
    assert psnr(rec, face) > MIN_PSNR[decoder]
    with torch.no_grad():  # the control: an untrained network of the same shape is noise
        assert psnr(TinyAutoencoder(decoder)(face), face) < 15.0


def test_corrupt_published_file_is_refused_and_reconverted_tensors_accepted(
    weights_zip: Path, tmp_path: Path
) -> None:
    with zipfile.ZipFile(weights_zip) as zf:
        names = {n.rsplit("/", 1)[-1]: n for n in zf.namelist()}
        enc = zf.read(names["taesd_encoder.safetensors"])
        dec = bytearray(zf.read(names["taesd_decoder.safetensors"]))
    (tmp_path / "taesd_encoder.safetensors").write_bytes(enc)
    dec[-1] ^= 0xFF  # one flipped byte inside the last tensor
    bad = tmp_path / "taesd_decoder.safetensors"
    bad.write_bytes(bytes(dec))
    with pytest.raises(WeightsError) as err:
        load_tae("sd", tmp_path)
    msg = str(err.value)
    assert "\n" not in msg and str(bad) in msg and "sha256" in msg and WEIGHTS_ENV in msg
    # The same tensors in another container (float32, other header) are the same weights.
    good = load_tae("sd", weights_zip)
    save_file({k: v.contiguous() for k, v in good.decoder.state_dict().items()}, str(bad))
    again = load_tae("sd", tmp_path)
    for key, value in good.state_dict().items():
        assert torch.equal(value, again.state_dict()[key])


def test_fetching_the_published_pickles_needs_explicit_consent(tmp_path: Path) -> None:
    """The author's .pth files are pickles: nothing is downloaded or read without consent."""
    from fakescope.models.tae import fetch_published
    from fakescope.models.weights import WeightsError

    with pytest.raises(WeightsError, match="allow_pickle=True"):
        fetch_published(tmp_path / "w")
    assert not (tmp_path / "w").exists()
