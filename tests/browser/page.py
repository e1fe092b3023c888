"""Driving the web page in headless Chromium: signing in, finding cards, waiting, measuring
the layout, running axe-core, and saving screenshots for a person to look at."""

import json
import subprocess
from pathlib import Path

from selenium.common.exceptions import StaleElementReferenceException
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.support import expected_conditions as seen
from selenium.webdriver.support.ui import WebDriverWait

ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = ROOT / "test-artifacts"
AXE = ROOT / ".cache" / "axe-core" / "node_modules" / "axe-core" / "axe.min.js"
DESKTOP = (1366, 900)
PHONE = (390, 844)


def waiting(driver, seconds: float) -> WebDriverWait:
    """A wait that polls again when the page replaced an element while it was being read
    (the gallery re-renders a card when its status changes): that is always "not yet"."""
    return WebDriverWait(driver, seconds, ignored_exceptions=(StaleElementReferenceException,))


def open_page(driver, stack) -> None:
    driver.get(stack.api + "/")
    waiting(driver, 30).until(
        lambda d: d.find_element(By.TAG_NAME, "body").get_attribute("data-ready")
    )


def sign_in(driver, stack, user="demo", password=None) -> None:
    open_page(driver, stack)
    driver.find_element(By.ID, "username").send_keys(user)
    driver.find_element(By.ID, "password").send_keys(
        password or stack.state["users"][user], Keys.ENTER
    )
    signed_in(driver)


def signed_in(driver) -> None:
    wait = waiting(driver, 30)
    wait.until(seen.visibility_of_element_located((By.ID, "drop-zone")))
    # The first page of the gallery is in once the list stops being busy.
    wait.until(lambda d: d.find_element(By.ID, "gallery").get_attribute("aria-busy") == "false")


def show(driver, view: str) -> None:
    driver.find_element(By.ID, f"tab-{view}").click()
    waiting(driver, 10).until(
        lambda d: d.find_element(By.ID, f"tab-{view}").get_attribute("aria-selected") == "true"
    )


def cards(driver, status=None, within="#gallery"):
    selector = f"{within} .card" + (f"[data-status='{status}']" if status else "")
    return driver.find_elements(By.CSS_SELECTOR, selector)


def by_name(found) -> dict:
    return {card.find_element(By.CLASS_NAME, "name").text: card for card in found}


def open_card(driver, image_id: str) -> None:
    """Clicks a card open; a card re-rendered meanwhile (its thumbnail arrived) is found again."""

    def click(d) -> bool:
        found = [c for c in cards(d) if c.get_attribute("data-id") == image_id]
        if not found:
            return False
        found[0].find_element(By.CSS_SELECTOR, "button.open").click()
        return True

    waiting(driver, 30).until(click)
    waiting(driver, 30).until(seen.visibility_of_element_located((By.ID, "detail")))


def loaded(driver, img) -> bool:
    return driver.execute_script(
        "return arguments[0].complete && arguments[0].naturalWidth > 0", img
    )


def thumbnails_loaded(driver, within="#gallery") -> bool:
    ready = cards(driver, "ready", within)
    images = [card.find_elements(By.CSS_SELECTOR, ".thumb img") for card in ready]
    return bool(ready) and all(found and loaded(driver, found[0]) for found in images)


def resize(driver, size: tuple[int, int]) -> None:
    """Makes the page's own viewport (window.innerWidth) exactly width x height."""
    driver.set_window_size(*size)
    inner = driver.execute_script("return [window.innerWidth, window.innerHeight]")
    driver.set_window_size(size[0] * 2 - inner[0], size[1] * 2 - inner[1])


def screenshot(driver, name: str) -> Path:
    ARTIFACTS.mkdir(exist_ok=True)
    width = driver.execute_script("return window.innerWidth")
    path = ARTIFACTS / f"{name}-{width}.png"
    driver.save_screenshot(str(path))
    return path


def horizontal_overflow(driver) -> int:
    """How many CSS pixels the page is wider than its viewport (0: no sideways scroll)."""
    return driver.execute_script(
        "return document.documentElement.scrollWidth - document.documentElement.clientWidth"
    )


def tile_geometry(driver, within="#gallery") -> list[dict]:
    """Each card's box and its thumbnail's box, in page pixels."""
    return driver.execute_script(
        """
        return Array.from(document.querySelectorAll(arguments[0] + ' .card')).map((card) => {
          const c = card.getBoundingClientRect();
          const t = card.querySelector('.thumb').getBoundingClientRect();
          return {top: Math.round(c.top), height: c.height, width: c.width,
                  thumbWidth: t.width, thumbHeight: t.height};
        });
        """,
        within,
    )


def clipped_cells(driver, table="#log") -> list[str]:
    """The text of every visible cell of a table that runs past the viewport's right edge."""
    return driver.execute_script(
        """
        const edge = document.documentElement.clientWidth;
        return Array.from(document.querySelectorAll(arguments[0] + ' th, ' + arguments[0] + ' td'))
          .filter((cell) => cell.offsetParent !== null)
          .filter((cell) => cell.getBoundingClientRect().right > edge + 0.5)
          .map((cell) => cell.textContent);
        """,
        table,
    )


def axe_violations(driver, impacts=("serious", "critical")) -> list[dict]:
    """axe-core's WCAG 2.x A/AA violations of the page as shown, of the given impacts."""
    if not AXE.exists():
        subprocess.run([str(ROOT / "scripts" / "install-axe.sh")], check=True)
    driver.execute_script(AXE.read_text())
    driver.set_script_timeout(60)
    result = driver.execute_async_script(
        """
        const done = arguments[arguments.length - 1];
        const tags = ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa', 'best-practice'];
        const failed = (e) => [{id: 'axe-error', impact: 'critical', help: String(e), nodes: []}];
        axe.run(document, {runOnly: {type: 'tag', values: tags}}).then(
          (r) => done(JSON.stringify(r.violations)), (e) => done(JSON.stringify(failed(e))));
        """
    )
    return [
        {
            "id": v["id"],
            "impact": v["impact"],
            "help": v["help"],
            "nodes": [n["target"] for n in v["nodes"]][:5],
        }
        for v in json.loads(result)
        if v["impact"] in impacts
    ]


# A real drop on the zone, for execute_script(drop_script(...), names, base64 contents, types):
# the files are built in the page, then dragged in as a person's drop would be.
_DROP_FILES = """
const [names, contents, types] = arguments;
const transfer = new DataTransfer();
names.forEach((name, i) => {
  const bytes = Uint8Array.from(atob(contents[i]), (c) => c.charCodeAt(0));
  transfer.items.add(new File([bytes], name, { type: types[i] }));
});
"""
_DROP_ON_THE_ZONE = """
const zone = document.getElementById("drop-zone");
for (const kind of ["dragenter", "dragover", "drop"]) {
  const options = { dataTransfer: transfer, bubbles: true, cancelable: true };
  zone.dispatchEvent(new DragEvent(kind, options));
}
"""


def drop_script(watch: str = "") -> str:
    """The drop, with `watch` (script run once the files exist) before it is dispatched."""
    return _DROP_FILES + watch + _DROP_ON_THE_ZONE
