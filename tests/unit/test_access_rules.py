"""Who the caller is, from what an authorizer put in the request context."""

import pytest

from chalicelib.access import caller_from_api_key, caller_from_context
from chalicelib.errors import NotSignedIn


@pytest.mark.parametrize(
    "context",
    [
        None,
        {},
        {"authorizer": None},
        {"authorizer": {}},
        {"authorizer": {"claims": {}}},
        {"authorizer": {"claims": {"sub": ""}}},
        {"authorizer": {"claims": "sub"}},
        {"authorizer": {"keyId": "k1"}},
    ],
)
def test_a_request_without_claims_is_not_signed_in(context):
    with pytest.raises(NotSignedIn):
        caller_from_context(context)


@pytest.mark.parametrize(
    ("groups", "admin"),
    [
        ("admins", True),
        ("[admins other]", True),
        ("other,admins", True),
        (["admins"], True),
        ("administrators", False),
        ("", False),
        (None, False),
    ],
)
def test_groups_are_read_in_every_shape_api_gateway_sends(groups, admin):
    claims = {"sub": "s-1", "cognito:username": "ann"}
    if groups is not None:
        claims["cognito:groups"] = groups
    caller = caller_from_context({"authorizer": {"claims": claims}})
    assert (caller.id, caller.name, caller.is_admin) == ("s-1", "ann", admin)


def test_user_claims_do_not_pass_for_an_api_key():
    with pytest.raises(NotSignedIn):
        caller_from_api_key({"authorizer": {"claims": {"sub": "s"}, "keyId": "k"}})
    assert caller_from_api_key({"authorizer": {"keyId": "k", "keyName": "n"}}).api_key_id == "k"
