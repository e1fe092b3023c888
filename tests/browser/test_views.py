"""Every view of the page at a desktop (1366x900) and a phone (390x844) viewport: the layout
holds (no sideways scroll, tiles of one size whatever the photo's shape, every log column
visible or deliberately folded), axe-core finds no serious violation, and a screenshot of
each goes to test-artifacts/ for a person to look at."""

import io

import pytest
from PIL import Image
from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions as seen

from tests.browser.page import (
    DESKTOP,
    PHONE,
    axe_violations,
    cards,
    clipped_cells,
    horizontal_overflow,
    open_card,
    resize,
    screenshot,
    show,
    sign_in,
    thumbnails_loaded,
    tile_geometry,
    waiting,
)
from tests.support import corpus, localstack

pytestmark = pytest.mark.e2e
USER = "browser-showcase"


def _jpeg(picture: Image.Image) -> bytes:
    out = io.BytesIO()
    picture.convert("RGB").save(out, "JPEG", quality=85)
    return out.getvalue()


@pytest.fixture(scope="module")
def showcase(stack):
    """An admin with photos of every shape, a failure, a collection and an API key."""
    stack.create_user(USER, groups=("admins",))
    photos = corpus.photos()
    storm = Image.open(photos / "camera-storm.jpg")
    uploads = {
        "Kite over the dunes.jpg": (photos / "camera-kite.jpg").read_bytes(),
        "storm-portrait-taken-on-a-phone-with-a-long-name.jpg": _jpeg(
            storm.crop((500, 0, 1353, 1280))
        ),
        "astronaut.png": (photos / "small-astronaut.png").read_bytes(),
        "coffee.png": (photos / "small-coffee.png").read_bytes(),
        "tall-strip.jpg": _jpeg(storm.crop((0, 0, 200, 1280))),
        "shopping-list.jpg": b"milk, eggs, bread\n" * 40,
    }
    images = {}
    for name, data in uploads.items():
        kind = "image/png" if name.endswith(".png") else "image/jpeg"
        image = localstack.upload(stack, USER, data, filename=name, content_type=kind)
        images[name] = localstack.wait_until_done(stack, USER, image["id"])
    made = stack.call("POST", "/collections", USER, json={"name": "Summer at the coast"}).json()
    stack.call(
        "POST", f"/collections/{made['id']}/members", USER, json={"userId": "friend-user-id"}
    )
    localstack.upload(
        stack,
        USER,
        (photos / "camera-fallenleaf.jpg").read_bytes(),
        filename="fallen-leaf.jpg",
        collectionId=made["id"],
    )
    stack.call("POST", "/admin/api-keys", USER, json={"name": "Newsroom CMS"})
    return {"images": images, "collection": made}


def _no_serious_violations(browser, view):
    found = axe_violations(browser)
    assert not found, f"{view}: axe-core found {found}"


def _rows(geometry):
    rows: dict[int, list[dict]] = {}
    for tile in geometry:
        rows.setdefault(tile["top"], []).append(tile)
    return rows


@pytest.mark.parametrize("viewport", [DESKTOP, PHONE], ids=["desktop", "phone"])
def test_every_view_fits_the_viewport_and_passes_axe(stack, browser, showcase, viewport):
    wait = waiting(browser, 60)
    resize(browser, viewport)
    assert browser.execute_script("return window.innerWidth") == viewport[0]
    sign_in(browser, stack, USER)

    # The gallery: tiles of one box whatever the photo's aspect ratio, rows of equal height.
    wait.until(lambda d: len(cards(d)) >= 6 and thumbnails_loaded(d))
    geometry = tile_geometry(browser)
    assert {round(t["thumbWidth"] / t["thumbHeight"], 2) for t in geometry} == {1.33}
    for row in _rows(geometry).values():
        assert len({round(t["height"]) for t in row}) == 1, row
    assert len({round(t["width"]) for t in geometry}) == 1
    assert horizontal_overflow(browser) == 0
    screenshot(browser, "gallery")
    _no_serious_violations(browser, "gallery")

    # The detail dialog of the portrait photo.
    name = "storm-portrait-taken-on-a-phone-with-a-long-name.jpg"
    open_card(browser, showcase["images"][name]["id"])
    wait.until(
        lambda d: d.execute_script(
            "const i = document.getElementById('detail-preview');"
            "return i.complete && i.naturalWidth > 0"
        )
    )
    assert horizontal_overflow(browser) == 0
    dialog_width = browser.execute_script(
        "return document.getElementById('detail').getBoundingClientRect().width"
    )
    assert dialog_width <= viewport[0]
    screenshot(browser, "detail")
    _no_serious_violations(browser, "detail")
    browser.find_element(By.ID, "detail-close").click()

    # Collections: the index, then one open.
    show(browser, "collections")
    wait.until(lambda d: d.find_elements(By.CSS_SELECTOR, "#collections [data-testid=collection]"))
    assert horizontal_overflow(browser) == 0
    screenshot(browser, "collections")
    _no_serious_violations(browser, "collections")
    browser.find_element(By.CSS_SELECTOR, "#collections button").click()
    wait.until(lambda d: thumbnails_loaded(d, "#collection-gallery"))
    browser.find_element(By.CSS_SELECTOR, ".members-panel summary").click()
    assert horizontal_overflow(browser) == 0
    screenshot(browser, "collection")
    _no_serious_violations(browser, "collection")

    # The processing log, mine and everyone's: every column in view, or folded into the row.
    show(browser, "log")
    wait.until(lambda d: len(d.find_elements(By.CSS_SELECTOR, "#log tbody tr")) >= 7)
    assert horizontal_overflow(browser) == 0
    assert clipped_cells(browser) == []
    failed = browser.find_element(By.CSS_SELECTOR, "#log tbody tr[data-failure=not_an_image]")
    labels = browser.execute_script(
        "return Array.from(arguments[0].cells).filter((c) => c.offsetParent !== null)"
        ".map((c) => c.dataset.label)",
        failed,
    )
    assert {"File", "Status", "Details", "Started", "Processed"} <= set(labels)
    screenshot(browser, "log")
    _no_serious_violations(browser, "log")
    browser.find_element(By.ID, "log-everyone").click()
    wait.until(
        lambda d: (
            d.find_element(By.ID, "log").get_attribute("data-everyone") == "true"
            and d.find_elements(By.CSS_SELECTOR, "#log tbody tr")
        )
    )
    assert clipped_cells(browser) == []
    screenshot(browser, "log-everyone")

    # API keys (an admin's).
    show(browser, "keys")
    wait.until(lambda d: d.find_elements(By.CSS_SELECTOR, "#keys tbody tr"))
    assert horizontal_overflow(browser) == 0
    assert clipped_cells(browser, "#keys") == []
    screenshot(browser, "keys")
    _no_serious_violations(browser, "keys")


