"""The page's flows beyond the first upload, each driven in the browser and checked against
the API: staying signed in, first and forgotten passwords, collections, renders, replacing a
photo, its history, the log's links, everyone's log and API keys (admins), uploads in turns."""

import base64
import io
import json

import pytest
import requests
from PIL import Image
from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions as seen

from tests.browser.page import (
    PHONE,
    by_name,
    cards,
    drop_script,
    open_card,
    open_page,
    resize,
    screenshot,
    show,
    sign_in,
    signed_in,
    waiting,
)
from tests.support import corpus, localstack

pytestmark = pytest.mark.e2e


def _ready_image(stack, user, name="kite.jpg", photo="camera-kite.jpg", **fields):
    data = (corpus.photos() / photo).read_bytes()
    kind = "image/png" if photo.endswith(".png") else "image/jpeg"
    image = localstack.upload(stack, user, data, filename=name, content_type=kind, **fields)
    done = localstack.wait_until_done(stack, user, image["id"])
    assert done["status"] == "ready"
    return done


# --- the session -------------------------------------------------------------------------


def test_a_reload_keeps_the_user_signed_in_and_signing_out_forgets_it(stack, browser):
    sign_in(browser, stack)
    # The ID token stays in memory; only the refresh token is kept, and only for this tab.
    kept = browser.execute_script(
        "return [localStorage.length, document.cookie,"
        " sessionStorage.getItem('image-service.session')]"
    )
    assert kept[:2] == [0, ""]
    assert '"refreshToken"' in kept[2]
    assert "IdToken" not in kept[2]

    browser.refresh()
    signed_in(browser)
    assert browser.find_element(By.ID, "who").text == "Signed in as demo"

    refresh_token = json.loads(kept[2])["refreshToken"]
    browser.find_element(By.CSS_SELECTOR, "#account-menu summary").click()
    browser.find_element(By.ID, "sign-out").click()
    waiting(browser, 30).until(lambda d: d.find_element(By.ID, "sign-in").is_displayed())
    assert browser.execute_script("return sessionStorage.length") == 0
    # Signed out at Cognito too: the refresh token the tab held gives no new tokens.
    idp = stack.client("cognito-idp")
    with pytest.raises(idp.exceptions.NotAuthorizedException):
        idp.initiate_auth(
            ClientId=stack.state["appClientId"],
            AuthFlow="REFRESH_TOKEN_AUTH",
            AuthParameters={"REFRESH_TOKEN": refresh_token},
        )
    browser.refresh()
    open_page(browser, stack)
    assert browser.find_element(By.ID, "sign-in").is_displayed()
    assert not browser.find_element(By.ID, "drop-zone").is_displayed()


RENEWAL_COUNTER = """
// Answers the next API call with 401, as the gateway does once the ID token has expired, and
// counts the page's refresh-token sign-ins.
window.refreshes = 0;
let refuseNext = true;
const real = window.fetch;
window.fetch = async (url, options = {}) => {
  const target = (options.headers || {})['X-Amz-Target'] || '';
  if (target.endsWith('InitiateAuth') && String(options.body).includes('REFRESH_TOKEN_AUTH')) {
    window.refreshes += 1;
  }
  if (refuseNext && String(url).startsWith('images')) {
    refuseNext = false;
    return new Response('{"message": "Unauthorized"}', {status: 401});
  }
  return real(url, options);
};
"""


def test_an_expired_id_token_is_renewed_with_the_refresh_token(stack, browser):
    stack.create_user("browser-renewer")
    sign_in(browser, stack, "browser-renewer")
    browser.execute_script(RENEWAL_COUNTER)

    browser.find_element(By.ID, "file-input").send_keys(str(corpus.photos() / "camera-kite.jpg"))

    waiting(browser, 60).until(lambda d: cards(d, "ready"))
    assert browser.execute_script("return window.refreshes") == 1
    assert browser.find_element(By.ID, "drop-zone").is_displayed()


