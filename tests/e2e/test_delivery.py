"""Delivery over HTTP: stable links and immutable objects on the default stack (presigned
S3), and, on a stack that plays the CDN stage option (`python -m devserver --cdn`), CloudFront
signed URLs checked by the local edge, embed links and what stops them."""

import json
import urllib.parse

import requests
from botocore.signers import CloudFrontSigner
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding

from devserver import cdn as edge
from tests.support import localstack, pictures

IMMUTABLE = "public, max-age=31536000, immutable"
PRIVATE_IMMUTABLE = "private, max-age=31536000, immutable"


def ready_image(stack, user="demo") -> dict:
    image = localstack.upload(stack, user, pictures.jpeg((800, 600)))
    done = localstack.wait_until_done(stack, user, image["id"])
    assert done["status"] == "ready", done
    return done


def test_two_views_give_the_same_links_and_every_object_is_stored_immutable(stack):
    image = ready_image(stack)
    again = stack.call("GET", f"/images/{image['id']}", "demo").json()
    assert again["links"] == image["links"]
    s3 = stack.client("s3")
    bucket = stack.state["bucket"]

    def cache_control(link: str) -> str:
        key = urllib.parse.unquote(urllib.parse.urlsplit(link).path.split("/", 2)[2])
        return s3.head_object(Bucket=bucket, Key=key)["CacheControl"]

    assert cache_control(image["links"]["original"]) == PRIVATE_IMMUTABLE
    for name in ("thumbnail", "preview"):
        assert cache_control(image["links"][name]) == IMMUTABLE
        served = requests.get(image["links"][name], timeout=30)
        assert served.headers["Cache-Control"] == IMMUTABLE


def test_a_listing_answers_304_while_it_is_unchanged(stack):
    first = stack.call("GET", "/images", "demo", params={"limit": 5})
    tag = first.headers["ETag"]
    assert first.headers["Cache-Control"] == "private, no-cache"
    assert "Vary" not in first.headers
    held = stack.call("GET", "/images", "demo", params={"limit": 5}, headers={"If-None-Match": tag})
    assert held.status_code == 304 and held.content == b""
    stack.call("POST", "/images", "demo", json={"filename": "new.jpg", "contentType": "image/jpeg"})
    changed = stack.call(
        "GET", "/images", "demo", params={"limit": 5}, headers={"If-None-Match": tag}
    )
    assert changed.status_code == 200 and changed.headers["ETag"] != tag


def test_with_the_cdn_variants_are_signed_urls_the_edge_serves_and_originals_stay_s3(cdn_stack):
    image = ready_image(cdn_stack)
    links = image["links"]
    cdn = cdn_stack.state["cdn"]
    assert links["thumbnail"].startswith(f"{cdn}/variants/{image['id']}/")
    assert "Key-Pair-Id=" in links["thumbnail"] and "Policy=" in links["thumbnail"]
    assert not links["original"].startswith(cdn)  # the owner's exact bytes: never the CDN
    served = requests.get(links["thumbnail"], timeout=30)
    assert served.status_code == 200, served.text
    assert served.headers["Content-Type"] == f"image/{image['variants']['thumbnail']['format']}"
    assert served.headers["Cache-Control"] == IMMUTABLE
    assert int(served.headers["Content-Length"]) == image["variants"]["thumbnail"]["bytes"]
    unsigned = requests.get(links["thumbnail"].split("?")[0], timeout=30)
    assert unsigned.status_code == 403
    # One image's signature admits only that image's variants.
    other = ready_image(cdn_stack)
    borrowed = other["links"]["thumbnail"].split("?")[0] + "?" + links["thumbnail"].split("?")[1]
    assert requests.get(borrowed, timeout=30).status_code == 403


def _mint(stack, image_id: str, **body) -> requests.Response:
    return stack.call("POST", f"/images/{image_id}/links", "demo", json=body)


def _signing_keys(stack) -> dict:
    ssm = stack.client("ssm")
    name = stack.state["cdnKeysParameter"]
    return json.loads(ssm.get_parameter(Name=name, WithDecryption=True)["Parameter"]["Value"])


def _signed_with(key_id: str, private_pem: str, url: str, expires: int) -> str:
    from datetime import UTC, datetime

    private = edge.serialization.load_pem_private_key(private_pem.encode(), password=None)

    def sign(message: bytes) -> bytes:
        return private.sign(message, padding.PKCS1v15(), hashes.SHA1())  # noqa: S303

    return CloudFrontSigner(key_id, sign).generate_presigned_url(
        url, date_less_than=datetime.fromtimestamp(expires, UTC)
    )