@pytest.mark.parametrize("viewport", [DESKTOP, PHONE], ids=["desktop", "phone"])
def test_the_sign_in_view_fits_and_passes_axe(stack, browser, viewport):
    from tests.browser.page import open_page

    resize(browser, viewport)
    open_page(browser, stack)
    assert horizontal_overflow(browser) == 0
    screenshot(browser, "sign-in")
    _no_serious_violations(browser, "sign-in")


def _luminance(rgb: str) -> float:
    channels = [int(part) / 255 for part in rgb[rgb.index("(") + 1 : rgb.index(")")].split(",")[:3]]
    linear = [c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4 for c in channels]
    return 0.2126 * linear[0] + 0.7152 * linear[1] + 0.0722 * linear[2]


def _contrast(one: str, other: str) -> float:
    high, low = sorted((_luminance(one), _luminance(other)), reverse=True)
    return (high + 0.05) / (low + 0.05)


def test_field_edges_and_the_focus_ring_stand_out_three_to_one(stack, browser):
    """WCAG 1.4.11 (non-text contrast): what shows a control and what shows focus."""
    from tests.browser.page import open_page

    open_page(browser, stack)
    colours = browser.execute_script(
        """
        const field = document.getElementById('username');
        field.focus();
        const style = getComputedStyle(field);
        const around = getComputedStyle(field.closest('form')).backgroundColor;
        const body = getComputedStyle(document.body).backgroundColor;
        const root = getComputedStyle(document.documentElement).backgroundColor;
        const page = body === 'rgba(0, 0, 0, 0)' ? root : body;
        return {border: style.borderTopColor, outline: style.outlineColor,
                field: style.backgroundColor, around, page};
        """
    )
    assert _contrast(colours["border"], colours["field"]) >= 3, colours
    assert _contrast(colours["border"], colours["around"]) >= 3, colours
    for background in (colours["around"], colours["page"], colours["field"]):
        assert _contrast(colours["outline"], background) >= 3, colours


def test_the_gallery_says_it_is_loading_until_the_first_page_is_in(stack, browser):
    stack.create_user("browser-patient")
    from tests.browser.page import open_page

    open_page(browser, stack)
    # A slow network, so the first page of the gallery takes a while to arrive.
    browser.execute_cdp_cmd("Network.enable", {})
    browser.execute_cdp_cmd(
        "Network.emulateNetworkConditions",
        {"offline": False, "latency": 1500, "downloadThroughput": -1, "uploadThroughput": -1},
    )
    browser.find_element(By.ID, "username").send_keys("browser-patient")
    browser.find_element(By.ID, "password").send_keys(stack.state["users"]["browser-patient"])
    browser.find_element(By.ID, "sign-in-button").click()
    wait = waiting(browser, 60)
    loading = wait.until(seen.visibility_of_element_located((By.ID, "loading")))
    assert loading.text == "Loading your photos…"
    assert browser.find_element(By.ID, "gallery").get_attribute("aria-busy") == "true"
    assert not browser.find_element(By.ID, "empty").is_displayed()
    wait.until(seen.visibility_of_element_located((By.ID, "empty")))
    assert not browser.find_element(By.ID, "loading").is_displayed()