LONG_TIMERS_SHORTENED = """
// Before the page's scripts run: any timer set for more than ten minutes (only the ID token's
// renewal waits that long) is recorded and fired after two seconds instead, so the test sees
// the renewal the page schedules without waiting the hour. Authorisation headers of the API
// calls and the page's refresh-token sign-ins are recorded too.
window.longTimers = [];
window.refreshes = 0;
window.apiTokens = [];
const realSetTimeout = window.setTimeout;
window.setTimeout = (callback, delay, ...rest) => {
  if (delay > 10 * 60_000) {
    window.longTimers.push(delay);
    return realSetTimeout(callback, 2000, ...rest);
  }
  return realSetTimeout(callback, delay, ...rest);
};
const realFetch = window.fetch;
window.fetch = async (url, options = {}) => {
  const headers = options.headers || {};
  if (String(options.body).includes('REFRESH_TOKEN_AUTH')) window.refreshes += 1;
  if (headers.Authorization) window.apiTokens.push(headers.Authorization);
  return realFetch(url, options);
};
"""


def test_the_id_token_is_renewed_before_it_expires_without_a_401(stack, browser):
    stack.create_user("browser-early-renewer")
    browser.execute_cdp_cmd(
        "Page.addScriptToEvaluateOnNewDocument", {"source": LONG_TIMERS_SHORTENED}
    )
    sign_in(browser, stack, "browser-early-renewer")
    first_token = browser.execute_script("return window.apiTokens[0]")
    assert first_token

    # The renewal fires (shortened to 2 s) and schedules the next one for the new token.
    waiting(browser, 30).until(lambda d: d.execute_script("return window.refreshes") >= 1)
    waiting(browser, 30).until(lambda d: d.execute_script("return window.longTimers.length") >= 2)
    delays = browser.execute_script("return window.longTimers")
    # Local Cognito's ID tokens live an hour; the page renews five minutes before the end.
    for delay in delays[:2]:
        assert 54 * 60_000 <= delay <= 55 * 60_000, delays

    # The next API call carries the renewed token, and the page is still signed in.
    show(browser, "log")
    waiting(browser, 30).until(
        lambda d: (
            d.execute_script("return window.apiTokens[window.apiTokens.length - 1]") != first_token
        )
    )
    latest = browser.execute_script("return window.apiTokens[window.apiTokens.length - 1]")
    assert stack.call("GET", "/images", headers={"Authorization": latest}).status_code == 200
    assert browser.find_element(By.ID, "who").text == "Signed in as browser-early-renewer"


def test_a_first_sign_in_with_a_temporary_password_chooses_a_new_one(stack, browser):
    idp = stack.client("cognito-idp")
    idp.admin_create_user(
        UserPoolId=stack.state["userPoolId"],
        Username="browser-newcomer",
        TemporaryPassword="Temporary-1",
        MessageAction="SUPPRESS",
    )
    open_page(browser, stack)
    browser.find_element(By.ID, "username").send_keys("browser-newcomer")
    browser.find_element(By.ID, "password").send_keys("Temporary-1\n")
    wait = waiting(browser, 30)
    wait.until(seen.visibility_of_element_located((By.ID, "new-password")))
    browser.find_element(By.ID, "first-password").send_keys("My-own-password-1")
    browser.find_element(By.ID, "first-password-again").send_keys("My-own-password-1\n")

    signed_in(browser)
    assert browser.find_element(By.ID, "who").text == "Signed in as browser-newcomer"
    stack.state["users"]["browser-newcomer"] = "My-own-password-1"
    assert stack.auth("browser-newcomer")["IdToken"]


def test_a_forgotten_password_is_reset_with_the_code(stack, browser):
    stack.create_user("browser-forgetful")
    open_page(browser, stack)
    browser.find_element(By.ID, "username").send_keys("browser-forgetful")
    browser.find_element(By.CSS_SELECTOR, "[data-show-panel=forgot]").click()
    wait = waiting(browser, 30)
    wait.until(seen.visibility_of_element_located((By.ID, "forgot")))
    assert browser.find_element(By.ID, "forgot-username").get_attribute("value") == (
        "browser-forgetful"
    )
    browser.find_element(By.CSS_SELECTOR, "#forgot button[type=submit]").click()
    wait.until(seen.visibility_of_element_located((By.ID, "reset")))
    browser.find_element(By.ID, "reset-code").send_keys("123456")
    browser.find_element(By.ID, "reset-password").send_keys("A-new-password-2\n")

    wait.until(seen.visibility_of_element_located((By.ID, "sign-in")))
    assert "password was changed" in browser.find_element(By.ID, "sign-in-error").text
    browser.find_element(By.ID, "password").send_keys("A-new-password-2\n")
    signed_in(browser)
    assert browser.find_element(By.ID, "who").text == "Signed in as browser-forgetful"