def test_an_embed_link_works_until_revoked_and_each_forgery_is_refused(cdn_stack):
    image = ready_image(cdn_stack)
    minted = _mint(cdn_stack, image["id"], render={"w": 200, "format": "png"}, expiresIn=86400)
    assert minted.status_code == 201, minted.text
    link = minted.json()
    assert link["render"] == {"w": "200", "format": "png"}
    shown = requests.get(link["url"], timeout=30)
    assert shown.status_code == 200 and shown.headers["Content-Type"] == "image/png"
    assert shown.headers["Cache-Control"] == "public, max-age=3600, s-maxage=31536000"

    query = dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(link["url"]).query))
    bare = link["url"].split("?")[0]
    tampered_expiry = link["url"].replace(f"Expires={query['Expires']}", "Expires=4102444800")
    assert requests.get(tampered_expiry, timeout=30).status_code == 403
    other_object = bare.replace(link["id"], "lnk_someoneelses") + "?" + link["url"].split("?")[1]
    assert requests.get(other_object, timeout=30).status_code == 403

    keys = _signing_keys(cdn_stack)
    active = keys["keys"][keys["active"]]
    assert query["Key-Pair-Id"] == active["id"]
    second = next(key for slot, key in keys["keys"].items() if slot != keys["active"])
    expires = int(query["Expires"])
    # The key group's second key is trusted too (a rotation in progress): its links work.
    rotated = _signed_with(second["id"], second["pem"], bare, expires)
    assert requests.get(rotated, timeout=30).status_code == 200
    # A key version the key group does not hold: refused.
    retired = edge.new_private_key()
    unknown = _signed_with("K0RETIREDKEY", edge.private_pem(retired), bare, expires)
    assert requests.get(unknown, timeout=30).status_code == 403
    # A trusted key id with another key's signature: refused.
    forged = _signed_with(active["id"], edge.private_pem(retired), bare, expires)
    assert requests.get(forged, timeout=30).status_code == 403
    expired = _signed_with(active["id"], active["pem"], bare, 1_000_000_000)
    assert requests.get(expired, timeout=30).status_code == 403

    revoked = cdn_stack.call("DELETE", f"/images/{image['id']}/links/{link['id']}", "demo")
    assert revoked.status_code == 204
    assert requests.get(link["url"], timeout=30).status_code == 403
    gone = cdn_stack.call("DELETE", f"/images/{image['id']}/links/{link['id']}", "demo")
    assert gone.status_code == 404


def test_deleting_the_image_stops_its_embed_links(cdn_stack):
    image = ready_image(cdn_stack)
    link = _mint(cdn_stack, image["id"], variant="preview").json()
    assert requests.get(link["url"], timeout=30).status_code == 200
    assert cdn_stack.call("DELETE", f"/images/{image['id']}", "demo").status_code == 204
    assert requests.get(link["url"], timeout=30).status_code == 403
    invalidations = cdn_stack.client("cloudfront").list_invalidations(
        DistributionId=cdn_stack.state["cdnDistributionId"]
    )["InvalidationList"]
    assert invalidations["Quantity"] >= 1


def test_without_the_cdn_no_lasting_link_is_minted(stack):
    image = ready_image(stack)
    refused = _mint(stack, image["id"], variant="preview")
    assert refused.status_code == 409
    assert refused.json()["Code"] == "CdnNotConfiguredError"


def test_an_api_key_mints_lists_and_revokes_its_own_embed_links(cdn_stack):
    image = ready_image(cdn_stack)
    key = cdn_stack.call("POST", "/admin/api-keys", "admin", json={"name": "cms"}).json()
    as_key = {"X-Api-Key": key["secret"]}
    base = f"/external/images/{image['id']}/links"
    owners = _mint(cdn_stack, image["id"], variant="thumbnail").json()
    minted = cdn_stack.call("POST", base, headers=as_key, json={"render": {"w": 120}})
    assert minted.status_code == 201, minted.text
    keys_link = minted.json()
    assert keys_link["mintedBy"] == f"apikey:{key['keyId']}"
    assert requests.get(keys_link["url"], timeout=30).status_code == 200

    listed = cdn_stack.call("GET", base, headers=as_key)
    assert listed.status_code == 200 and listed.json()["links"] == [keys_link]
    everything = cdn_stack.call("GET", f"/images/{image['id']}/links", "demo").json()
    assert everything["links"] == [keys_link, owners]  # newest first, the same URLs
    assert cdn_stack.call("GET", f"/images/{image['id']}/links", "admin").status_code == 200

    assert cdn_stack.call("DELETE", f"{base}/{owners['id']}", headers=as_key).status_code == 404
    assert cdn_stack.call("DELETE", f"{base}/{keys_link['id']}", headers=as_key).status_code == 204
    assert requests.get(keys_link["url"], timeout=30).status_code == 403
    left = cdn_stack.call("GET", f"/images/{image['id']}/links", "demo").json()["links"]
    assert [link["id"] for link in left] == [owners["id"]]
    cdn_stack.call("DELETE", f"/admin/api-keys/{key['keyId']}", "admin")
