"""Share links in-process (chalicelib.sharelinks against mock_aws): stored hashed, found by one
GetItem, every limit enforced by the conditional write, each refusal with its own code."""

import pytest

from chalicelib import aws, sharelinks
from chalicelib.callers import Caller
from chalicelib.errors import Forbidden, Gone, Invalid, NotFound, NotSignedIn, TooLarge

OWNER = Caller(id="owner-sub", name="owner")


def mint(**body):
    return sharelinks.create(OWNER, "col_one", {"expiresInSeconds": 3600, **body})


def stored(link):
    return aws.table().get_item(Key=sharelinks._key(link["linkId"]))["Item"]


def test_a_link_is_stored_as_a_hash_and_checked_by_one_get_and_one_update(resources, calls):
    link = mint(scope="view")
    item = stored(link)
    assert link["token"].startswith(f"shl_{link['linkId']}_")
    assert link["token"] not in str(item)
    assert item["hash"] == sharelinks._hash(link["token"])
    assert "token" not in sharelinks.of_collection("col_one")[0]
    calls.clear()
    opened = sharelinks.use(link["token"])
    assert opened.collection_id == "col_one" and opened.scope == sharelinks.Scope.VIEW
    assert dict(calls) == {"GetItem": 1, "UpdateItem": 1}  # never a scan


def test_anything_that_is_not_a_link_or_is_tampered_is_refused_as_invalid(resources):
    token = mint(scope="view")["token"]
    tampered = token[:-1] + ("A" if token[-1] != "A" else "B")
    for presented in (None, "", "shl_", "isk_abc_def", "shl_zz!_secret", tampered):
        with pytest.raises(NotSignedIn) as refused:
            sharelinks.use(presented)
        assert refused.value.code == "InvalidShareLinkError", presented


def test_a_revoked_link_is_gone_and_keeps_its_counts(resources):
    link = mint(scope="view")
    sharelinks.use(link["token"])
    with pytest.raises(NotFound):  # only through its own collection
        sharelinks.revoke("col_other", link["linkId"])
    with pytest.raises(Forbidden):  # a view link does not upload
        sharelinks.use(link["token"], upload_bytes=10)
    sharelinks.revoke("col_one", link["linkId"])
    with pytest.raises(Gone) as refused:
        sharelinks.use(link["token"])
    assert refused.value.code == "ShareLinkRevokedError"
    other = sharelinks.create(OWNER, "col_two", {"scope": "view", "expiresInSeconds": 60})
    (listed,) = sharelinks.of_collection("col_one")
    assert listed["useCount"] == 1 and listed["revokedAt"]
    assert [found["linkId"] for found in sharelinks.of_collection("col_two")] == [other["linkId"]]


def test_an_expired_link_is_gone(resources, monkeypatch):
    link = mint(scope="view")
    monkeypatch.setattr(sharelinks, "now_iso", lambda: "2999-01-01T00:00:00.000Z")
    with pytest.raises(Gone) as refused:
        sharelinks.use(link["token"])
    assert refused.value.code == "ShareLinkExpiredError"


def test_a_use_limit_allows_exactly_that_many_uses(resources):
    link = mint(scope="view", maxUses=2)
    sharelinks.use(link["token"])
    sharelinks.use(link["token"])
    with pytest.raises(Forbidden) as refused:
        sharelinks.use(link["token"])
    assert refused.value.code == "ShareLinkUsedUpError"
    assert sharelinks.of_collection("col_one")[0]["useCount"] == 2


def test_an_upload_link_counts_uploads_and_bytes_against_its_quota(resources):
    link = mint(scope="upload", maxUploads=2, maxBytes=1000)
    sharelinks.use(link["token"], upload_bytes=600)
    with pytest.raises(TooLarge) as over_bytes:
        sharelinks.use(link["token"], upload_bytes=401)
    assert over_bytes.value.code == "ShareLinkQuotaExceededError"
    sharelinks.use(link["token"], upload_bytes=400)
    with pytest.raises(Forbidden) as over_count:
        sharelinks.use(link["token"], upload_bytes=1)
    assert over_count.value.code == "ShareLinkQuotaExceededError"
    listed = sharelinks.of_collection("col_one")[0]
    assert (listed["uploadCount"], listed["uploadBytes"]) == (2, 1000)


def test_the_conditional_write_refuses_a_use_another_guest_took_meanwhile(resources, monkeypatch):
    link = mint(scope="view", maxUses=1)
    before = stored(link)  # what a second guest read before the first one's use was counted
    sharelinks.use(link["token"])
    monkeypatch.setattr(sharelinks, "_found", lambda token: before)
    with pytest.raises(Forbidden) as refused:
        sharelinks.use(link["token"])
    assert refused.value.code == "ShareLinkUsedUpError"
    assert stored(link)["useCount"] == 1


MALFORMED = [
    {"scope": "admin", "expiresInSeconds": 60},
    {"scope": "view"},
    {"scope": "view", "expiresInSeconds": 0},
    {"scope": "view", "expiresInSeconds": 91 * 24 * 3600},
    {"scope": "view", "expiresInSeconds": 60, "maxUploads": 3},
    {"scope": "upload", "expiresInSeconds": 60, "maxUploads": 3},
    {"scope": "upload", "expiresInSeconds": 60, "maxUploads": True, "maxBytes": 9},
    {"scope": "view", "expiresInSeconds": 60, "secret": "mine"},
]


def test_a_malformed_link_request_is_a_400_and_mints_nothing(resources):
    for body in MALFORMED:
        with pytest.raises(Invalid):
            sharelinks.create(OWNER, "col_one", body)
    assert sharelinks.of_collection("col_one") == []
