"""Browser clients: CORS on the API (origins from settings) and on the bucket (presigned POSTs)."""

import pytest
import requests

pytestmark = pytest.mark.e2e

ORIGIN = "http://app.example.test"


def test_the_api_answers_a_preflight_for_authorized_json_calls(stack):
    response = stack.call(
        "OPTIONS",
        "/images",
        headers={
            "Origin": ORIGIN,
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "authorization,content-type",
        },
    )
    assert response.status_code == 200
    assert response.headers["Access-Control-Allow-Origin"] == "*"
    allowed = response.headers["Access-Control-Allow-Headers"].lower()
    assert "authorization" in allowed
    assert "content-type" in allowed
    assert "POST" in response.headers["Access-Control-Allow-Methods"]


def test_api_responses_carry_the_allowed_origin(stack):
    response = stack.call("GET", "/images", "demo", headers={"Origin": ORIGIN})
    assert response.status_code == 200
    assert response.headers["Access-Control-Allow-Origin"] == "*"


def test_the_bucket_allows_browser_uploads_with_presigned_posts(stack):
    cors = stack.client("s3").get_bucket_cors(Bucket=stack.state["bucket"])["CORSRules"]
    assert any("POST" in rule["AllowedMethods"] and "*" in rule["AllowedOrigins"] for rule in cors)
    form = stack.call(
        "POST", "/images", "demo", json={"filename": "c.jpg", "contentType": "image/jpeg"}
    ).json()["upload"]
    preflight = requests.options(
        form["url"], headers={"Origin": ORIGIN, "Access-Control-Request-Method": "POST"}, timeout=10
    )
    assert preflight.status_code == 200
    assert preflight.headers.get("Access-Control-Allow-Origin") in ("*", ORIGIN)


def test_a_guest_page_on_another_origin_may_send_a_share_links_token(stack):
    response = stack.call(
        "OPTIONS",
        "/shared/images",
        headers={
            "Origin": ORIGIN,
            "Access-Control-Request-Method": "GET",
            "Access-Control-Request-Headers": "x-share-token",
        },
    )
    assert response.status_code == 200
    assert "x-share-token" in response.headers["Access-Control-Allow-Headers"].lower()
