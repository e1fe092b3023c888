"""What a browser downloads: a second visit to the gallery fetches no image bytes (the links
are the same within their window and the objects immutable), measured from Chromium's own
network log; and the render dialog's lasting embed link, on a stack with the CDN option."""

import json

import pytest

from tests.browser.page import open_page, sign_in, thumbnails_loaded, waiting
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
