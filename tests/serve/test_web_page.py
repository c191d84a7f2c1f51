"""The web page: served by the app, no external assets, and end to end in headless Chromium.

The browser tests need Debian's ``chromium`` and ``chromium-driver`` packages
(``apt-get install -y chromium chromium-driver``) and the ``selenium`` package;
they are skipped with a message when they are absent. They only talk to 127.0.0.1.
The unsure band's wording is also checked without a browser: the served ``app.js``
runs in Node.js (skipped when ``node`` is absent) and its ``bandText`` is called.
Set ``FAKESCOPE_SCREENSHOTS=DIR`` to keep the browser tests' screenshots.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from fakescope.serve.app import STATIC, create_app
from tests.cli.tiny_detector import tiny_registered  # noqa: F401 - autouse fixture
from tests.serve.serve_helpers import (
    WAIT_S,
    MeanModel,
    image_bytes,
    tiny_bundle,  # noqa: F401 - fixture
)

CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"


def test_page_and_assets_are_served_and_self_contained() -> None:
    with TestClient(create_app(model=MeanModel())) as c:
        page = c.get("/")
        assert page.status_code == 200 and "text/html" in page.headers["content-type"]
        assert 'id="file-input"' in page.text
        for asset in re.findall(r'(?:src|href)="(/static/[^"]+)"', page.text):
            r = c.get(asset)
            assert r.status_code == 200, asset
    for f in STATIC.iterdir():
        text = f.read_text(encoding="utf-8")
        # no CDN, no remote fonts: nothing is fetched from another host
        assert not re.search(r"(?:src|href)\s*=\s*[\"']?(?:https?:)?//", text), f.name
        assert not re.search(r"@import|url\(\s*[\"']?(?:https?:)?//", text), f.name
        assert ".innerHTML" not in text, f"{f.name}: user text must go through textContent"


def _browser() -> Any:
    if not (Path(CHROMIUM).exists() and Path(CHROMEDRIVER).exists()):
        pytest.skip(
            "needs Debian's chromium + chromium-driver (apt-get install -y chromium chromium-driver)"
        )
    webdriver = pytest.importorskip("selenium.webdriver", reason="needs pip package selenium")
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"):
        options.add_argument(arg)
    return webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)


def test_upload_through_the_page_shows_the_verdict(tiny_bundle: Path, tmp_path: Path) -> None:  # noqa: F811
    driver = _browser()
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as ec
    from selenium.webdriver.support.ui import WebDriverWait

    from fakescope.inference.verdict import VerdictModel
    from fakescope.perf.loadtest import local_server

    model = VerdictModel.load(tiny_bundle)
    pictures = [tmp_path / "dark.png", tmp_path / "bright.png"]
    for path, value in zip(pictures, (20, 235), strict=True):
        path.write_bytes(image_bytes(value, size=32))
    expected = model.decide_paths([str(p) for p in pictures])
    try:
        with local_server(create_app(tiny_bundle, model=model)) as base:
            driver.get(base + "/")
            wait = WebDriverWait(driver, WAIT_S)
            wait.until(ec.text_to_be_present_in_element((By.ID, "model-facts"), "tiny-test"))
            for path in pictures:
                before = len(driver.find_elements(By.CSS_SELECTOR, ".card"))
                driver.find_element(By.ID, "file-input").send_keys(str(path))
                wait.until(lambda d, n=before: len(d.find_elements(By.CSS_SELECTOR, ".card")) > n)  # type: ignore[misc]
            cards = driver.find_elements(By.CSS_SELECTOR, ".card")
            shown = {
                c.find_element(By.CSS_SELECTOR, ".filename").text: (
                    c.find_element(By.CSS_SELECTOR, ".verdict").text.lower(),
                    c.find_element(By.CSS_SELECTOR, ".prob-value").text,
                )
                for c in cards
            }
    finally:
        driver.quit()
    assert set(shown) == {"dark.png", "bright.png"}
    for v in expected:
        verdict, prob = shown[Path(v.path).name]
        assert verdict == v.verdict
        assert v.p_fake is not None and prob == f"{100 * v.p_fake:.1f}%"
    assert shutil.which(CHROMIUM) or Path(CHROMIUM).exists()


# ------------------------------------------------------------------ the unsure band
@dataclass(frozen=True)
class _Band:
    alpha: float
    real_max: float
    fake_min: float


class _IdentityCalibrator:
    """The calibrator fields ``/v1/model`` reads; P(fake) is left as it is."""

    method = "platt"

    def __init__(self, band: _Band) -> None:
        self.band = band

    def transform(self, p: float) -> float:
        return p

    def describe(self) -> str:
        return "identity (test)"


class BandModel(MeanModel):
    """:class:`MeanModel` with a calibration band whose real_max lies above its fake_min."""

    def __init__(self, real_max: float = 0.842, fake_min: float = 0.079) -> None:
        super().__init__()
        self.calibrator = _IdentityCalibrator(_Band(0.05, real_max, fake_min))


NODE_CALL = """
const vm = require("vm");
let src = "";
process.stdin.on("data", (d) => { src += d; });
process.stdin.on("end", () => {
  const ctx = { document: { addEventListener() {} } };
  vm.createContext(ctx);
  vm.runInContext(src, ctx);
  console.log(JSON.stringify(JSON.parse(process.argv[1]).map((b) => ctx.bandText(b))));
});
"""


def _band_texts(bands: list[Any]) -> list[Any]:
    """``bandText(band)`` of the app.js the server serves, for each band (run in Node.js)."""
    node = shutil.which("node")
    if node is None:
        pytest.skip("needs Node.js (apt-get install -y nodejs) to run the page's script")
    with TestClient(create_app(model=MeanModel())) as c:
        script = c.get("/static/app.js").text
    done = subprocess.run(
        [node, "-e", NODE_CALL, json.dumps(bands)],
        input=script,
        capture_output=True,
        text=True,
        timeout=30,
        check=True,
    )
    out: list[Any] = json.loads(done.stdout)
    return out


@pytest.mark.parametrize(("real_max", "fake_min"), [(0.842, 0.079), (0.079, 0.842)])
def test_band_is_a_range_in_increasing_order_with_its_meaning(
    real_max: float, fake_min: float
) -> None:
    (shown,) = _band_texts([{"alpha": 0.05, "real_max": real_max, "fake_min": fake_min}])
    assert shown["range"] == "7.9% to 84.2%"
    assert (shown["lo"], shown["hi"]) == (0.079, 0.842)
    meaning = shown["meaning"]
    assert '"unsure"' in meaning and "5% of real" in meaning and "5% of fake" in meaning
    assert "\n" not in meaning


def test_no_band_or_an_open_end_shows_no_range() -> None:
    missing = [None, {"alpha": 0.1, "real_max": None, "fake_min": 0.5}]
    assert _band_texts(missing) == [None, None]


def _screenshot(driver: Any, tmp_path: Path, name: str) -> Path:
    where = Path(os.environ.get("FAKESCOPE_SCREENSHOTS", tmp_path))
    where.mkdir(parents=True, exist_ok=True)
    path = where / name
    assert driver.save_screenshot(str(path)), "the browser took no screenshot"
    return path


def test_model_panel_and_scale_show_the_band_in_order(tmp_path: Path) -> None:
    driver = _browser()
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as ec
    from selenium.webdriver.support.ui import WebDriverWait

    from fakescope.perf.loadtest import local_server

    picture = tmp_path / "grey.png"
    picture.write_bytes(image_bytes(128, size=32))
    try:
        driver.set_window_size(900, 1100)
        with local_server(create_app(model=BandModel())) as base:
            driver.get(base + "/")
            wait = WebDriverWait(driver, WAIT_S)
            wait.until(ec.text_to_be_present_in_element((By.ID, "model-facts"), "unsure band"))
            band = driver.find_element(By.CSS_SELECTOR, "#model-facts dd.band")
            shown_range = band.find_element(By.CSS_SELECTOR, ".band-range").text
            meaning = band.find_element(By.CSS_SELECTOR, ".band-meaning").text
            facts = driver.find_element(By.ID, "model-facts").text
            driver.find_element(By.ID, "file-input").send_keys(str(picture))
            wait.until(lambda d: d.find_elements(By.CSS_SELECTOR, ".card .scale-band"))
            zone = driver.find_element(By.CSS_SELECTOR, ".card .scale-band")
            zone_title, zone_left = zone.get_attribute("title"), zone.get_attribute("style")
            shot = _screenshot(driver, tmp_path, "web-page-band.png")
    finally:
        driver.quit()
    assert shown_range == "7.9% to 84.2%"
    assert "84.2%" not in facts.split("7.9%")[0]  # the smaller end comes first
    assert meaning.startswith("P(fake) in this range gives") and '"unsure"' in meaning
    assert zone_title == "unsure band 7.9% to 84.2%"
    assert re.search(r"left: 7\.9%", zone_left or ""), zone_left
    assert shot.stat().st_size > 1000
