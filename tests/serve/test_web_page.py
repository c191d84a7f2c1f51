"""The web page: served by the app, no external assets, and end to end in headless Chromium.

The browser test needs Debian's ``chromium`` and ``chromium-driver`` packages
(``apt-get install -y chromium chromium-driver``) and the ``selenium`` package;
it is skipped with a message when they are absent. It only talks to 127.0.0.1.
"""

from __future__ import annotations

import re
import shutil
from pathlib import Path

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


def _browser() -> object:
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
            driver.get(base + "/")  # type: ignore[attr-defined]
            wait = WebDriverWait(driver, WAIT_S)
            wait.until(ec.text_to_be_present_in_element((By.ID, "model-facts"), "tiny-test"))
            for path in pictures:
                before = len(driver.find_elements(By.CSS_SELECTOR, ".card"))  # type: ignore[attr-defined]
                driver.find_element(By.ID, "file-input").send_keys(str(path))  # type: ignore[attr-defined]
                wait.until(lambda d, n=before: len(d.find_elements(By.CSS_SELECTOR, ".card")) > n)
            cards = driver.find_elements(By.CSS_SELECTOR, ".card")  # type: ignore[attr-defined]
            shown = {
                c.find_element(By.CSS_SELECTOR, ".filename").text: (
                    c.find_element(By.CSS_SELECTOR, ".verdict").text.lower(),
                    c.find_element(By.CSS_SELECTOR, ".prob-value").text,
                )
                for c in cards
            }
    finally:
        driver.quit()  # type: ignore[attr-defined]
    assert set(shown) == {"dark.png", "bright.png"}
    for v in expected:
        verdict, prob = shown[Path(v.path).name]
        assert verdict == v.verdict
        assert prob == f"{100 * v.p_fake:.1f}%"
    assert shutil.which(CHROMIUM) or Path(CHROMIUM).exists()
