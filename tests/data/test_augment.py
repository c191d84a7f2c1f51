"""Training augmentation: the CNNDetection blur/JPEG recipe, flips, crops, picklability."""

from __future__ import annotations

import pickle
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from PIL import Image
from pydantic import ValidationError

from fakescope.data.augment import AugmentConfig, RandomBlur, RandomJPEG, train_transform
from fakescope.data.decode import load_image
from fakescope.data.transforms import InputConfig, eval_transform
from tests.conftest import write_image

CFG = InputConfig(size=32)
PLAIN: dict[str, Any] = {"hflip": False, "crop": "none"}


@pytest.fixture
def img(tmp_path: Path) -> Image.Image:
    return load_image(write_image(tmp_path / "a.png", seed=3, size=32, fake=True, fmt="PNG"))


def test_all_off_equals_eval_transform(img: Image.Image) -> None:
    torch.manual_seed(0)
    out = train_transform(CFG, AugmentConfig(**PLAIN))(img)
    assert torch.equal(out, eval_transform(CFG)(img))


def test_default_random_crop_keeps_scale_of_square_images(img: Image.Image) -> None:
    # "random" crop of a square image at model size is the eval geometry (same pixels, same scale)
    out = train_transform(CFG, AugmentConfig(hflip=False))(img)
    assert torch.equal(out, eval_transform(CFG)(img))


def test_blur_probability_one_changes_the_image(img: Image.Image) -> None:
    aug = AugmentConfig(**PLAIN, blur_prob=1.0, blur_sigma=(1.0, 3.0))
    out = train_transform(CFG, aug)(img)
    assert not torch.equal(out, eval_transform(CFG)(img))
    assert out.shape == (3, 32, 32)


def test_jpeg_probability_one_changes_the_image(img: Image.Image) -> None:
    aug = AugmentConfig(**PLAIN, jpeg_prob=1.0, jpeg_quality=(30, 40))
    out = train_transform(CFG, aug)(img)
    assert not torch.equal(out, eval_transform(CFG)(img))


def test_random_blur_and_jpeg_respect_probability(img: Image.Image) -> None:
    torch.manual_seed(0)
    assert RandomBlur(0.0, (1.0, 3.0))(img) is img
    assert RandomJPEG(0.0, (30, 100))(img) is img
    changed = sum(RandomBlur(0.5, (2.0, 3.0))(img) is not img for _ in range(200))
    assert 60 < changed < 140


def test_hflip_probability_one_mirrors(img: Image.Image) -> None:
    out = train_transform(CFG, AugmentConfig(hflip=True, crop="none"))
    flips = [torch.equal(out(img), eval_transform(CFG)(img).flip(-1)) for _ in range(30)]
    assert any(flips) and not all(flips)


def test_resized_crop_and_large_input_give_model_size(tmp_path: Path) -> None:
    big = load_image(write_image(tmp_path / "b.png", seed=1, size=64, fmt="PNG"))
    for crop in ("random", "resized", "none"):
        assert train_transform(CFG, AugmentConfig(crop=crop))(big).shape == (3, 32, 32)
    crop_cfg = InputConfig(size=32, resize="crop")
    a = train_transform(crop_cfg, AugmentConfig(hflip=False))
    outs = {tuple(a(big)[0, 0, :4].tolist()) for _ in range(10)}
    assert len(outs) > 1  # random position, no resizing


def test_preset_sets_both_probabilities() -> None:
    aug = AugmentConfig(preset="blur_jpeg_0.1")
    assert (aug.blur_prob, aug.jpeg_prob) == (0.1, 0.1)
    assert aug.blur_sigma == (0.0, 3.0) and aug.jpeg_quality == (30, 100)
    # a dumped config validates again (bundle round trip)
    assert AugmentConfig.model_validate(aug.model_dump(mode="json")) == aug
    with pytest.raises(ValidationError, match="preset"):
        AugmentConfig(preset="blur_jpeg_0.5", blur_prob=0.2)
    with pytest.raises(ValidationError):
        AugmentConfig(jpeg_quality=(30, 120))
    with pytest.raises(ValidationError):
        AugmentConfig(blur_sigma=(2.0, 1.0))


def test_transform_pickles_and_is_seeded(img: Image.Image) -> None:
    aug = AugmentConfig(preset="blur_jpeg_0.5", crop="resized")
    t = pickle.loads(pickle.dumps(train_transform(CFG, aug)))
    torch.manual_seed(7)
    a = t(img)
    torch.manual_seed(7)
    b = t(img)
    assert torch.equal(a, b)
    assert np.isfinite(a.numpy()).all()