# --- collections -------------------------------------------------------------------------


def test_a_collection_is_created_shared_uploaded_into_and_unshared(stack, browser):
    stack.create_user("browser-curator")
    stack.create_user("browser-friend")
    friend = stack.call("GET", "/me", "browser-friend").json()["sub"]
    sign_in(browser, stack, "browser-curator")
    wait = waiting(browser, 60)
    show(browser, "collections")

    browser.find_element(By.ID, "collection-name").send_keys("Wedding")
    browser.find_element(By.ID, "collection-description").send_keys("Saturday, the barn")
    browser.find_element(By.CSS_SELECTOR, "#collection-form button[type=submit]").click()
    title = wait.until(seen.visibility_of_element_located((By.ID, "collection-title")))
    assert title.text == "Wedding"
    mine = stack.call("GET", "/collections", "browser-curator").json()["collections"]
    assert [c["name"] for c in mine] == ["Wedding"]
    collection_id = mine[0]["id"]

    browser.find_element(By.CSS_SELECTOR, ".members-panel summary").click()
    browser.find_element(By.ID, "member-id").send_keys(friend + "\n")
    wait.until(lambda d: d.find_elements(By.CSS_SELECTOR, f"#members [data-user='{friend}']"))
    shared = stack.call("GET", "/collections", "browser-friend").json()["collections"]
    assert [c["id"] for c in shared] == [collection_id]

    photo = corpus.photos() / "camera-fallenleaf.jpg"
    browser.find_element(By.ID, "collection-file-input").send_keys(str(photo))
    wait.until(lambda d: cards(d, "ready", "#collection-gallery"))
    inside = stack.call("GET", f"/collections/{collection_id}/images", "browser-friend").json()
    assert [i["filename"] for i in inside["images"]] == ["camera-fallenleaf.jpg"]

    browser.find_element(By.CSS_SELECTOR, f"#members [data-user='{friend}'] button").click()
    wait.until(lambda d: not d.find_elements(By.CSS_SELECTOR, f"#members [data-user='{friend}']"))
    assert stack.call("GET", "/collections", "browser-friend").json()["collections"] == []
    members = stack.call("GET", f"/collections/{collection_id}", "browser-curator").json()
    assert len(members["members"]) == 1

    # Back on the index the collection is listed, and opens again.
    browser.find_element(By.ID, "collection-back").click()
    listed = wait.until(
        lambda d: d.find_elements(By.CSS_SELECTOR, "#collections [data-testid=collection]")
    )
    assert "Wedding" in listed[0].text
    assert "Yours" in listed[0].text


# --- one image: renders, replacing, history ----------------------------------------------


def test_a_render_link_and_a_srcset_snippet_are_made_to_copy(stack, browser):
    stack.create_user("browser-renderer")
    image = _ready_image(stack, "browser-renderer")
    sign_in(browser, stack, "browser-renderer")
    open_card(browser, image["id"])
    width = browser.find_element(By.ID, "render-width")
    width.clear()
    width.send_keys("320")
    browser.find_element(By.ID, "render-make").click()
    wait = waiting(browser, 60)
    wait.until(seen.visibility_of_element_located((By.ID, "render-result")))

    link = browser.find_element(By.ID, "render-link").get_attribute("value")
    assert link.startswith(stack.aws)
    got = requests.get(link, timeout=30)
    assert got.status_code == 200
    made = Image.open(io.BytesIO(got.content))
    assert (made.format, made.width) == ("WEBP", 320)
    snippet = browser.find_element(By.ID, "render-snippet").get_attribute("value")
    assert snippet.startswith(f'<img src="{link}" srcset="{link} 1x, ')
    double = snippet.split(", ")[1].split(" 2x")[0]
    assert Image.open(io.BytesIO(requests.get(double, timeout=30).content)).width == 640
    assert 'alt="kite.jpg"' in snippet

    browser.find_element(By.CSS_SELECTOR, "[data-copy=render-snippet]").click()
    wait.until(lambda d: d.find_element(By.ID, "render-message").text == "Copied.")
    browser.execute_script("document.getElementById('render-result').scrollIntoView()")
    screenshot(browser, "flow-render")


