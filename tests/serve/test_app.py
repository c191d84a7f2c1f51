"""The HTTP app: every endpoint, every bad input, limits (413/415/503/504/501), batching, order."""

from __future__ import annotations

import base64
import io
import shutil
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from fastapi.testclient import TestClient
from PIL import Image

from fakescope.serve.app import create_app
from fakescope.serve.limits import ServeLimits
from tests.cli.tiny_detector import tiny_registered  # noqa: F401 - autouse fixture
from tests.serve.serve_helpers import (
    MeanModel,
    image_bytes,
    png_bomb,
    tiny_bundle,  # noqa: F401 - fixture
    wait_until,
)


def _client(model: Any = None, **limits: Any) -> TestClient:
    app = create_app(model=model or MeanModel(), limits=ServeLimits(**limits), explainer=None)
    return TestClient(app)


def _files(*items: tuple[str, bytes]) -> list[tuple[str, tuple[str, bytes, str]]]:
    return [("files", (name, data, "application/octet-stream")) for name, data in items]


def _one_line_error(response: Any, status: int) -> str:
    assert response.status_code == status, response.text
    body = response.json()
    assert set(body) == {"error"}, body
    assert "\n" not in body["error"] and body["error"]
    return str(body["error"])


@pytest.fixture
def client() -> Iterator[TestClient]:
    with _client() as c:
        yield c


# ------------------------------------------------------------------ endpoints
def test_health_ready_and_model_info(client: TestClient) -> None:
    assert client.get("/health").json() == {"status": "ok"}
    assert client.get("/ready").status_code == 200
    info = client.get("/v1/model").json()
    assert info["explain"] is False and info["calibration"] == {"present": False}
    assert info["ood"] == {"present": False}
    schema = client.get("/openapi.json").json()
    body = schema["paths"]["/v1/detect"]["post"]["requestBody"]["content"]
    assert set(body) == {"multipart/form-data", "application/json"}
    assert client.get("/docs").status_code == 404  # FastAPI's docs page would load a CDN


def test_detect_multipart_answers_in_order_with_hand_computed_scores(client: TestClient) -> None:
    levels = [200, 10, 130, 90]
    r = client.post("/v1/detect", files=_files(*((f"img{v}.png", image_bytes(v)) for v in levels)))
    assert r.status_code == 200, r.text
    results = r.json()["results"]
    assert [x["filename"] for x in results] == [f"img{v}.png" for v in levels]
    assert [x["p_fake"] for x in results] == pytest.approx([v / 255 for v in levels])
    assert [x["verdict"] for x in results] == ["fake", "real", "fake", "real"]
    assert all(x["error"] == "" and x["ood"] is None for x in results)


def test_detect_json_base64_and_data_url(client: TestClient) -> None:
    plain = base64.b64encode(image_bytes(60)).decode()
    url = "data:image/png;base64," + base64.b64encode(image_bytes(240)).decode()
    r = client.post(
        "/v1/detect",
        json={"images": [{"filename": "a.png", "data": plain}, {"filename": "b.png", "data": url}]},
    )
    assert r.status_code == 200, r.text
    res = r.json()["results"]
    assert [x["filename"] for x in res] == ["a.png", "b.png"]
    assert [x["p_fake"] for x in res] == pytest.approx([60 / 255, 240 / 255])


def test_unknown_route_and_method_are_one_line_json(client: TestClient) -> None:
    assert "GET /nope" in _one_line_error(client.get("/nope"), 404)
    assert "GET /v1/detect" in _one_line_error(client.get("/v1/detect"), 405)


