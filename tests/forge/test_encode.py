"""Format estimation (JPEG quality from quantization tables) and the single encode path."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from fakescope.forge.encode import (
    FormatSpec,
    encode_like,
    estimate_format,
    estimate_quality,
    inspect_format,
    standard_tables,
)
from tests.conftest import write_image


def _jpeg(path: Path, seed: int, **kwargs: object) -> Path:
    arr = np.random.default_rng(seed).integers(0, 256, (24, 24, 3), dtype=np.uint8)
    Image.fromarray(arr).save(path, format="JPEG", **kwargs)
    return path


@pytest.mark.parametrize("quality", [75, 90])
def test_quality_is_read_from_the_quantization_tables(tmp_path: Path, quality: int) -> None:
    files = [_jpeg(tmp_path / f"{i}.jpg", i, quality=quality) for i in range(3)]
    est = estimate_format(files, size=(16, 16))
    assert est.spec.format == "JPEG" and est.spec.quality == quality
    assert est.exact_quality and est.spec.qtables is None and est.agreement == 1.0
    assert est.spec.subsampling == 2 and est.spec.mode == "RGB"
    assert est.spec.size == (16, 16) and est.source_size == (24, 24)


def test_nearest_quality_and_non_standard_tables_are_reused(tmp_path: Path) -> None:
    lum = [min(255, v + 3) for v in standard_tables()[80][0]]  # not any standard table
    chroma = list(standard_tables()[80][1])
    q, exact = estimate_quality((tuple(lum), tuple(chroma)))
    assert not exact and 75 <= q <= 85
    src = _jpeg(tmp_path / "cam.jpg", 0, qtables=[lum, chroma], subsampling=0)
    spec = estimate_format([src]).spec
    assert spec.qtables is not None and list(spec.qtables[0]) == lum and spec.subsampling == 0
    out = encode_like(torch.rand(3, 24, 24), spec, tmp_path / "fake.jpg")
    assert inspect_format(out).qtables == inspect_format(src).qtables
    assert inspect_format(out).subsampling == 0


def test_png_and_grey_sources(tmp_path: Path) -> None:
    png = write_image(tmp_path / "a.png", 0, size=16, fmt="PNG")
    assert estimate_format([png]).spec.format == "PNG"
    grey = tmp_path / "g.jpg"
    Image.new("L", (16, 16), 90).save(grey, format="JPEG", quality=60)
    spec = estimate_format([grey]).spec
    assert (spec.mode, spec.quality, spec.subsampling) == ("L", 60, None)
    out = encode_like(torch.rand(3, 16, 16), spec, tmp_path / "out.jpg")
    with Image.open(out) as img:
        assert img.mode == "L" and len(img.quantization) == 1  # type: ignore[attr-defined]


def test_tensor_array_and_pil_inputs_encode_identically(tmp_path: Path) -> None:
    spec = FormatSpec(format="JPEG", size=(8, 8), quality=75, subsampling=2)
    u8 = torch.randint(0, 256, (3, 8, 8), dtype=torch.uint8)
    as_float = u8.float() / 255.0
    pil = Image.fromarray(u8.permute(1, 2, 0).numpy())
    inputs: list[Image.Image | torch.Tensor | np.ndarray] = [
        u8,
        as_float,
        pil,
        u8.permute(1, 2, 0).numpy(),
    ]
    outs = [encode_like(x, spec, tmp_path / f"{i}.jpg").read_bytes() for i, x in enumerate(inputs)]
    assert all(o == outs[0] for o in outs)
    with pytest.raises(ValueError, match="spec says"):
        encode_like(torch.rand(3, 9, 8), spec, tmp_path / "bad.jpg")
    with pytest.raises(ValueError, match="NaN"):
        encode_like(torch.full((3, 8, 8), float("nan")), spec, tmp_path / "nan.jpg")


def test_failed_write_leaves_nothing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    spec = FormatSpec(format="PNG", size=(8, 8))

    def full_disk(self: Image.Image, fp: object, *args: object, **kwargs: object) -> None:
        Path(str(fp)).write_bytes(b"partial")
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(Image.Image, "save", full_disk)
    with pytest.raises(OSError):
        encode_like(torch.rand(3, 8, 8), spec, tmp_path / "x.png")
    assert list(tmp_path.iterdir()) == []


def test_no_metadata_rides_along_from_a_decoded_real(tmp_path: Path) -> None:
    src = tmp_path / "camera.jpg"
    exif = Image.Exif()
    exif[0x010F] = "SomeCamera"  # Make
    Image.new("RGB", (16, 16), (90, 120, 30)).save(src, quality=80, exif=exif, comment=b"hello")
    with Image.open(src) as img:
        img.load()
        assert {"exif", "comment"} <= set(img.info)
        spec = FormatSpec(format="JPEG", size=(16, 16), quality=90, subsampling=2)
        out = encode_like(img, spec, tmp_path / "out.jpg")
        assert "comment" in img.info  # the caller's image is left as it was
    with Image.open(out) as written:
        assert not {"exif", "comment", "icc_profile"} & set(written.info)