def test_a_crop_needs_both_sides_and_says_so(stack, browser):
    stack.create_user("browser-cropper")
    image = _ready_image(stack, "browser-cropper")
    sign_in(browser, stack, "browser-cropper")
    open_card(browser, image["id"])
    browser.find_element(By.CSS_SELECTOR, "#render-fit option[value=cover]").click()
    browser.find_element(By.ID, "render-make").click()
    message = browser.find_element(By.ID, "render-message").text
    assert message == "Crop and stretch need both a width and a height."


def test_replacing_a_photo_sends_the_new_content_and_its_history_shows_both(stack, browser):
    stack.create_user("browser-replacer")
    image = _ready_image(stack, "browser-replacer")
    sign_in(browser, stack, "browser-replacer")
    open_card(browser, image["id"])

    browser.find_element(By.ID, "replace-input").send_keys(
        str(corpus.photos() / "small-coffee.png")
    )
    wait = waiting(browser, 60)
    wait.until(lambda d: "was sent" in d.find_element(By.ID, "replace-message").text)
    wait.until(
        lambda d: (
            stack.call("GET", f"/images/{image['id']}", "browser-replacer").json()["width"] == 600
        )
    )
    card = wait.until(lambda d: cards(d, "ready"))[0]
    assert card.get_attribute("data-seen").endswith("queued uploading processing ready")
    # The open dialog shows the new photo once it is served.
    wait.until(
        lambda d: (
            d.find_element(By.ID, "replace-message").text == ("Replaced with small-coffee.png.")
        )
    )
    assert "600 × 400 px" in browser.find_element(By.ID, "detail-facts").text

    browser.find_element(By.CSS_SELECTOR, "#history-toggle summary").click()
    rows = wait.until(lambda d: d.find_elements(By.CSS_SELECTOR, "[data-testid=history-row]"))
    assert len(rows) == 2
    assert "small-coffee.png (replacement)" in rows[0].text
    assert "kite.jpg" in rows[1].text
    assert {row.get_attribute("data-status") for row in rows} == {"ready"}
    browser.execute_script("document.getElementById('history').scrollIntoView()")
    screenshot(browser, "flow-history")


def test_each_log_row_opens_its_image(stack, browser):
    stack.create_user("browser-reader")
    first = _ready_image(stack, "browser-reader", name="first.jpg")
    _ready_image(stack, "browser-reader", name="second.jpg", photo="small-coffee.png")
    sign_in(browser, stack, "browser-reader")
    show(browser, "log")
    wait = waiting(browser, 30)
    link = wait.until(
        lambda d: d.find_elements(By.CSS_SELECTOR, f"#log button[data-image='{first['id']}']")
    )[0]
    assert link.text == "first.jpg"
    link.click()
    wait.until(seen.visibility_of_element_located((By.ID, "detail")))
    assert browser.find_element(By.ID, "detail-title").text == "first.jpg"


# --- admins --------------------------------------------------------------------------------


def test_an_admin_reads_everyones_log_and_a_user_cannot(stack, browser):
    stack.create_user("browser-chief", groups=("admins",))
    stack.create_user("browser-somebody")
    theirs = _ready_image(stack, "browser-somebody", name="somebody-else.jpg")
    sign_in(browser, stack, "browser-chief")
    show(browser, "log")
    browser.find_element(By.ID, "log-everyone").click()
    wait = waiting(browser, 30)
    row = wait.until(
        lambda d: d.find_elements(By.CSS_SELECTOR, f"#log tr[data-image='{theirs['id']}']")
    )[0]
    assert "browser-somebody" in row.text
    assert browser.find_element(By.ID, "log-by").is_displayed()


def test_a_user_sees_neither_everyones_log_nor_api_keys(stack, browser):
    stack.create_user("browser-ordinary")
    sign_in(browser, stack, "browser-ordinary")
    assert not browser.find_element(By.ID, "tab-keys").is_displayed()
    show(browser, "log")
    assert not browser.find_element(By.ID, "log-scope").is_displayed()


