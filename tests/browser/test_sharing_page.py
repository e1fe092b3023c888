"""Sharing in the browser: the owner adds a member by user name and makes an upload link in
the collection view; a guest opens the link (not signed in), sees the collection's photos and
uploads one, which ends ready in the collection; a revoked link says so."""

import pytest
from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions as seen
from selenium.webdriver.support.ui import Select

from tests.browser.page import screenshot, show, sign_in, waiting
from tests.support import corpus, localstack

pytestmark = pytest.mark.e2e


def test_an_owner_shares_by_name_and_by_link_and_a_guest_views_and_uploads(stack, browser):
    stack.create_user("browser-sharer")
    stack.create_user("browser-sharer-friend")
    friend = stack.call("GET", "/me", "browser-sharer-friend").json()["sub"]
    made = stack.call("POST", "/collections", "browser-sharer", json={"name": "Barn dance"})
    collection_id = made.json()["id"]
    photo = (corpus.photos() / "camera-kite.jpg").read_bytes()
    first = localstack.upload(stack, "browser-sharer", photo, collectionId=collection_id)
    assert localstack.wait_until_done(stack, "browser-sharer", first["id"])["status"] == "ready"

    sign_in(browser, stack, "browser-sharer")
    wait = waiting(browser, 60)
    show(browser, "collections")
    wait.until(lambda d: d.find_elements(By.CSS_SELECTOR, f"[data-id='{collection_id}']"))[
        0
    ].click()
    wait.until(seen.visibility_of_element_located((By.ID, "collection-title")))

    browser.find_element(By.CSS_SELECTOR, ".members-panel summary").click()
    browser.find_element(By.ID, "member-id").send_keys("nobody-of-that-name\n")
    wait.until(lambda d: "no user named" in d.find_element(By.ID, "member-message").text)
    member = browser.find_element(By.ID, "member-id")
    member.clear()
    member.send_keys("browser-sharer-friend\n")
    wait.until(lambda d: d.find_elements(By.CSS_SELECTOR, f"#members [data-user='{friend}']"))
    shown = browser.find_element(By.CSS_SELECTOR, f"#members [data-user='{friend}']").text
    assert "browser-sharer-friend" in shown

    browser.find_element(By.CSS_SELECTOR, "#links-panel summary").click()
    Select(browser.find_element(By.ID, "link-scope")).select_by_value("upload")
    browser.find_element(By.ID, "link-label").send_keys("dancers")
    browser.find_element(By.CSS_SELECTOR, "#link-form button[type=submit]").click()
    url = wait.until(lambda d: d.find_element(By.ID, "link-url").get_attribute("value"))
    assert url.startswith(stack.api + "/#share=shl_")
    wait.until(lambda d: d.find_elements(By.CSS_SELECTOR, "#links [data-testid=link]"))
    screenshot(browser, "collection-share-links")
    (link,) = stack.call("GET", f"/collections/{collection_id}/links", "browser-sharer").json()[
        "links"
    ]
    assert (link["scope"], link["label"], link["maxUploads"]) == ("upload", "dancers", 20)

    browser.delete_all_cookies()
    browser.execute_script("sessionStorage.clear()")  # the guest is nobody signed in
    browser.get(url)
    browser.refresh()  # a fragment-only navigation does not reload the page
    wait.until(lambda d: d.find_element(By.TAG_NAME, "body").get_attribute("data-guest"))
    wait.until(lambda d: d.find_element(By.ID, "guest-title").text == "Barn dance")
    wait.until(
        lambda d: d.find_elements(By.CSS_SELECTOR, f"#guest-gallery [data-id='{first['id']}']")
    )
    assert browser.find_element(By.ID, "sign-in-view").is_displayed() is False
    browser.find_element(By.ID, "guest-file-input").send_keys(
        str(corpus.photos() / "camera-fallenleaf.jpg")
    )
    wait.until(lambda d: "was added" in d.find_element(By.ID, "guest-message").text)
    assert len(browser.find_elements(By.CSS_SELECTOR, "#guest-gallery .guest-card")) == 2
    screenshot(browser, "guest-upload")
    inside = stack.call("GET", f"/collections/{collection_id}/images", "browser-sharer").json()
    added = next(image for image in inside["images"] if image["id"] != first["id"])
    assert (added["status"], added["ownerId"]) == ("ready", f"link:{link['linkId']}")

    revoke = f"/collections/{collection_id}/links/{link['linkId']}"
    assert stack.call("DELETE", revoke, "browser-sharer").status_code == 204
    browser.refresh()
    wait.until(lambda d: "withdrawn" in d.find_element(By.ID, "guest-error").text)
