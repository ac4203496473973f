"""The HTML report in a real headless Chromium: it loads without console errors, shows its images and plot, and
its slider and detail zoom answer real pointer input (through chromium-driver and Selenium)."""

from __future__ import annotations

import shutil

import pytest

from deepprior.cli import main
from deepprior.io import write_image
from helpers import add_noise, smooth_image


@pytest.fixture
def browser(tmp_path):
    chromium, driver = shutil.which("chromium"), shutil.which("chromedriver")
    if not chromium or not driver:
        pytest.skip("no Chromium here (Debian's chromium and chromium-driver; .ci/run installs them)")
    webdriver = pytest.importorskip("selenium.webdriver")
    options = webdriver.ChromeOptions()
    options.binary_location = chromium
    for flag in (
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        f"--user-data-dir={tmp_path / 'chromium'}",
        "--window-size=1100,1500",
    ):
        options.add_argument(flag)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    session = webdriver.Chrome(options=options, service=webdriver.ChromeService(executable_path=driver))
    yield session
    session.quit()


def test_the_report_loads_shows_its_parts_and_its_slider_and_zoom_move(tmp_path, browser):
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.common.by import By

    folder = tmp_path / "in"
    folder.mkdir()
    write_image(folder / "a.png", add_noise(smooth_image(64)))
    (folder / "broken.png").write_text("not an image")
    assert (
        main(
            [
                "denoise",
                str(folder),
                "-o",
                str(tmp_path / "out"),
                "--iterations",
                "30",
                "--channels",
                "8",
                "--threads",
                "1",
                "--quiet",
                "--report",
            ]
        )
        == 1
    )
    index = (tmp_path / "out" / "index.html").read_text()
    assert "a.html" in index and "broken.png" in index  # one row per run, the failure listed

    browser.get((tmp_path / "out" / "a.html").as_uri())
    severe = [entry for entry in browser.get_log("browser") if entry["level"] == "SEVERE"]
    assert severe == []
    loaded = browser.execute_script(
        "return [...document.querySelectorAll('.compare img')].map(i => i.complete && i.naturalWidth)"
    )
    assert loaded == [64, 64]
    assert browser.find_elements(By.CSS_SELECTOR, ".plot svg")  # the curves (matplotlib, inline SVG)
    assert browser.execute_script("return document.body.dataset.split") == "50"

    slider = browser.find_element(By.ID, "slider")
    ActionChains(browser).click_and_hold(slider).move_by_offset(-150, 0).release().perform()
    split = int(browser.execute_script("return document.body.dataset.split"))
    clip = browser.execute_script("return document.querySelector('.compare .after').style.clipPath")
    assert split < 40 and f"{split}%" in clip

    before = browser.execute_script("return document.body.dataset.detail")
    compare = browser.find_element(By.CSS_SELECTOR, ".compare")
    ActionChains(browser).move_to_element_with_offset(compare, -200, -200).click().perform()
    after = browser.execute_script("return document.body.dataset.detail")
    assert before == "0.500,0.500" and after != before
    fx, fy = (float(v) for v in after.split(","))
    assert fx < 0.3 and fy < 0.3  # the detail moved to where the click was
    assert browser.save_screenshot(str(tmp_path / "report.png"))
    assert (tmp_path / "report.png").stat().st_size > 10_000
    print(f"screenshot: {tmp_path / 'report.png'}")