def test_an_api_key_is_shown_once_counted_and_revoked(stack, browser):
    stack.create_user("browser-keeper", groups=("admins",))
    image = _ready_image(stack, "browser-keeper")
    sign_in(browser, stack, "browser-keeper")
    show(browser, "keys")
    browser.find_element(By.ID, "key-name").send_keys("Photo desk\n")
    wait = waiting(browser, 30)
    secret_box = wait.until(seen.visibility_of_element_located((By.ID, "key-secret")))
    secret = secret_box.get_attribute("value")
    assert secret.startswith("isk_")
    browser.find_element(By.ID, "key-copy").click()
    wait.until(lambda d: d.find_element(By.ID, "key-message").text.startswith("Copied"))

    external = f"{stack.api}/external/images/{image['id']}/content/thumbnail"
    used = requests.get(external, headers={"X-Api-Key": secret}, timeout=30)
    assert used.status_code == 200

    show(browser, "gallery")
    show(browser, "keys")
    key_id = secret.split("_")[1]

    def uses(d):  # the list is drawn again when the tab is shown; until then the old one
        rows = d.find_elements(By.CSS_SELECTOR, f"#keys tr[data-key='{key_id}']")
        return rows and rows[0].find_element(By.CSS_SELECTOR, "[data-label=Uses]").text

    wait.until(lambda d: uses(d) == "1")
    row = browser.find_element(By.CSS_SELECTOR, f"#keys tr[data-key='{key_id}']")
    # The secret is not shown again once the list is read afresh.
    assert secret not in browser.find_element(By.ID, "keys").text

    row.find_element(By.TAG_NAME, "button").click()
    wait.until(seen.alert_is_present()).accept()
    wait.until(
        lambda d: (
            d.find_element(By.CSS_SELECTOR, f"#keys tr[data-key='{key_id}']").get_attribute(
                "data-revoked"
            )
            == "true"
        )
    )
    refused = requests.get(external, headers={"X-Api-Key": secret}, timeout=30)
    assert refused.status_code in (401, 403)


# --- uploads -------------------------------------------------------------------------------


def test_a_touch_screen_is_told_to_choose_photos_not_to_drop_them(stack, browser):
    resize(browser, PHONE)
    browser.execute_cdp_cmd(
        "Emulation.setTouchEmulationEnabled", {"enabled": True, "maxTouchPoints": 5}
    )
    sign_in(browser, stack)
    help_text = browser.find_element(By.ID, "drop-help").text
    assert help_text.startswith("choose photos to upload.")
    assert "Drop" not in help_text
    assert "Enter" not in help_text


DROP = drop_script(
    """
// The most cards uploading at one moment, seen by watching every status change.
window.mostAtOnce = 0;
new MutationObserver(() => {
  const now = document.querySelectorAll('#gallery .card[data-status=uploading]').length;
  window.mostAtOnce = Math.max(window.mostAtOnce, now);
}).observe(document.getElementById('gallery'), {subtree: true, attributes: true, childList: true});
"""
)


def test_a_big_drop_is_sent_three_at_a_time_with_a_summary(stack, browser):
    stack.create_user("browser-bulk")
    sign_in(browser, stack, "browser-bulk")
    # A slow uplink, so the uploads really overlap.
    browser.execute_cdp_cmd("Network.enable", {})
    browser.execute_cdp_cmd(
        "Network.emulateNetworkConditions",
        {"offline": False, "latency": 20, "downloadThroughput": -1, "uploadThroughput": 400_000},
    )
    photo = (corpus.photos() / "camera-kite.jpg").read_bytes()
    names = [f"bulk-{n}.jpg" for n in range(7)] + ["vector.svg"]
    contents = [base64.b64encode(photo).decode()] * 7 + [base64.b64encode(b"<svg/>").decode()]
    kinds = ["image/jpeg"] * 7 + ["image/svg+xml"]
    browser.execute_script(DROP, names, contents, kinds)

    wait = waiting(browser, 120)
    summary = wait.until(
        lambda d: (
            d.find_element(By.ID, "upload-summary").text
            if d.find_element(By.ID, "upload-summary").get_attribute("data-left") == "0"
            else None
        )
    )
    assert summary == "8 files sent · 7 uploaded · 1 not uploaded"
    assert browser.execute_script("return window.mostAtOnce") == 3
    wait.until(lambda d: len(cards(d, "ready")) == 7)
    assert set(by_name(cards(browser))) == set(names[:7])
