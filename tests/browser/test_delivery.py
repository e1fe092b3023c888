"""What a browser downloads: a second visit to the gallery fetches no image bytes (the links
are the same within their window and the objects immutable), measured from Chromium's own
network log; and the render dialog's lasting embed link, on a stack with the CDN option."""

import io
import json

import pytest
import requests
from PIL import Image
from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions as seen

from tests.browser.page import (
    loaded,
    open_card,
    open_page,
    sign_in,
    thumbnails_loaded,
    waiting,
)
from tests.support import localstack, pictures

pytestmark = pytest.mark.e2e


def _network(driver) -> list[dict]:
    """The network events since the last call (Chromium's DevTools log)."""
    return [json.loads(entry["message"])["message"] for entry in driver.get_log("performance")]


def _image_loads(events: list[dict], origin: str) -> dict[str, dict]:
    """Each image request for `origin`: whether the network carried it, and its bytes."""
    loads: dict[str, dict] = {}
    for event in events:
        params = event["params"]
        request_id = params.get("requestId")
        if event["method"] == "Network.requestWillBeSent":
            if params["request"]["url"].startswith(origin) and params.get("type") == "Image":
                loads[request_id] = {"url": params["request"]["url"], "cached": False, "bytes": 0}
        elif request_id not in loads:
            continue
        elif event["method"] == "Network.requestServedFromCache":
            loads[request_id]["cached"] = True
        elif event["method"] == "Network.responseReceived":
            response = params["response"]
            if response.get("fromDiskCache") or response.get("fromMemoryCache"):
                loads[request_id]["cached"] = True
        elif event["method"] == "Network.loadingFinished":
            loads[request_id]["bytes"] = params["encodedDataLength"]
    return loads


def test_a_second_visit_to_the_gallery_fetches_no_image_bytes(stack, network_browser):
    user = "browser-cache"
    stack.create_user(user)
    for colour in ((200, 40, 40), (40, 200, 40), (40, 40, 200)):
        image = localstack.upload(stack, user, pictures.jpeg((640, 480), colour))
        assert localstack.wait_until_done(stack, user, image["id"])["status"] == "ready"
    driver = network_browser
    sign_in(driver, stack, user, "Test-password-1")
    waiting(driver, 30).until(lambda d: thumbnails_loaded(d))
    first = _image_loads(_network(driver), stack.aws).values()
    # The measurement sees downloads: the first visit's come over the network.
    assert len([load for load in first if not load["cached"]]) >= 3
    assert sum(load["bytes"] for load in first) > 3 * 1000

    open_page(driver, stack)  # the same page again: still signed in
    waiting(driver, 30).until(lambda d: thumbnails_loaded(d))
    second = _image_loads(_network(driver), stack.aws).values()
    assert len(second) >= 3  # the thumbnails were asked for again…
    fetched = [load["url"] for load in second if not load["cached"]]
    assert fetched == [], f"the second visit downloaded {fetched}"
    assert sum(load["bytes"] for load in second) == 0  # …and came from the browser's cache


def test_with_the_cdn_the_render_dialog_gives_lasting_embed_links(cdn_stack, browser):
    user = "browser-embedder"
    cdn_stack.create_user(user)
    image = localstack.upload(cdn_stack, user, pictures.jpeg((1200, 800)), filename="dunes.jpg")
    assert localstack.wait_until_done(cdn_stack, user, image["id"])["status"] == "ready"
    sign_in(browser, cdn_stack, user, "Test-password-1")
    open_card(browser, image["id"])
    width = browser.find_element(By.ID, "render-width")
    width.clear()
    width.send_keys("300")
    browser.find_element(By.ID, "render-make").click()
    wait = waiting(browser, 60)
    wait.until(seen.visibility_of_element_located((By.ID, "render-result")))
    wait.until(lambda d: "work until" in d.find_element(By.ID, "render-message").text)

    link = browser.find_element(By.ID, "render-link").get_attribute("value")
    assert link.startswith(f"{cdn_stack.state['cdn']}/links/{image['id']}/lnk_")
    assert "Key-Pair-Id=" in link and "Expires=" in link
    snippet = browser.find_element(By.ID, "render-snippet").get_attribute("value")
    assert snippet.startswith(f'<img src="{link}" srcset="{link} 1x, ')
    double = snippet.split(", ")[1].split(" 2x")[0]
    for url, side in ((link, 300), (double, 600)):
        got = requests.get(url, timeout=30)
        assert got.status_code == 200
        assert Image.open(io.BytesIO(got.content)).width == side
    # The embed shows on a page of another origin, with no session: the edge alone checks it.
    # (A page of this machine: Chromium lets only those load from a loopback address.)
    browser.get(cdn_stack.api + "/health")
    browser.execute_script("document.body.innerHTML = arguments[0]", snippet)
    shown = browser.find_element(By.TAG_NAME, "img")
    waiting(browser, 30).until(lambda d: loaded(d, shown))
    assert cdn_stack.call("DELETE", f"/images/{image['id']}", user).status_code == 204
    assert requests.get(link, timeout=30).status_code == 403
