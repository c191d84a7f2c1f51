"""Safe decoding: EXIF orientation, every mode to RGB, bombs, empty/truncated/non-image files."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from fakescope.data.decode import load_image
from fakescope.errors import DecodeError
from tests.conftest import write_image


def test_exif_orientation_is_applied(tmp_path: Path) -> None:
    path = tmp_path / "rotated.jpg"
    exif = Image.Exif()
    exif[0x0112] = 6  # Orientation: rotate 90 CW to display
    Image.new("RGB", (40, 20), (200, 10, 10)).save(path, format="JPEG", exif=exif)
    img = load_image(path)
    assert img.size == (20, 40)
    assert img.mode == "RGB"


@pytest.mark.parametrize(
    ("mode", "fmt", "value", "expected"),
    [
        ("L", "PNG", 100, (100, 100, 100)),
        ("P", "PNG", None, (0, 204, 51)),
        ("RGBA", "PNG", (10, 200, 30, 0), (255, 255, 255)),  # fully transparent -> white
        ("RGBA", "PNG", (10, 200, 30, 255), (10, 200, 30)),
        ("CMYK", "JPEG", (0, 0, 0, 0), (255, 255, 255)),
        ("I;16", "PNG", 65535, (255, 255, 255)),
    ],
)
def test_modes_become_8bit_rgb(
    tmp_path: Path, mode: str, fmt: str, value: object, expected: tuple[int, int, int]
) -> None:
    if mode == "P":
        src = Image.new("RGB", (8, 8), (0, 204, 51)).convert("P")
    elif mode == "I;16":
        src = Image.fromarray(np.full((8, 8), value, dtype=np.uint16))
        assert src.mode == "I;16"
    else:
        src = Image.new(mode, (8, 8), value)  # type: ignore[arg-type]
    path = tmp_path / f"img.{fmt.lower()}"
    src.save(path, format=fmt)
    img = load_image(path)
    assert img.mode == "RGB"
    assert img.size == (8, 8)
    got = img.getpixel((4, 4))
    assert isinstance(got, tuple)
    assert np.allclose(got, expected, atol=3)


def test_bytes_input_matches_file_input(tmp_path: Path) -> None:
    path = write_image(tmp_path / "a.png", seed=0, fmt="PNG")
    a = np.asarray(load_image(path))
    b = np.asarray(load_image(path.read_bytes()))
    assert a.shape == (32, 32, 3)
    assert np.array_equal(a, b)


def test_decompression_bomb_is_refused(tmp_path: Path) -> None:
    path = write_image(tmp_path / "big.png", seed=0, size=64, fmt="PNG")
    with pytest.raises(DecodeError, match="pixel limit"):
        load_image(path, max_pixels=100)
    assert load_image(path, max_pixels=64 * 64).size == (64, 64)


def test_max_pixels_above_pils_own_limit_is_honoured(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = write_image(tmp_path / "a.png", seed=0, size=40, fmt="PNG")
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 1000)  # PIL would only warn at 1600 px
    assert load_image(path, max_pixels=10_000).size == (40, 40)


def test_zero_byte_file_and_empty_bytes(tmp_path: Path) -> None:
    path = tmp_path / "empty.jpg"
    path.write_bytes(b"")
    with pytest.raises(DecodeError, match="0 bytes"):
        load_image(path)
    with pytest.raises(DecodeError, match="0 bytes"):
        load_image(b"")


def test_truncated_jpeg(tmp_path: Path) -> None:
    path = write_image(tmp_path / "t.jpg", seed=0, size=64)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(DecodeError, match="corrupt or truncated"):
        load_image(path)


def test_text_file_renamed_jpg(tmp_path: Path) -> None:
    path = tmp_path / "notes.jpg"
    path.write_text("this is not an image\n" * 10)
    with pytest.raises(DecodeError, match="not an image") as info:
        load_image(path)
    assert "\n" not in str(info.value)
    assert str(path) in str(info.value)


def test_missing_file_and_directory(tmp_path: Path) -> None:
    with pytest.raises(DecodeError, match="no such file"):
        load_image(tmp_path / "nope.png")
    with pytest.raises(DecodeError, match="directory"):
        load_image(tmp_path)
