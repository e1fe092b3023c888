"""The browser: Debian's headless Chromium driven by Selenium, one per test. Every test fails
if the page logged a script error or a Content-Security-Policy violation."""

import shutil
from pathlib import Path

import pytest
from selenium import webdriver
from selenium.webdriver.chrome.service import Service

from tests.browser.page import DESKTOP

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMEDRIVER = shutil.which("chromedriver") or "/usr/bin/chromedriver"
FLAGS = (
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
)


@pytest.fixture
def browser(tmp_path):
    yield from _browser(tmp_path)


@pytest.fixture
def network_browser(tmp_path):
    """A browser that also logs every network event (driver.get_log("performance"))."""
    yield from _browser(tmp_path, network=True)


def _browser(tmp_path, network=False):
    if not (Path(CHROMIUM).exists() and Path(CHROMEDRIVER).exists()):
        pytest.skip("Chromium not found: run scripts/install-browser.sh (make test does)")
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    logs = {"browser": "SEVERE", **({"performance": "ALL"} if network else {})}
    options.set_capability("goog:loggingPrefs", logs)
    options.add_experimental_option(
        "prefs",
        {
            "download.default_directory": str(tmp_path / "downloads"),
            "download.prompt_for_download": False,
        },
    )
    size = f"--window-size={DESKTOP[0]},{DESKTOP[1]}"
    for flag in (*FLAGS, f"--user-data-dir={tmp_path / 'profile'}", size):
        options.add_argument(flag)
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    driver.set_page_load_timeout(30)
    yield driver
    problems = [
        entry["message"]
        for entry in driver.get_log("browser")
        if entry["level"] == "SEVERE"
        and ("Content Security Policy" in entry["message"] or "Uncaught" in entry["message"])
    ]
    driver.quit()
    assert not problems, f"script errors or Content-Security-Policy violations: {problems}"
