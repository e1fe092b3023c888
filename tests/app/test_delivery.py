"""Links in-process against moto, on a clock the tests move: the same links all window long,
new ones in the next, immutable objects, and (the CDN option) CloudFront signed URLs that the
local edge's check accepts or refuses as CloudFront would."""

import base64
import json
import urllib.parse
from datetime import UTC, datetime

import pytest

from chalicelib import aws, cdn, delivery, image_operations, records, renders, settings
from chalicelib.callers import Caller
from devserver import cdn as edge
from tests.app.test_renders import ALICE, jpeg, key_in, new_image

WINDOW_START = 1_900_000_800  # a multiple of 3600: a window begins here
BOB = Caller(id="bob-sub", name="bob")


@pytest.fixture
def clock(monkeypatch):
    """delivery.now, set by the test: clock.at = epoch seconds."""

    class Clock:
        at = WINDOW_START + 60

    monkeypatch.setattr(delivery, "now", lambda: Clock.at)
    return Clock


def view(image_id: str) -> dict:
    return image_operations.image_view(ALICE, records.get_image(image_id))


def query_of(url: str) -> dict[str, str]:
    return dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(url).query))


def test_views_a_minute_apart_give_byte_identical_links_and_the_next_window_new_ones(
    resources, clock
):
    image = records.get_image(new_image(jpeg((900, 600))))
    first = view(image.id)["links"]
    render = renders.redirect_for(image, {"w": "100", "format": "png"}, None)
    clock.at += 60
    assert view(image.id)["links"] == first
    assert renders.redirect_for(image, {"w": "100", "format": "png"}, None) == render
    assert set(first) == {"original", "thumbnail", "preview", "hd-rotated"}
    signed_at = datetime.fromtimestamp(WINDOW_START, UTC).strftime("%Y%m%dT%H%M%SZ")
    for link in [*first.values(), render]:
        assert query_of(link)["X-Amz-Date"] == signed_at  # the window's start, not now
    clock.at = WINDOW_START + 3600
    after = view(image.id)["links"]["thumbnail"]
    assert after != first["thumbnail"]
    config = settings.get()
    expected = config.link_window_seconds + config.download_url_expiry_seconds
    assert int(query_of(after)["X-Amz-Expires"]) == expected


def test_every_stored_object_is_immutable_and_the_original_is_private(resources):
    from chalicelib.access import Access

    image = records.get_image(new_image(jpeg((900, 600))))
    assert image.content is not None
    s3, bucket = aws.client("s3"), settings.get().bucket
    made = [v.key for v in image.content.variants.values()]
    render_key = key_in(renders.redirect_for(image, {"w": "80", "format": "jpeg"}, None))
    for key in [*made, image.content.shared.key, render_key]:
        assert s3.head_object(Bucket=bucket, Key=key)["CacheControl"] == (
            "public, max-age=31536000, immutable"
        )
    private = "private, max-age=31536000, immutable"
    raw = image_operations.create_image_from_body(ALICE, jpeg((64, 64)), "image/jpeg", "small.jpg")
    upload = records.get_image(raw["id"]).uploadId
    assert s3.head_object(Bucket=bucket, Key=f"uploads/{raw['id']}/{upload}")["CacheControl"] == (
        private
    )
    # A browser's upload must say so too: the form's policy requires it.
    form = image_operations.create_image(
        Access(ALICE), {"filename": "a.jpg", "contentType": "image/jpeg"}
    )
    fields = form["upload"]["fields"]
    assert fields["Cache-Control"] == private
    assert {"Cache-Control": private} in json.loads(base64.b64decode(fields["policy"]))[
        "conditions"
    ]


# --- the CDN stage option -------------------------------------------------------------

CDN = "https://d111111abcdef8.cloudfront.net"


@pytest.fixture(scope="module")
def keys():
    return edge.new_private_key(), edge.new_private_key()


