"""The web page in a real browser (Debian's headless Chromium, driven by Selenium) against the
local stack: sign in, drop photos, watch them process, open one, edit it, delete one, read the
log. Screenshots go to test-artifacts/ for a person to look at."""

import base64

import pytest
from selenium.webdriver.common.action_chains import ActionChains
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.support import expected_conditions as seen

from tests.browser.page import (
    cards,
    drop_script,
    loaded,
    open_card,
    open_page,
    screenshot,
    show,
    sign_in,
    waiting,
)
from tests.support import corpus, localstack

pytestmark = pytest.mark.e2e


def test_a_wrong_password_is_refused_with_a_message(stack, browser):
    open_page(browser, stack)
    browser.find_element(By.ID, "username").send_keys("demo")
    browser.find_element(By.ID, "password").send_keys("not-the-password", Keys.ENTER)
    error = waiting(browser, 30).until(
        lambda d: d.find_element(By.ID, "sign-in-error").text or None
    )
    assert error == "Wrong user name or password."
    assert not browser.find_element(By.ID, "drop-zone").is_displayed()


def test_sign_in_upload_watch_open_edit_and_delete(stack, browser, tmp_path):
    photos = corpus.photos()
    text = tmp_path / "notes.jpg"
    text.write_text("this is a shopping list, not a photo\n" * 20)
    drawing = tmp_path / "drawing.svg"
    drawing.write_text('<svg xmlns="http://www.w3.org/2000/svg" width="4" height="4"/>')
    wait = waiting(browser, 90)

    sign_in(browser, stack)
    assert browser.find_element(By.ID, "who").text == "Signed in as demo"
    before = {card.get_attribute("data-id") for card in cards(browser)}

    files = [photos / "photo-8mp-picos.jpg", photos / "small-coffee.png", text, drawing]
    browser.find_element(By.ID, "file-input").send_keys("\n".join(str(f) for f in files))

    def new_cards(driver):
        return [c for c in cards(driver) if c.get_attribute("data-id") not in before]

    def all_finished(driver):
        found = new_cards(driver)
        return len(found) == 3 and all(
            c.get_attribute("data-status") in ("ready", "failed") for c in found
        )

    # The SVG is refused before anything is sent, in words, naming what the service takes.
    notice = wait.until(lambda d: d.find_elements(By.CSS_SELECTOR, "[data-testid=notice]"))
    assert notice[0].text.startswith(
        "drawing.svg was not uploaded: it is not a photo. The service takes AVIF, BMP, GIF,"
    )
    assert "contentType" not in notice[0].text

    wait.until(all_finished)
    by_name = {c.find_element(By.CLASS_NAME, "name").text: c for c in new_cards(browser)}
    assert set(by_name) == {"photo-8mp-picos.jpg", "small-coffee.png", "notes.jpg"}
    for name in ("photo-8mp-picos.jpg", "small-coffee.png"):
        assert by_name[name].get_attribute("data-status") == "ready"
        # The card moved through every phase on this page, without a reload.
        assert by_name[name].get_attribute("data-seen") == ("queued uploading processing ready")
    # A failure is told in words, once; its code stays in the markup for tools.
    failed = by_name["notes.jpg"]
    assert failed.get_attribute("data-status") == "failed"
    assert failed.get_attribute("data-failure") == "not_an_image"
    assert failed.find_element(By.CLASS_NAME, "status").text == "Not a picture"
    assert failed.find_element(By.CSS_SELECTOR, ".placeholder .why").text == (
        "This file is not a picture in any format the service reads."
    )
    assert "not_an_image" not in failed.text

    def thumbnails_shown(driver):
        ready = [c for c in new_cards(driver) if c.get_attribute("data-status") == "ready"]
        images = [c.find_elements(By.CSS_SELECTOR, ".thumb img:not(.preview)") for c in ready]
        return len(images) == 2 and all(found and loaded(driver, found[0]) for found in images)

    wait.until(thumbnails_shown)
    # Each card painted the record's ThumbHash (decoded by the page) under its thumbnail.
    for card in new_cards(browser):
        if card.get_attribute("data-status") == "ready":
            preview = card.find_element(By.CSS_SELECTOR, ".thumb img.preview")
            assert preview.get_attribute("src").startswith("data:image/png")
            assert loaded(browser, preview)
    screenshot(browser, "flow-gallery")

    photo = by_name["photo-8mp-picos.jpg"]
    photo_id = photo.get_attribute("data-id")
    photo.find_element(By.CSS_SELECTOR, "button.open").send_keys(Keys.ENTER)
    wait.until(seen.visibility_of_element_located((By.ID, "detail")))
    for picture in ("detail-preview", "detail-hd"):
        wait.until(lambda d, p=picture: loaded(d, d.find_element(By.ID, p)))
    hd_size = browser.execute_script(
        "const i = document.getElementById('detail-hd'); return [i.naturalWidth, i.naturalHeight]"
    )
    assert hd_size == [1280, 720]
    original = browser.find_element(By.ID, "detail-original")
    assert original.text == "Download the original"
    assert original.get_attribute("href").startswith(stack.aws)
    facts = browser.find_element(By.ID, "detail-facts").text
    assert "JPEG" in facts
    assert "3264 × 2448 px" in facts
    screenshot(browser, "flow-detail")

    original.click()
    saved = tmp_path / "downloads" / "photo-8mp-picos.jpg"
    wait.until(lambda _: saved.exists() and saved.stat().st_size > 0)
    assert saved.read_bytes() == (photos / "photo-8mp-picos.jpg").read_bytes()

    title = browser.find_element(By.ID, "detail-title-input")
    title.clear()
    title.send_keys("Picos de Europa")
    browser.find_element(By.ID, "detail-save").click()
    wait.until(lambda d: d.find_element(By.ID, "detail-message").text == "Saved.")
    assert browser.find_element(By.ID, "detail-title").text == "Picos de Europa"

    # Someone else changes it meanwhile: the page's next save is refused and it says so.
    assert stack.call(
        "PATCH", f"/images/{photo_id}", "demo", json={"title": "Changed elsewhere"}
    ).ok
    title.clear()
    title.send_keys("My title")
    browser.find_element(By.ID, "detail-save").click()
    wait.until(lambda d: "changed elsewhere" in d.find_element(By.ID, "detail-message").text)
    assert title.get_attribute("value") == "Changed elsewhere"

    browser.find_element(By.ID, "detail-delete").click()
    wait.until(seen.alert_is_present()).accept()
    wait.until(lambda d: photo_id not in {c.get_attribute("data-id") for c in cards(d)})
    assert not browser.find_element(By.ID, "detail").is_displayed()
    assert stack.call("GET", f"/images/{photo_id}", "demo").status_code == 404

    show(browser, "log")
    row = wait.until(
        lambda d: d.find_elements(By.CSS_SELECTOR, "#log tbody tr[data-failure='not_an_image']")
    )[0]
    assert "notes.jpg" in row.text
    assert "Not a picture" in row.text
    screenshot(browser, "flow-log")


