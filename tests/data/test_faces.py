"""Face detection (Haar cascade) and face-level verdicts, on real LFW faces from ../shared/data."""

from __future__ import annotations

import io
import zipfile
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from fakescope.data.faces import FaceSettings, crop_box, detect_faces, face_crops
from fakescope.errors import ConfigError

pytest.importorskip("cv2")

LFW = "lfw-deepfunneled-8k.zip"


def iou(a: tuple[int, ...], b: tuple[int, ...]) -> float:
    ix = max(0, min(a[2], b[2]) - max(a[0], b[0]))
    iy = max(0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = ix * iy
    area = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / area


@pytest.fixture(scope="module")
def lfw(shared_data: Path) -> list[Image.Image]:
    """20 LFW 250x250 faces, spread over the archive (every 400th file)."""
    with zipfile.ZipFile(shared_data / LFW) as zf:
        names = sorted(n for n in zf.namelist() if n.endswith(".jpg"))[::400][:20]
        return [Image.open(io.BytesIO(zf.read(n))).convert("RGB") for n in names]


def noise(w: int = 250, h: int = 250, seed: int = 0) -> Image.Image:
    rng = np.random.default_rng(seed)
    return Image.fromarray(rng.integers(0, 256, (h, w, 3), dtype=np.uint8))


def test_crop_box_by_hand() -> None:
    # side 40 * (1 + 2 * 0.3) = 64 around centre (30, 30) -> (-2, -2, 62, 62), clipped at 0
    assert crop_box((10, 10, 50, 50), 100, 100, 0.3) == (0, 0, 62, 62)
    # inside the image: square, centred on the box
    assert crop_box((40, 40, 60, 60), 100, 100, 0.5) == (30, 30, 70, 70)
    # a tall box: the square uses the longer side (40 * 1.2 = 48), clipped on the right
    assert crop_box((80, 20, 100, 60), 100, 100, 0.1) == (66, 16, 100, 64)
    with pytest.raises(ConfigError, match="margin"):
        FaceSettings(margin=-0.1)


def test_one_centred_face_in_most_lfw_images(lfw: list[Image.Image]) -> None:
    good = 0
    for img in lfw:
        boxes = detect_faces(img)
        if len(boxes) == 1:
            x0, y0, x1, y1 = boxes[0]
            cx, cy = (x0 + x1) / 2, (y0 + y1) / 2
            good += abs(cx - 125) < 25 and abs(cy - 125) < 25 and 60 < x1 - x0 < 200
    assert good >= 15, f"only {good} of 20 LFW images have one centred face"


def test_noise_has_no_face() -> None:
    assert detect_faces(noise()) == []
    assert detect_faces(Image.new("RGB", (20, 20))) == []  # smaller than the smallest face


def test_boxes_follow_the_face_where_it_is_pasted(lfw: list[Image.Image]) -> None:
    face = lfw[0]
    (ref,) = detect_faces(face)
    canvas = Image.new("RGB", (640, 400), (128, 128, 128))
    small = face.resize((150, 150), Image.Resampling.BILINEAR)
    canvas.paste(face, (350, 100))
    canvas.paste(small, (40, 30))
    boxes = detect_faces(canvas)
    assert len(boxes) == 2
    want_big = (ref[0] + 350, ref[1] + 100, ref[2] + 350, ref[3] + 100)
    s = 150 / 250
    want_small = tuple(round(v * s) + d for v, d in zip(ref, (40, 30, 40, 30), strict=True))
    assert iou(boxes[0], want_small) > 0.6  # left to right
    assert iou(boxes[1], want_big) > 0.6
    faces, crops, images = face_crops(canvas)
    assert crops[0] == crop_box(faces[0], 640, 400, 0.3)
    assert images[0].size == (crops[0][2] - crops[0][0], crops[0][3] - crops[0][1])


# ----------------------------------------------------------------- verdicts
from tests.cli.tiny_detector import (  # noqa: E402
    TinyDetector,
    make_dataset,
    tiny_registered,  # noqa: F401 - autouse fixture
)


@pytest.fixture(scope="module")
def vm(tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    from fakescope.data.index import index_dataset
    from fakescope.inference.verdict import VerdictModel

    root = make_dataset(tmp_path_factory.mktemp("faces") / "ds", n=4)
    det = TinyDetector({"steps": 50, "num_workers": 0}).fit(index_dataset(root))
    return VerdictModel(det)


def test_image_verdict_is_the_most_fake_face(vm, lfw: list[Image.Image]) -> None:  # type: ignore[no-untyped-def]
    # two faces, in both orders (boxes come left to right): the image takes the max either way
    for a, b in ((lfw[1], lfw[2]), (lfw[2], lfw[1])):
        canvas = Image.new("RGB", (560, 300), (128, 128, 128))
        canvas.paste(a, (20, 25))
        canvas.paste(b, (290, 25))
        (v,) = vm.decide_images([canvas], ["two.png"], faces=True)
        assert v.faces is not None and len(v.faces) == 2 and v.path == "two.png"
        # each face's score is the detector's score of that crop, computed independently
        for f in v.faces:
            (alone,) = vm.decide_images([canvas.crop(f.crop)])
            assert f.verdict.p_fake_raw == pytest.approx(alone.p_fake_raw, abs=1e-6)
            assert f.crop == crop_box(f.box, 560, 300, 0.3)
        scores = [f.verdict.p_fake_raw for f in v.faces]
        assert abs(scores[0] - scores[1]) > 1e-4  # distinct, so the max is a real choice
        assert v.p_fake_raw == pytest.approx(max(scores))
        assert v.reason.endswith("most-fake of 2 faces")
        d = v.to_dict()
        assert [x["box"] for x in d["faces"]] == [list(f.box) for f in v.faces]


def test_no_face_scores_the_whole_image(vm, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    img = noise(seed=3)
    (v,) = vm.decide_images([img], faces=True)
    (whole,) = vm.decide_images([img])
    assert v.faces == () and v.reason.startswith("no face found")
    assert v.p_fake_raw == pytest.approx(whole.p_fake_raw)
    (plain,) = vm.decide_images([img])
    assert plain.faces is None and "faces" not in plain.to_dict()


def test_face_files_keep_order_and_errors(vm, lfw: list[Image.Image], tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    face = tmp_path / "face.jpg"
    lfw[3].save(face)
    bad = tmp_path / "bad.jpg"
    bad.write_bytes(b"not an image")
    other = tmp_path / "noise.png"
    noise(seed=5).save(other)
    out = vm.decide_paths([face, bad, other], faces=True, batch_size=2)
    assert [Path(v.path).name for v in out] == ["face.jpg", "bad.jpg", "noise.png"]
    assert out[0].faces is not None and len(out[0].faces) == 1 and out[0].reason.endswith("1 face")
    assert out[1].error and out[1].verdict is None
    assert out[2].faces == () and out[2].reason.startswith("no face found")