@pytest.fixture
def with_cdn(resources, configure, keys):
    made = edge.provision(None, "us-east-1", "test", resources.bucket, keys)
    configure(
        CDN_URL=CDN,
        CDN_DISTRIBUTION_ID=made.distribution_id,
        CDN_KEYS_PARAMETER=made.keys_parameter,
    )
    cdn.forget_keys()
    cdn._policy_query.cache_clear()
    yield edge.Edge(CDN, made.distribution_id, None, "us-east-1")
    cdn.forget_keys()


def path_of(url: str) -> str:
    parts = urllib.parse.urlsplit(url)
    return f"{parts.path}?{parts.query}"


def test_with_the_cdn_one_signature_covers_an_image_and_the_edge_accepts_it(
    with_cdn, clock, monkeypatch
):
    image_id = new_image(jpeg((900, 600)))
    signed = []
    real = cdn._signer

    def counting(key):
        signer = real(key)
        original = signer.rsa_signer

        def sign(message):
            signed.append(message)
            return original(message)

        signer.rsa_signer = sign
        return signer

    monkeypatch.setattr(cdn, "_signer", counting)
    links = view(image_id)["links"]
    assert view(image_id)["links"] == links
    assert len(signed) == 1  # three variants, two views: one signature
    assert not links["original"].startswith(CDN)
    for name in ("thumbnail", "preview", "hd-rotated"):
        assert links[name].startswith(f"{CDN}/variants/{image_id}/")
        key = with_cdn.check(path_of(links[name]), now=clock.at)
        assert key == records.get_image(image_id).content.variants[name].key
    expires = WINDOW_START + 3600 + 300
    with pytest.raises(edge.Refused, match="expired"):
        with_cdn.check(path_of(links["thumbnail"]), now=expires)
    others = records.get_image(new_image(jpeg((300, 200)))).content.variants["thumbnail"].key
    borrowed = f"/{others}?{urllib.parse.urlsplit(links['thumbnail']).query}"
    with pytest.raises(edge.Refused, match="does not cover"):
        with_cdn.check(borrowed, now=clock.at)
    # Anyone but the owner gets the shared copy, through the CDN, under the same signature.
    image = records.get_image(image_id)
    shared = image_operations.content_url(BOB, image, "original")
    assert with_cdn.check(path_of(shared), now=clock.at) == image.content.shared.key
    assert len(signed) == 1


def test_an_embed_link_is_a_canned_policy_url_of_its_own_copy(with_cdn, clock):
    from chalicelib import embeds

    image = records.get_image(new_image(jpeg((900, 600))))
    link = embeds.mint(image, {"variant": "preview", "expiresIn": 120}, ALICE)
    assert query_of(link["url"])["Expires"] == str(WINDOW_START + 60 + 120)
    key = with_cdn.check(path_of(link["url"]), now=clock.at + 119)
    assert key.startswith(f"links/{image.id}/{link['id']}.")
    with pytest.raises(edge.Refused, match="expired"):
        with_cdn.check(path_of(link["url"]), now=clock.at + 120)
    tampered = link["url"].replace(link["id"], link["id"][:-1] + "x")
    with pytest.raises(edge.Refused, match="signature"):
        with_cdn.check(path_of(tampered), now=clock.at)


BAD_EMBEDS = [
    ({}, "either variant"),
    ({"variant": "thumbnail", "render": {"w": 10}}, "either variant"),
    ({"variant": "poster"}, "no variant"),
    ({"variant": "preview", "expiresIn": 10}, "expiresIn"),
    ({"variant": "preview", "expiresIn": "soon"}, "expiresIn"),
    ({"render": {"w": True}}, "render must be"),
    ({"render": {"w": 10, "blur": 3}}, "unknown parameter"),
    ({"variant": "preview", "colour": "red"}, "unknown field"),
]


def test_a_bad_embed_request_is_refused_by_name(resources, configure):
    from chalicelib import embeds
    from chalicelib.errors import ServiceError

    # Refused before anything is signed: the CDN's settings are enough, without its keys.
    configure(CDN_URL=CDN, CDN_KEYS_PARAMETER="/image-service/test/none")
    image = records.get_image(new_image(jpeg((300, 200))))
    for body, message in BAD_EMBEDS:
        with pytest.raises(ServiceError, match=message):
            embeds.mint(image, body, ALICE)
