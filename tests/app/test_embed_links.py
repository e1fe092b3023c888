"""Embed links in-process (the CDN option, against moto, on a clock the tests move): who may
mint, list and revoke them, an API key scoped to its own, a listing that is a bounded Query
giving each live link's URL again, and a retired key's links listed without one."""

import json
from datetime import UTC, datetime

import pytest

from chalicelib import aws, cdn, embeds, image_operations, records, settings, table
from chalicelib.access import Access
from chalicelib.callers import Caller
from chalicelib.errors import Forbidden, Invalid, NotFound
from tests.app.test_delivery import BOB, WINDOW_START, clock, keys, with_cdn  # noqa: F401
from tests.app.test_renders import ALICE, jpeg, new_image
from tests.support.aws_guards import forbid_scans, query_costs


def iso(epoch: int) -> str:
    return datetime.fromtimestamp(epoch, UTC).strftime("%Y-%m-%dT%H:%M:%S.000Z")


ADMIN = Caller(id="admin-sub", name="root", groups=frozenset({"admins"}))
KEY = Caller(id="apikey:k1", name="partner", api_key_id="k1")
OTHER_KEY = Caller(id="apikey:k2", name="other", api_key_id="k2")


@pytest.fixture
def image(with_cdn):  # noqa: F811
    return records.get_image(new_image(jpeg((600, 400))))


def test_a_listing_gives_each_live_link_newest_first_with_its_url_again(image, clock):  # noqa: F811
    soon = embeds.mint(image, {"variant": "thumbnail", "expiresIn": 60}, ALICE)
    clock.at += 10
    lasting = embeds.mint(image, {"variant": "preview"}, ALICE)
    clock.at += 10
    rendered = embeds.mint(image, {"render": {"w": 90, "format": "png"}}, KEY)
    clock.at += 45  # the first link has expired

    listed = embeds.listing(image, {}, None)
    assert [link["id"] for link in listed["links"]] == [rendered["id"], lasting["id"]]
    assert listed["links"] == [rendered, lasting]  # the same URL, byte for byte
    assert listed["cursor"] is None
    assert rendered["render"] == {"w": "90", "format": "png"} and rendered["mintedBy"] == KEY.id
    assert lasting["variant"] == "preview" and lasting["mintedBy"] == ALICE.id
    assert (lasting["createdAt"], lasting["expiresAt"]) == (
        iso(WINDOW_START + 70),
        iso(WINDOW_START + 70 + 365 * 86400),
    )
    assert soon["id"] not in json.dumps(listed)


def test_the_owner_and_admins_list_an_images_links_an_api_key_only_its_own(image):
    assert Access(ALICE).links_listable(image.id).id == image.id
    assert Access(ADMIN).links_listable(image.id).id == image.id
    with pytest.raises(NotFound):
        Access(BOB).links_listable(image.id)  # cannot read it: no such image, to him
    with pytest.raises(Forbidden):
        Access(ADMIN).changeable(image.id)  # admins look; revoking is the owner's
    assert Access(ADMIN).links_minted_by() is None and Access(ALICE).links_minted_by() is None
    own = embeds.mint(image, {"variant": "preview"}, KEY)
    owners = embeds.mint(image, {"variant": "thumbnail"}, ALICE)
    key_scope = Access(KEY).links_minted_by()
    assert [link["id"] for link in embeds.listing(image, {}, key_scope)["links"]] == [own["id"]]
    assert embeds.listing(image, {}, Access(OTHER_KEY).links_minted_by())["links"] == []
    with pytest.raises(NotFound):
        embeds.revoke(image, owners["id"], key_scope)
    embeds.revoke(image, own["id"], key_scope)
    assert [link["id"] for link in embeds.listing(image, {}, None)["links"]] == [owners["id"]]
    with pytest.raises(NotFound):
        embeds.revoke(image, own["id"], key_scope)
    # The owner revokes any link of the image, an API key's too.
    again = embeds.mint(image, {"variant": "preview"}, KEY)
    embeds.revoke(image, again["id"], Access(ALICE).links_minted_by())
    assert embeds.listing(image, {}, key_scope)["links"] == []


def test_a_listing_is_one_bounded_query_a_page_and_its_cursor_is_the_images_own(image):
    minted = [embeds.mint(image, {"variant": "thumbnail"}, ALICE)["id"] for _ in range(5)]
    other = records.get_image(new_image(jpeg((300, 200))))
    forbid_scans(aws.table().meta.client)
    costs = query_costs(aws.table().meta.client)
    seen, cursor = [], None
    while True:
        page = embeds.listing(image, {"limit": "2", **({"cursor": cursor} if cursor else {})}, None)
        seen += [link["id"] for link in page["links"]]
        if not (cursor := page["cursor"]):
            break
        with pytest.raises(Invalid, match="another listing"):
            embeds.listing(other, {"cursor": cursor}, None)
    assert sorted(seen) == sorted(minted) and len(seen) == 5
    assert costs.queries <= 4 and costs.scanned <= 5 + 3
    for bad in ({"limit": "0"}, {"limit": "101"}, {"cursor": "bm90LWEta2V5"}, {"colour": "x"}):
        with pytest.raises(Invalid):
            embeds.listing(image, bad, None)


def test_a_link_signed_by_a_retired_key_is_listed_without_its_url(image):
    link = embeds.mint(image, {"variant": "preview"}, ALICE)
    ssm, name = aws.client("ssm"), settings.get().cdn_keys_parameter
    stored = json.loads(ssm.get_parameter(Name=name, WithDecryption=True)["Parameter"]["Value"])
    other = next(slot for slot in stored["keys"] if slot != stored["active"])
    retired = stored["active"]
    stored["active"] = other
    del stored["keys"][retired]
    ssm.put_parameter(Name=name, Value=json.dumps(stored), Type="SecureString", Overwrite=True)
    cdn.forget_keys()
    (listed,) = embeds.listing(image, {}, None)["links"]
    assert listed["id"] == link["id"] and listed["url"] is None
    assert "retired" in listed["urlWithheld"]
    fresh = embeds.mint(image, {"variant": "preview"}, ALICE)
    assert fresh["url"] and "urlWithheld" not in fresh


def test_deleting_the_image_ends_its_links_and_their_records(image):
    embeds.mint(image, {"variant": "preview"}, ALICE)
    image_operations.delete_image(image)
    with pytest.raises(NotFound):
        Access(ALICE).links_listable(image.id)
    records.purge(image.id)
    assert records.partition(table.image_partition(image.id)) == []