# ----------------------------------------------------------------- bad input
def _truncated_jpeg() -> bytes:
    rng = np.random.default_rng(0)
    buf = io.BytesIO()
    Image.fromarray(rng.integers(0, 255, (64, 64, 3), dtype=np.uint8)).save(buf, "JPEG")
    return buf.getvalue()[: len(buf.getvalue()) // 2]


@pytest.mark.parametrize(
    ("data", "fragment"),
    [
        (b"", "empty file"),
        (_truncated_jpeg(), "cannot decode"),
        (b"hello, I am not an image at all", "not an image"),
        (png_bomb(), "too large"),
    ],
    ids=["zero-byte", "truncated-jpeg", "non-image", "decompression-bomb"],
)
def test_a_lone_bad_file_is_a_400_and_the_server_stays_up(
    client: TestClient, data: bytes, fragment: str
) -> None:
    msg = _one_line_error(client.post("/v1/detect", files=_files(("x.bin", data))), 400)
    assert msg.startswith("x.bin: ") and fragment in msg
    assert client.get("/health").status_code == 200
    ok = client.post("/v1/detect", files=_files(("ok.png", image_bytes(1))))
    assert ok.status_code == 200


def test_a_bad_file_among_good_ones_is_a_per_file_error(client: TestClient) -> None:
    r = client.post(
        "/v1/detect",
        files=_files(
            ("a.png", image_bytes(250)), ("bad.jpg", _truncated_jpeg()), ("c.png", image_bytes(5))
        ),
    )
    assert r.status_code == 200
    res = r.json()["results"]
    assert [x["filename"] for x in res] == ["a.png", "bad.jpg", "c.png"]
    assert (
        res[1]["verdict"] == "" and res[1]["p_fake"] is None and "cannot decode" in res[1]["error"]
    )
    assert [res[0]["verdict"], res[2]["verdict"]] == ["fake", "real"]


def test_pixel_limit_is_our_own_not_only_pillows() -> None:
    with _client(max_pixels=100) as c:
        msg = _one_line_error(
            c.post("/v1/detect", files=_files(("big.png", image_bytes(9, size=11)))), 400
        )
        assert "11x11" in msg and "limit of 100" in msg
        assert (
            c.post("/v1/detect", files=_files(("s.png", image_bytes(9, size=10)))).status_code
            == 200
        )


def test_malformed_base64(client: TestClient) -> None:
    msg = _one_line_error(
        client.post("/v1/detect", json={"images": [{"filename": "x", "data": "@@not base64@@"}]}),
        400,
    )
    assert "malformed base64" in msg
    good = base64.b64encode(image_bytes(7)).decode()
    r = client.post(
        "/v1/detect",
        json={"images": [{"filename": "bad", "data": "abc"}, {"filename": "good", "data": good}]},
    )
    assert r.status_code == 200
    res = r.json()["results"]
    assert "malformed base64" in res[0]["error"] and res[1]["verdict"] == "real"


@pytest.mark.parametrize(
    ("body", "fragment"),
    [
        ({"images": [{"filename": "x"}]}, "images.0.data: Field required"),
        ({"pictures": []}, "images: Field required"),
        ({"images": []}, "no images"),
    ],
)
def test_bad_json_is_one_line_400_not_422(client: TestClient, body: Any, fragment: str) -> None:
    assert fragment in _one_line_error(client.post("/v1/detect", json=body), 400)


def test_invalid_json_body(client: TestClient) -> None:
    r = client.post("/v1/detect", content=b"{nope", headers={"content-type": "application/json"})
    assert "not valid JSON" in _one_line_error(r, 400)


def test_missing_files_field_is_400(client: TestClient) -> None:
    r = client.post("/v1/detect", files=[("image", ("a.png", image_bytes(1), "image/png"))])
    assert "'files'" in _one_line_error(r, 400)
    r = client.post("/v1/detect", data={"files": "just text"})  # urlencoded form: wrong type
    _one_line_error(r, 415)


def test_text_part_named_files_is_a_per_file_error(client: TestClient) -> None:
    r = client.post(
        "/v1/detect",
        data={"files": "text"},
        files=_files(("a.png", image_bytes(3))),
    )
    assert r.status_code == 200
    errors = sorted(x["error"] for x in r.json()["results"])
    assert errors[0] == "" and "holds text" in errors[1]


@pytest.mark.parametrize("ctype", ["text/plain", "image/png", ""])
def test_wrong_content_type_is_415(client: TestClient, ctype: str) -> None:
    r = client.post("/v1/detect", content=image_bytes(1), headers={"content-type": ctype})
    assert "unsupported content type" in _one_line_error(r, 415)


def test_oversize_upload_is_413_by_header_and_by_counting() -> None:
    with _client(max_upload_bytes=2000) as c:
        r = c.post("/v1/detect", files=_files(("big.bin", b"\0" * 5000)))
        assert "2000 bytes" in _one_line_error(r, 413)

        def chunks() -> Iterator[bytes]:  # no Content-Length: the bytes must be counted
            for _ in range(10):
                yield b"\0" * 500

        r = c.post(
            "/v1/detect",
            content=chunks(),
            headers={"content-type": "multipart/form-data; boundary=xyz"},
        )
        assert "2000 bytes" in _one_line_error(r, 413)
        assert c.post("/v1/detect", files=_files(("s.png", image_bytes(1)))).status_code == 200


def test_too_many_files_is_413() -> None:
    with _client(max_files=2) as c:
        r = c.post("/v1/detect", files=_files(*((f"{i}.png", image_bytes(i)) for i in range(3))))
        assert "limit is 2" in _one_line_error(r, 413)


def test_explain_without_heatmap_module_is_501_and_bad_flag_400(client: TestClient) -> None:
    r = client.post("/v1/detect?explain=1", files=_files(("a.png", image_bytes(1))))
    assert "explain" in _one_line_error(r, 501)
    r = client.post("/v1/detect?explain=maybe", files=_files(("a.png", image_bytes(1))))
    assert "explain" in _one_line_error(r, 400)
    assert (
        client.post("/v1/detect?explain=0", files=_files(("a.png", image_bytes(1)))).status_code
        == 200
    )


def test_explain_for_a_model_the_heatmap_module_cannot_explain_is_501(tiny_bundle: Path) -> None:  # noqa: F811
    from fakescope.serve.explain_hook import find_explainer

    if find_explainer() is None:
        pytest.skip("fakescope.inference.heatmap is not available")
    with TestClient(create_app(tiny_bundle)) as c:
        wait_until(lambda: c.get("/ready").status_code == 200, "the bundle to load")
        assert c.get("/v1/model").json()["explain"] is False
        r = c.post("/v1/detect?explain=1", files=_files(("a.png", image_bytes(1))))
        assert "tiny-test" in _one_line_error(r, 501)


def test_a_failing_heatmap_is_a_per_image_note_not_a_failure() -> None:
    def broken(model: Any, image: Image.Image) -> bytes:
        raise RuntimeError("no gradients\ntoday")

    with TestClient(create_app(model=MeanModel(), explainer=broken)) as c:
        r = c.post("/v1/detect?explain=1", files=_files(("a.png", image_bytes(200))))
        assert r.status_code == 200
        res = r.json()["results"][0]
        assert res["verdict"] == "fake" and res["explain_error"] == "no gradients today"
        assert "heatmap_png" not in res


def test_explain_with_a_heatmap_function_returns_a_png() -> None:
    calls: list[tuple[int, int]] = []

    def heat(model: Any, image: Image.Image) -> bytes:
        calls.append(image.size)
        buf = io.BytesIO()
        image.convert("L").save(buf, "PNG")
        return buf.getvalue()

    app = create_app(model=MeanModel(), explainer=heat)
    with TestClient(app) as c:
        assert c.get("/v1/model").json()["explain"] is True
        r = c.post("/v1/detect?explain=1", files=_files(("a.png", image_bytes(9, size=12))))
        res = r.json()["results"][0]
        png = Image.open(io.BytesIO(base64.b64decode(res["heatmap_png"])))
        assert png.size == (12, 12) and calls == [(12, 12)]
        plain = c.post("/v1/detect", files=_files(("a.png", image_bytes(9)))).json()["results"][0]
        assert "heatmap_png" not in plain


# ------------------------------------------------------ load, limits, batching
def _post_in_thread(c: TestClient, value: int, out: dict[int, Any]) -> threading.Thread:
    def go() -> None:
        out[value] = c.post("/v1/detect", files=_files((f"{value}.png", image_bytes(value))))

    t = threading.Thread(target=go)
    t.start()
    return t


def test_concurrent_requests_are_micro_batched_and_not_mixed_up() -> None:
    model = MeanModel(gated=True)
    app = create_app(model=model, limits=ServeLimits(max_batch=16, max_wait_ms=0))
    out: dict[int, Any] = {}
    with TestClient(app) as c:
        threads = [_post_in_thread(c, 0, out)]
        assert model.entered.wait(20)  # request 0 holds the worker
        threads += [_post_in_thread(c, v, out) for v in (40, 80, 120, 160, 200)]
        wait_until(lambda: app.state.fakescope.batcher.pending == 5, "5 queued images")
        model.gate.set()
        for t in threads:
            t.join(20)
    assert model.batch_sizes == [1, 5]
    assert model.threads == {"fakescope-model"}
    for v, r in out.items():
        res = r.json()["results"]
        assert res[0]["filename"] == f"{v}.png" and res[0]["p_fake"] == pytest.approx(v / 255)


def test_concurrency_limit_answers_503_with_retry_after() -> None:
    model = MeanModel(gated=True)
    app = create_app(model=model, limits=ServeLimits(max_concurrent=2, retry_after_s=3))
    out: dict[int, Any] = {}
    with TestClient(app) as c:
        threads = [_post_in_thread(c, v, out) for v in (1, 2)]
        wait_until(lambda: app.state.fakescope.in_flight == 2, "2 requests in flight")
        r = c.post("/v1/detect", files=_files(("x.png", image_bytes(3))))
        assert "server busy" in _one_line_error(r, 503)
        assert r.headers["retry-after"] == "3"
        assert c.get("/health").status_code == 200
        model.gate.set()
        for t in threads:
            t.join(20)
        assert [out[v].status_code for v in (1, 2)] == [200, 200]
        assert c.post("/v1/detect", files=_files(("x.png", image_bytes(3)))).status_code == 200


def test_full_queue_answers_503() -> None:
    model = MeanModel(gated=True)
    app = create_app(model=model, limits=ServeLimits(max_queue=2, max_batch=1, max_wait_ms=0))
    out: dict[int, Any] = {}
    with TestClient(app) as c:
        threads = [_post_in_thread(c, 1, out)]
        assert model.entered.wait(20)
        threads.append(_post_in_thread(c, 2, out))
        wait_until(lambda: app.state.fakescope.batcher.pending == 1, "1 queued image")
        r = c.post("/v1/detect", files=_files(("a.png", image_bytes(3)), ("b.png", image_bytes(4))))
        assert "images are waiting" in _one_line_error(r, 503)
        assert "retry-after" in r.headers
        model.gate.set()
        for t in threads:
            t.join(20)
        assert [out[v].status_code for v in (1, 2)] == [200, 200]


def test_request_timeout_is_504_and_the_server_recovers() -> None:
    model = MeanModel(gated=True)
    app = create_app(model=model, limits=ServeLimits(timeout_s=0.2))
    with TestClient(app) as c:
        r = c.post("/v1/detect", files=_files(("slow.png", image_bytes(3))))
        assert "longer than 0.2 s" in _one_line_error(r, 504)
        model.gate.set()
        assert c.post("/v1/detect", files=_files(("x.png", image_bytes(3)))).status_code == 200
        assert app.state.fakescope.in_flight == 0


# ------------------------------------------------------------- a real bundle
def test_real_bundle_loads_in_background_and_matches_the_detector(
    tiny_bundle: Path,  # noqa: F811 - the imported fixture
    tmp_path: Path,
) -> None:
    from fakescope.bundle import load_bundle
    from fakescope.inference.calibration import Calibrator

    bundle = tmp_path / "b"
    shutil.copytree(tiny_bundle, bundle)
    rng = np.random.default_rng(0)
    y = np.repeat([0, 1], 40)
    Calibrator.fit(np.clip(0.3 * y + rng.uniform(0.2, 0.5, 80), 0, 1), y, alpha=0.1).save(bundle)
    paths = []
    for i, v in enumerate((30, 220)):
        paths.append(tmp_path / f"{i}.png")
        paths[-1].write_bytes(image_bytes(v, size=32))
    det = load_bundle(bundle)
    expected = det.predict([str(p) for p in paths]).p_fake
    cal = Calibrator.load(bundle)
    assert cal is not None
    with TestClient(create_app(bundle)) as c:
        wait_until(lambda: c.get("/ready").status_code == 200, "the bundle to load")
        info = c.get("/v1/model").json()
        assert info["detector"] == "tiny-test" and info["classes"] == ["real", "fake"]
        assert info["calibration"]["present"] and info["calibration"]["method"] == "platt"
        band = info["calibration"]["band"]
        assert band["real_max"] == pytest.approx(float(cal.transform(band["real_max_raw"])))
        assert info["training"]["input"]["size"] == 32
        r = c.post("/v1/detect", files=_files(*((p.name, p.read_bytes()) for p in paths)))
        res = r.json()["results"]
    assert [x["p_fake_raw"] for x in res] == pytest.approx(expected.tolist(), abs=1e-6)
    assert [x["p_fake"] for x in res] == pytest.approx(cal.transform(expected).tolist(), abs=1e-6)
    assert all(x["verdict"] in ("real", "fake", "unsure") for x in res)


def test_a_bundle_that_fails_to_load_keeps_ready_at_503(tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    with TestClient(create_app(tmp_path / "empty")) as c:
        wait_until(lambda: "failed" in c.get("/ready").text, "the load to fail")
        assert "model failed to load" in _one_line_error(c.get("/ready"), 503)
        assert "failed" in _one_line_error(
            c.post("/v1/detect", files=_files(("a.png", image_bytes(1)))), 503
        )
        assert c.get("/health").status_code == 200


# ------------------------------------------------------------------ faces
class _FaceModel(MeanModel):
    """MeanModel that also takes ``faces``: with faces, one fake 'face' box per image whose
    score is the mean of the image's left half (a different number from the whole image)."""

    def __init__(self) -> None:
        super().__init__()
        self.calls: list[tuple[int, bool]] = []

    def decide_images(  # type: ignore[override]
        self, images: Any, names: Any = None, *, faces: bool = False, face_settings: Any = None
    ) -> list[Any]:
        import dataclasses

        from fakescope.inference.verdict import FaceVerdict, Verdict

        self.calls.append((len(images), faces))
        plain = super().decide_images(images, names)
        if not faces:
            return plain
        out = []
        for img, v in zip(images, plain, strict=True):
            w, h = img.size
            left = super().decide_images([img.crop((0, 0, w // 2, h))], ["face"])[0]
            fv = Verdict(v.path, left.p_fake, left.p_fake, left.verdict, "left", None, "", "")
            face = FaceVerdict((0, 0, w // 2, h), (0, 0, w // 2, h), fv)
            out.append(dataclasses.replace(fv, reason="left; 1 face", faces=(face,)))
        return out


def _half_image(left: int, right: int, size: int = 16) -> bytes:
    img = Image.new("RGB", (size, size), (right,) * 3)
    img.paste(Image.new("RGB", (size // 2, size), (left,) * 3), (0, 0))
    buf = io.BytesIO()
    img.save(buf, "PNG")
    return buf.getvalue()


def test_faces_query_flag_routes_faces_and_returns_boxes() -> None:
    model = _FaceModel()
    with TestClient(create_app(model=model, explainer=None)) as c:
        r = c.post("/v1/detect?faces=1", files=_files(("a.png", _half_image(255, 0))))
        res = r.json()["results"][0]
        assert res["p_fake"] == pytest.approx(1.0) and res["verdict"] == "fake"
        assert res["faces"] == [
            {
                "box": [0, 0, 8, 16],
                "crop": [0, 0, 8, 16],
                "p_fake": pytest.approx(1.0),
                "p_fake_raw": pytest.approx(1.0),
                "verdict": "fake",
                "reason": "left",
                "ood_score": None,
                "class": "",
            }
        ]
        plain = c.post("/v1/detect", files=_files(("a.png", _half_image(255, 0))))
        res = plain.json()["results"][0]
        assert "faces" not in res and res["p_fake"] == pytest.approx(0.5)
        assert _one_line_error(c.post("/v1/detect?faces=maybe", files=[]), 400)
    assert model.calls == [(1, True), (1, False)]


def test_server_faces_default_and_per_request_off() -> None:
    model = _FaceModel()
    with TestClient(create_app(model=model, explainer=None, faces=True)) as c:
        on = c.post("/v1/detect", files=_files(("a.png", _half_image(0, 255)))).json()
        off = c.post("/v1/detect?faces=0", files=_files(("a.png", _half_image(0, 255)))).json()
    assert on["results"][0]["p_fake"] == pytest.approx(0.0) and len(on["results"][0]["faces"]) == 1
    assert off["results"][0]["p_fake"] == pytest.approx(0.5) and "faces" not in off["results"][0]


def test_mixed_face_and_plain_requests_share_a_batch_without_mixing_up() -> None:
    from fakescope.serve.app import ServerState, _Job

    model = _FaceModel()
    state = ServerState(ServeLimits(), None, model=model)
    jobs = [
        _Job(
            f"{i}.png", Image.open(io.BytesIO(_half_image(255 if i % 2 else 0, 128))), False, i < 2
        )
        for i in range(4)
    ]
    outs = state.run_batch(jobs)
    assert sorted(model.calls) == [(2, False), (2, True)]
    assert [o.verdict.path for o in outs] == ["0.png", "1.png", "2.png", "3.png"]
    assert [getattr(o.verdict, "faces", None) is not None for o in outs] == [
        True,
        True,
        False,
        False,
    ]
    assert [o.verdict.p_fake for o in outs] == pytest.approx([0.0, 1.0, 64 / 255, 191.5 / 255])


def test_faces_without_opencv_is_501(monkeypatch: pytest.MonkeyPatch) -> None:
    import fakescope.data.faces as faces_mod
    from fakescope.errors import ConfigError

    def no_cv(*_: Any, **__: Any) -> Any:
        raise ConfigError("face detection needs OpenCV; install it with: pip install x")

    monkeypatch.setattr(faces_mod, "detect_faces", no_cv)
    with TestClient(create_app(model=_FaceModel(), explainer=None)) as c:
        msg = _one_line_error(
            c.post("/v1/detect?faces=1", files=_files(("a.png", image_bytes(1)))), 501
        )
        assert "needs OpenCV" in msg
        assert c.post("/v1/detect", files=_files(("a.png", image_bytes(1)))).status_code == 200


@pytest.mark.shared
def test_real_face_through_a_real_bundle(
    tiny_bundle: Path,  # noqa: F811 - the imported fixture
    shared_data: Path,
) -> None:
    import zipfile

    from fakescope.inference.verdict import VerdictModel

    pytest.importorskip("cv2")
    with zipfile.ZipFile(shared_data / "lfw-deepfunneled-8k.zip") as zf:
        data = zf.read("lfw/AJ_Cook/AJ_Cook_0001.jpg")
    image = Image.open(io.BytesIO(data)).convert("RGB")
    (want,) = VerdictModel.load(tiny_bundle).decide_images([image], ["face.jpg"], faces=True)
    assert want.faces is not None and len(want.faces) == 1
    with TestClient(create_app(tiny_bundle)) as c:
        wait_until(lambda: c.get("/ready").status_code == 200, "the bundle to load")
        res = c.post("/v1/detect?faces=1", files=_files(("face.jpg", data))).json()["results"][0]
    assert res["reason"].endswith("1 face")
    (face,) = res["faces"]
    assert face["box"] == list(want.faces[0].box) and face["crop"] == list(want.faces[0].crop)
    assert face["p_fake_raw"] == pytest.approx(want.faces[0].verdict.p_fake_raw, abs=1e-6)
    assert res["p_fake_raw"] == pytest.approx(face["p_fake_raw"])
