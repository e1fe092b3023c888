"""The web page in a real browser (Debian's headless Chromium) against the local stack: sign
in, drop photos, watch them process, open one, delete one. Screenshots go to test-artifacts/."""

import shutil
from pathlib import Path

import pytest
from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions as seen
from selenium.webdriver.support.ui import WebDriverWait

from tests.support import corpus

pytestmark = pytest.mark.e2e

ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMEDRIVER = shutil.which("chromedriver") or "/usr/bin/chromedriver"


@pytest.fixture
def browser(tmp_path):
    if not (Path(CHROMIUM).exists() and Path(CHROMEDRIVER).exists()):
        pytest.fail("Chromium is missing: run scripts/install-browser.sh (make test does)")
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in (
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--disable-quic",
        f"--user-data-dir={tmp_path / 'profile'}",
        "--window-size=1280,900",
    ):
        options.add_argument(flag)
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    driver.set_page_load_timeout(30)
    yield driver
    driver.quit()


def cards(driver, status=None):
    selector = "#gallery .card" + (f"[data-status='{status}']" if status else "")
    return driver.find_elements(By.CSS_SELECTOR, selector)


def test_sign_in_upload_watch_open_and_delete(stack, browser, tmp_path):
    ARTIFACTS.mkdir(exist_ok=True)
    photos = corpus.photos()
    text = tmp_path / "notes.jpg"
    text.write_text("this is a shopping list, not a photo\n" * 20)
    wait = WebDriverWait(browser, 60)

    browser.get(stack.api + "/")
    wait.until(lambda d: d.find_element(By.TAG_NAME, "body").get_attribute("data-ready"))
    browser.find_element(By.ID, "username").send_keys("demo")
    browser.find_element(By.ID, "password").send_keys(stack.state["users"]["demo"])
    browser.find_element(By.CSS_SELECTOR, "#sign-in button[type=submit]").click()
    wait.until(seen.visibility_of_element_located((By.ID, "drop-zone")))
    assert "demo" in browser.find_element(By.ID, "who").text

    before = {card.get_attribute("data-id") for card in cards(browser)}
    files = [photos / "photo-8mp-picos.jpg", photos / "small-coffee.png", text]
    browser.find_element(By.ID, "file-input").send_keys("\n".join(str(f) for f in files))

    def new_cards(driver):
        return [c for c in cards(driver) if c.get_attribute("data-id") not in before]

    wait.until(
        lambda d: (
            len(new_cards(d)) == 3
            and all(c.get_attribute("data-status") in ("ready", "failed") for c in new_cards(d))
        )
    )
    statuses = sorted(c.get_attribute("data-status") for c in new_cards(browser))
    assert statuses == ["failed", "ready", "ready"]
    failed = next(c for c in new_cards(browser) if c.get_attribute("data-status") == "failed")
    assert "not_an_image" in failed.text
    wait.until(
        lambda d: all(
            d.execute_script("return arguments[0].complete && arguments[0].naturalWidth > 0", img)
            for c in new_cards(d)
            if c.get_attribute("data-status") == "ready"
            for img in c.find_elements(By.TAG_NAME, "img")
        )
    )
    browser.save_screenshot(str(ARTIFACTS / "gallery.png"))

    ready = next(c for c in new_cards(browser) if c.get_attribute("data-status") == "ready")
    ready_id = ready.get_attribute("data-id")
    ready.find_element(By.TAG_NAME, "button").click()
    wait.until(seen.visibility_of_element_located((By.ID, "detail")))
    for picture in ("detail-preview", "detail-hd"):
        wait.until(
            lambda d, p=picture: d.execute_script(
                "const i = document.getElementById(arguments[0]);"
                "return i.complete && i.naturalWidth > 0",
                p,
            )
        )
    hd_size = browser.execute_script(
        "const i = document.getElementById('detail-hd'); return [i.naturalWidth, i.naturalHeight]"
    )
    assert hd_size == [1280, 720]
    assert "Download" in browser.find_element(By.ID, "detail-original").text
    facts = browser.find_element(By.ID, "detail-facts").text
    assert "jpeg" in facts or "png" in facts
    browser.save_screenshot(str(ARTIFACTS / "detail.png"))

    browser.find_element(By.ID, "detail-delete").click()
    wait.until(seen.alert_is_present()).accept()
    wait.until(lambda d: ready_id not in {c.get_attribute("data-id") for c in cards(d)})
    assert stack.call("GET", f"/images/{ready_id}", "demo").status_code == 404

    browser.find_element(By.CSS_SELECTOR, ".tab[data-view='log']").click()
    wait.until(lambda d: d.find_elements(By.CSS_SELECTOR, "#log tbody tr[data-status='failed']"))
    assert "not_an_image" in browser.find_element(By.ID, "log").text


def test_the_page_fits_a_phone_sized_viewport(stack, browser):
    ARTIFACTS.mkdir(exist_ok=True)
    browser.set_window_size(390, 844)
    browser.get(stack.api + "/")
    WebDriverWait(browser, 30).until(
        lambda d: d.find_element(By.TAG_NAME, "body").get_attribute("data-ready")
    )
    width = browser.execute_script("return document.documentElement.scrollWidth")
    viewport = browser.execute_script("return window.innerWidth")
    assert width <= viewport
    browser.save_screenshot(str(ARTIFACTS / "phone-sign-in.png"))
