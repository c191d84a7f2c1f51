"""The ``cnn`` defaults keep the artefacts: packaged ImageNet start, native-resolution crop.

No training here: the geometry is checked on tiny images, the start point on the
resolved ``pretrained`` flag (the packaged weights themselves are tested in tests/models).
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from fakescope.data.augment import AugmentConfig, train_transform
from fakescope.data.transforms import InputConfig, UpscaleIfSmaller, eval_transform
from fakescope.detectors.cnn import CNNDetector


def test_defaults_fine_tune_the_packaged_backbone_at_native_resolution() -> None:
    det = CNNDetector()
    p = det.params
    assert p.arch == "efficientnet_lite0" and p.pretrained is None and det._pretrained
    assert det.input_config.resize == "native" and det.input_config.size == 224
    # other archs stay offline (random init) unless pretrained is asked for explicitly
    assert not CNNDetector({"arch": "resnet18"})._pretrained
    assert CNNDetector({"arch": "resnet18", "pretrained": True})._pretrained
    assert not CNNDetector({"weights": "start.safetensors"})._pretrained


def test_native_geometry_crops_large_images_pixel_for_pixel() -> None:
    rng = np.random.default_rng(0)
    arr = rng.integers(0, 256, (40, 48, 3), dtype=np.uint8)
    cfg = InputConfig(size=16, mean=(0.0, 0.0, 0.0), std=(1.0, 1.0, 1.0), resize="native")
    out = eval_transform(cfg)(Image.fromarray(arr))
    assert out.shape == (3, 16, 16)
    top, left = (40 - 16) // 2, (48 - 16) // 2
    expected = torch.from_numpy(arr[top : top + 16, left : left + 16]).permute(2, 0, 1) / 255.0
    assert torch.allclose(out, expected.float(), atol=1e-6)  # no resampling at all


def test_native_geometry_upscales_small_images_instead_of_padding() -> None:
    img = Image.fromarray(np.full((10, 20, 3), 200, dtype=np.uint8))
    up = UpscaleIfSmaller(16)(img)
    assert up.size == (32, 16)
    assert UpscaleIfSmaller(8)(img) is img
    cfg = InputConfig(size=16, mean=(0.0, 0.0, 0.0), std=(1.0, 1.0, 1.0), resize="native")
    for transform in (eval_transform(cfg), train_transform(cfg, AugmentConfig())):
        out = transform(img)
        assert out.shape == (3, 16, 16)
        assert out.min() > 0.7  # every pixel is image content: nothing was padded with 0


def test_unknown_resize_mode_is_an_error() -> None:
    with pytest.raises(ValueError, match="native"):
        eval_transform(InputConfig(size=8, resize="stretch"))