DROP = drop_script()


def test_files_dropped_on_the_zone_are_uploaded_and_processed(stack, browser, tmp_path):
    stack.create_user("browser-dropper")
    photo = corpus.photos() / "camera-kite.jpg"
    files = {
        "kite.jpg": (photo.read_bytes(), "image/jpeg"),
        "list.jpg": (b"milk, eggs, bread\n" * 40, "image/jpeg"),
    }
    sign_in(browser, stack, "browser-dropper")

    browser.execute_script(
        DROP,
        list(files),
        [base64.b64encode(data).decode() for data, _ in files.values()],
        [kind for _, kind in files.values()],
    )

    def finished(driver):
        found = {c.find_element(By.CLASS_NAME, "name").text: c for c in cards(driver)}
        done = {name: card.get_attribute("data-status") for name, card in found.items()}
        settled = set(done) == set(files) and set(done.values()) <= {"ready", "failed"}
        return done if settled else None

    statuses = waiting(browser, 90).until(finished)
    assert statuses == {"kite.jpg": "ready", "list.jpg": "failed"}


def test_the_drop_zone_and_the_cards_are_used_with_the_keyboard_alone(stack, browser):
    stack.create_user("browser-keyboard")
    image = stack.call(
        "POST",
        "/images",
        "browser-keyboard",
        json={"filename": "k.jpg", "contentType": "image/jpeg"},
    ).json()["image"]
    sign_in(browser, stack, "browser-keyboard")
    keys = ActionChains(browser)
    # Count how often the file picker is asked to open (a headless browser shows none).
    browser.execute_script(
        "const input = document.getElementById('file-input'); window.pickerOpened = 0;"
        "input.click = () => { window.pickerOpened += 1; };"
        "document.activeElement.blur();"
    )

    def tab_to(element_id: str, limit: int = 20) -> None:
        for _ in range(limit):
            keys.send_keys(Keys.TAB).perform()
            if browser.switch_to.active_element.get_attribute("id") == element_id:
                return
        raise AssertionError(f"Tab never reached #{element_id}")

    tab_to("drop-zone")
    keys.send_keys(Keys.ENTER).perform()
    keys.send_keys(Keys.SPACE).perform()
    assert browser.execute_script("return window.pickerOpened") == 2

    # On to the card, open it with Enter, close it with Escape: focus comes back to it.
    for _ in range(20):
        keys.send_keys(Keys.TAB).perform()
        active = browser.switch_to.active_element
        if active.get_attribute("class") == "open":
            break
    card = active.find_element(By.XPATH, "ancestor::li")
    assert card.get_attribute("data-id") == image["id"]
    keys.send_keys(Keys.ENTER).perform()
    dialog = waiting(browser, 30).until(seen.visibility_of_element_located((By.ID, "detail")))
    assert dialog.find_element(By.ID, "detail-title").text == "k.jpg"
    keys.send_keys(Keys.ESCAPE).perform()
    waiting(browser, 10).until(lambda d: not d.find_element(By.ID, "detail").is_displayed())
    back = browser.switch_to.active_element
    assert back.find_element(By.XPATH, "ancestor::li").get_attribute("data-id") == image["id"]


