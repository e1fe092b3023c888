"""The page's files are served by the app, with the right types and nothing else."""

import pytest

from chalicelib import webpage


@pytest.mark.parametrize(
    ("name", "kind"),
    [("index.html", "text/html"), ("app.js", "text/javascript"), ("style.css", "text/css")],
)
def test_each_file_of_the_page_is_served_with_its_type(resources, name, kind):
    response = webpage.asset(name)
    assert response.status_code == 200
    assert response.headers["Content-Type"].startswith(kind)
    assert response.headers["X-Content-Type-Options"] == "nosniff"


@pytest.mark.parametrize(
    "name",
    [
        "../webpage.py",
        "..%2Fsettings.py",
        "missing.js",
        "",
        "__init__.py",
        "/etc/passwd",
        "index.html/..",
    ],
)
def test_anything_else_is_404(resources, name):
    assert webpage.asset(name).status_code == 404


def test_the_page_carries_a_strict_content_security_policy(resources):
    policy = webpage.asset("index.html").headers["Content-Security-Policy"]
    assert "default-src 'self'" in policy
    assert "script-src 'self'" in policy
    assert "unsafe-inline" not in policy
    assert "object-src 'none'" in policy


def test_the_client_config_names_the_pool_and_the_cognito_endpoint(resources):
    config = webpage.client_config()
    assert config["userPoolId"] == resources.user_pool_id
    assert config["appClientId"] == resources.app_client_id
    assert config["cognitoEndpoint"].startswith("https://cognito-idp.us-east-1.amazonaws.com")
    assert config["variants"] == ["thumbnail", "preview", "hd-rotated"]
