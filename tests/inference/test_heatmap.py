"""Grad-CAM heatmaps (:mod:`fakescope.inference.heatmap`) on toys where the fake evidence has a known place."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from PIL import Image

from fakescope.data.transforms import InputConfig, eval_transform
from fakescope.detectors.cnn import CNNDetector
from fakescope.detectors.probe import ProbeDetector
from fakescope.errors import FakescopeError
from fakescope.inference.heatmap import (
    _token_grid,
    explain_image,
    explain_images,
    find_cam_layer,
    heatmap_names,
    heatmap_png,
    to_image_frame,
    write_heatmaps,
)
from fakescope.inference.verdict import VerdictModel

pytest.importorskip("pytorch_grad_cam")

SIZE = 128


def toy_image(
    rng: np.random.Generator, fake: str | None, w: int = SIZE, h: int = SIZE
) -> Image.Image:
    """Blocky colour noise; ``fake`` = "tl" / "br": a +60 checkerboard in that quadrant only."""
    base = rng.normal(128, 30, (h // 8 + 1, w // 8 + 1, 3))
    img = np.kron(base, np.ones((8, 8, 1)))[:h, :w]
    if fake == "tl":
        img[: h // 2 : 2, : w // 2 : 2] += 60.0
    elif fake == "br":
        img[h // 2 :: 2, w // 2 :: 2] += 60.0
    return Image.fromarray(np.clip(img, 0, 255).astype(np.uint8))


def quadrant_mass(cam: np.ndarray, quadrant: str) -> float:
    """Share of the map's total in one quadrant (0.25 for a uniform or centred map)."""
    h, w = cam.shape
    part = cam[: h // 2, : w // 2] if quadrant == "tl" else cam[h // 2 :, w // 2 :]
    return float(part.sum() / max(cam.sum(), 1e-12))


@pytest.fixture(scope="module")
def cnn() -> CNNDetector:
    """timm ``test_resnet`` at 128 px, trained 15 Adam steps: fakes = top-left checkerboard."""
    torch.manual_seed(0)
    rng = np.random.default_rng(0)
    det = CNNDetector({"arch": "test_resnet", "img_size": SIZE, "resize": "resize"})
    det.model_ = det._create(2, start=False)
    det.loss_ = det._make_loss(2)
    det.classes_ = ["real", "fake"]
    transform = eval_transform(det.input_config)
    opt = torch.optim.Adam(det.model_.parameters(), lr=0.01)
    y = torch.arange(8) % 2
    det.model_.train()
    for _ in range(15):
        x = torch.stack([transform(toy_image(rng, "tl" if v else None)) for v in y])
        loss = torch.nn.functional.cross_entropy(det.model_(x), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
    det.model_.eval()
    return det


def test_cnn_heatmap_mass_is_where_the_fake_trace_is(cnn: CNNDetector) -> None:
    rng = np.random.default_rng(1)
    for quadrant in ("tl", "br"):  # trained on top-left only; a conv net finds the trace anywhere
        maps = explain_images(cnn, [toy_image(rng, quadrant) for _ in range(4)])
        assert all(m.p_fake_raw > 0.5 for m in maps)
        mass = np.mean([quadrant_mass(m.cam, quadrant) for m in maps])
        assert mass > 0.6, f"{quadrant}: {mass:.2f} of the heatmap in the trace's quadrant"


def test_heatmap_shape_range_and_p_fake(cnn: CNNDetector) -> None:
    rng = np.random.default_rng(2)
    # 128 rows: "resize" keeps the scale (a 1-px checkerboard would not survive resampling)
    image = toy_image(rng, "tl", w=200, h=SIZE)
    heat = explain_image(VerdictModel(cnn), image)
    assert heat.cam.shape == (SIZE, 200) and heat.cam.dtype == np.float32
    assert heat.model_cam.shape == (SIZE, SIZE)
    assert heat.cam.min() >= 0.0 and heat.cam.max() <= 1.0 and heat.cam.max() > 0.9
    # columns 36..163 are the centre crop; nothing outside it
    assert heat.cam[:, :36].max() == 0.0 and heat.cam[:, 164:].max() == 0.0
    assert heat.p_fake_raw == pytest.approx(float(cnn.predict_images([image]).p_fake[0]), abs=1e-4)
    assert heat.layer == "layer4"


def test_overlay_png_is_the_image_size(cnn: CNNDetector) -> None:
    image = toy_image(np.random.default_rng(3), "tl", w=96, h=80)
    png = heatmap_png(cnn, image)
    back = Image.open(io.BytesIO(png))
    assert back.format == "PNG" and back.size == (96, 80) and back.mode == "RGB"
    assert not np.array_equal(np.asarray(back), np.asarray(image))


def test_write_heatmaps_names_and_bad_files(cnn: CNNDetector, tmp_path: Path) -> None:
    rng = np.random.default_rng(7)
    (tmp_path / "a").mkdir()
    first = tmp_path / "img.png"
    second = tmp_path / "a" / "img.jpg"
    toy_image(rng, "tl", 70, 60).save(first)
    toy_image(rng, None, 50, 90).save(second)
    bad = tmp_path / "bad.png"
    bad.write_bytes(b"")
    assert heatmap_names([first, bad, second]) == ["img.heat.png", "bad.heat.png", "img-2.heat.png"]
    results = write_heatmaps(VerdictModel(cnn), [first, bad, second], tmp_path / "out")
    assert results[0] == (tmp_path / "out" / "img.heat.png", "")
    assert results[1][0] is None and "empty" in results[1][1]
    with Image.open(tmp_path / "out" / "img-2.heat.png") as heat:
        assert heat.size == (50, 90)


def test_to_image_frame_resize_maps_the_centre_crop() -> None:
    cfg = InputConfig(size=64, resize="resize")
    full = to_image_frame(np.ones((64, 64), np.float32), (256, 128), cfg)
    assert full.shape == (128, 256)
    assert full[:, :64].max() == 0.0 and full[:, 192:].max() == 0.0
    assert np.allclose(full[:, 64:192], 1.0)
    left = np.zeros((64, 64), np.float32)
    left[:, :32] = 1.0  # left half of the crop = original columns 64..127
    full = to_image_frame(left, (256, 128), cfg)
    assert np.allclose(full[:, 64:126], 1.0) and full[:, 130:].max() == 0.0


def test_to_image_frame_crop_mode_undoes_padding() -> None:
    cfg = InputConfig(size=64, resize="crop")
    cam = np.zeros((64, 64), np.float32)
    cam[12:52, 12:52] = 1.0  # a 40 px image is padded by 12 px on each side
    full = to_image_frame(cam, (40, 40), cfg)
    assert full.shape == (40, 40) and np.allclose(full, 1.0)


def test_token_grid_drops_prefix_tokens_and_keeps_row_order() -> None:
    tokens = torch.arange(18, dtype=torch.float32).view(1, 18, 1).repeat(2, 1, 3)  # 2 prefix + 4x4
    grid = _token_grid(18)(tokens)
    assert grid.shape == (2, 3, 4, 4)
    assert grid[0, 0, 1, 2].item() == 2 + 1 * 4 + 2
    assert torch.equal(_token_grid(18)(tokens.transpose(0, 1)), grid)  # sequence-first input


def _files(tmp_path: Path, n: int = 6, size: int = 64) -> pd.DataFrame:
    rng = np.random.default_rng(4)
    rows = []
    for i in range(n):
        for label in (0, 1):
            path = tmp_path / f"{label}_{i}.png"
            toy_image(rng, "tl" if label else None, size, size).save(path)
            rows.append({"path": str(path), "label": label})
    return pd.DataFrame(rows)


def test_probe_vit_heatmap_through_the_frozen_backbone(tmp_path: Path) -> None:
    table = _files(tmp_path)
    params = {"backbone": "timm:test_vit", "pretrained": False, "cache_dir": None, "num_workers": 0}
    det = ProbeDetector(params).fit(table)
    layer = find_cam_layer(det.explain_network(), det.input_config.size)
    assert layer.name.endswith("norm1") and layer.reshape is not None
    image = toy_image(np.random.default_rng(5), "tl", 64, 64)
    heat = explain_image(det, image)
    assert heat.cam.shape == (64, 64) and heat.cam.min() >= 0.0 and heat.cam.max() <= 1.0
    assert heat.cam.max() > 0.0  # gradients reached the activations of the frozen backbone
    # the torch version of the logistic head agrees with sklearn's predict_proba
    assert heat.p_fake_raw == pytest.approx(float(det.predict_images([image]).p_fake[0]), abs=1e-4)


def test_unsupported_detector_is_a_one_line_error(tmp_path: Path) -> None:
    table = _files(tmp_path, n=3)
    params = {"backbone": "timm:test_resnet", "pretrained": False, "cache_dir": None}
    det = ProbeDetector({**params, "head": "knn", "num_workers": 0}).fit(table)
    with pytest.raises(FakescopeError, match="heatmaps need") as info:
        explain_image(det, toy_image(np.random.default_rng(6), "tl", 64, 64))
    assert "\n" not in str(info.value) and "logistic" in str(info.value)