def test_the_gallery_pages_newest_first_with_load_more(stack, browser):
    stack.create_user("browser-pager")
    names = [f"waiting-{n:02}.jpg" for n in range(30)]
    for name in names:
        body = {"filename": name, "contentType": "image/jpeg"}
        assert stack.call("POST", "/images", "browser-pager", json=body).status_code == 201
    sign_in(browser, stack, "browser-pager")
    wait = waiting(browser, 30)
    wait.until(lambda d: len(cards(d)) == 24)
    more = browser.find_element(By.ID, "more")
    assert more.is_displayed()
    more.click()
    wait.until(lambda d: len(cards(d)) == 30)
    shown = [c.find_element(By.CLASS_NAME, "name").text for c in cards(browser)]
    assert shown == names[::-1]
    assert {c.get_attribute("data-status") for c in cards(browser)} == {"waiting"}
    assert not more.is_displayed()


def test_an_expired_download_link_is_renewed_and_the_page_stays(stack, browser, tmp_path):
    stack.create_user("browser-downloader")
    photo = corpus.photos() / "camera-kite.jpg"
    image = localstack.upload(stack, "browser-downloader", photo.read_bytes(), filename="kite.jpg")
    assert localstack.wait_until_done(stack, "browser-downloader", image["id"])["status"] == "ready"
    sign_in(browser, stack, "browser-downloader")
    wait = waiting(browser, 30)
    open_card(browser, image["id"])
    page = browser.current_url
    # As if the dialog had stayed open past the link's expiry: S3 refuses the old link.
    # (The local S3 checks neither signatures nor expiry, so the link is spoilt another way.)
    browser.execute_script(
        "const a = document.getElementById('detail-original');"
        "a.href = a.href.replace('/uploads/', '/uploads/spoilt-');"
    )

    browser.find_element(By.ID, "detail-original").click()

    saved = tmp_path / "downloads" / "kite.jpg"
    wait.until(lambda _: saved.exists() and saved.stat().st_size == photo.stat().st_size)
    assert saved.read_bytes() == photo.read_bytes()
    assert browser.current_url == page
    assert browser.find_element(By.ID, "who").text == "Signed in as browser-downloader"
    renewed = browser.find_element(By.ID, "detail-original").get_attribute("href")
    assert "spoilt-" not in renewed
