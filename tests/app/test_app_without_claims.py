"""Whatever a gateway lets through, the app itself refuses a user route without claims."""

import re

from chalice.app import CognitoUserPoolAuthorizer
from chalice.test import Client


def test_every_user_route_answers_401_when_no_claims_reach_the_app(app_module):
    app = app_module.app
    checked = 0
    with Client(app) as client:
        for path, methods in app.routes.items():
            for method, entry in methods.items():
                if not isinstance(entry.authorizer, CognitoUserPoolAuthorizer):
                    continue
                concrete = re.sub(r"\{[^}]+\}", "x", path)
                media_type = entry.content_types[0]
                response = client.http.request(
                    method, concrete, headers={"Content-Type": media_type}, body=b"{}"
                )
                assert response.status_code == 401, (method, path, response.body)
                checked += 1
    assert checked >= 15


def test_health_needs_no_identity(app_module):
    with Client(app_module.app) as client:
        assert client.http.get("/health").json_body == {"status": "ok"}
