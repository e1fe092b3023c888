"""The page's files are served by the app, with the right types and nothing else."""

import hashlib
import json
import re

import pytest
from chalice.test import Client

from chalicelib import webpage


@pytest.fixture
def client(app_module):
    with Client(app_module.app) as test_client:
        yield test_client.http


@pytest.mark.parametrize(
    ("path", "kind"),
    [
        ("/", "text/html"),
        ("/static/index.html", "text/html"),
        ("/static/app.js", "text/javascript"),
        ("/static/style.css", "text/css"),
        ("/static/favicon.svg", "image/svg+xml"),
    ],
)
def test_each_file_of_the_page_is_served_with_its_type(client, path, kind):
    response = client.get(path)
    assert response.status_code == 200
    assert response.headers["Content-Type"].startswith(kind)
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.body


@pytest.mark.parametrize(
    "name",
    [
        "../app.py",
        "../webpage.py",
        "..%2Fsettings.py",
        "..\\webpage.py",
        "%2e%2e%2fapp.py",
        "missing.js",
        "",
        ".",
        "..",
        "__init__.py",
        "/etc/passwd",
        "index.html/..",
        "static/app.js",
        "app.js\x00.css",
        "INDEX.HTML",
    ],
)
def test_any_other_name_is_a_404_in_chalices_error_shape(resources, name):
    response = webpage.asset(name)
    assert response.status_code == 404
    assert response.body["Code"] == "NotFoundError"
    assert "Content-Security-Policy" not in response.headers


@pytest.mark.parametrize(
    "path", ["/static/..%2Fapp.py", "/static/%2e%2e%2fwebpage.py", "/static/webpage.py"]
)
def test_traversal_through_the_route_is_a_404(client, path):
    response = client.get(path)
    assert response.status_code == 404
    assert json.loads(response.body)["Code"] == "NotFoundError"


def test_the_page_carries_a_strict_content_security_policy(client):
    policy = client.get("/").headers["Content-Security-Policy"]
    directives = dict(d.strip().split(" ", 1) for d in policy.split(";"))
    assert directives["default-src"] == "'self'"
    assert directives["script-src"] == "'self'"
    assert directives["style-src"] == "'self'"
    assert directives["object-src"] == "'none'"
    assert directives["frame-ancestors"] == "'none'"
    assert "unsafe" not in policy


def test_the_policy_lets_the_page_reach_exactly_cognito_and_the_bucket(resources):
    policy = webpage.content_security_policy()
    directives = dict(d.strip().split(" ", 1) for d in policy.split(";"))
    cognito = "https://cognito-idp.us-east-1.amazonaws.com"
    storage = "https://s3.amazonaws.com"
    assert directives["connect-src"].split() == ["'self'", cognito, storage]
    assert directives["img-src"].split() == ["'self'", storage, "blob:", "data:"]


def test_the_policys_origins_follow_the_endpoint_boto3_uses(resources, monkeypatch):
    from chalicelib import aws

    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:4566")
    aws.reset()
    policy = webpage.content_security_policy()
    assert "connect-src 'self' http://127.0.0.1:4566 http://127.0.0.1:4566" in policy
    assert webpage.client_config()["cognitoEndpoint"] == "http://127.0.0.1:4566"


def test_presigned_links_fall_inside_the_policy(resources, configure):
    from chalicelib import blobs, delivery

    configure(CDN_URL="https://d111.cloudfront.net", CDN_KEYS_PARAMETER="/k")
    policy = webpage.content_security_policy()
    for url in (
        delivery.original_link("uploads/x/y", "jpeg", "y.jpg"),
        blobs.presigned_post("uploads/x/y", "image/png")["url"],
        "https://d111.cloudfront.net/variants/x/y/thumbnail.webp",
    ):
        origin = re.match(r"https?://[^/]+", url).group(0)
        assert f" {origin}" in policy.split("img-src")[0]
        assert f" {origin}" in policy.split("img-src")[1].split(";")[0]


def test_the_page_names_its_files_by_content_so_they_can_be_cached(client):
    page = client.get("/")
    assert page.headers["Cache-Control"] == "no-cache"
    scripts = re.findall(r'static/app\.js\?v=([0-9a-f]{12})"', page.body.decode())
    assert len(scripts) == 1
    script = client.get(f"/static/app.js?v={scripts[0]}")
    assert script.status_code == 200
    assert "max-age" in script.headers["Cache-Control"]


def test_the_client_config_names_the_pool_and_the_cognito_endpoint(client, resources):
    response = client.get("/config")
    assert response.status_code == 200
    config = json.loads(response.body)
    assert config["userPoolId"] == resources.user_pool_id
    assert config["appClientId"] == resources.app_client_id
    assert config["cognitoEndpoint"] == "https://cognito-idp.us-east-1.amazonaws.com"
    assert config["variants"] == ["thumbnail", "preview", "hd-rotated"]
    assert config["maxUploadBytes"] > 0


def test_each_module_imports_its_siblings_by_their_content_hash(client):
    app = client.get("/static/app.js")
    imports = dict(re.findall(r'from "\./([\w.-]+\.js)\?v=([0-9a-f]{12})"', app.body.decode()))
    assert {"api.js", "gallery.js", "detail.js", "session.js"} <= set(imports)
    for name, version in imports.items():
        served = client.get(f"/static/{name}?v={version}")
        assert served.status_code == 200
        assert served.headers["Content-Type"].startswith("text/javascript")
        assert hashlib.sha256(served.body).hexdigest()[:12] == version


def test_a_change_in_an_imported_module_changes_the_importers_hash(tmp_path, monkeypatch):
    (tmp_path / "index.html").write_text('<script type="module" src="static/a.js"></script>')
    (tmp_path / "a.js").write_text('import { b } from "./b.js";\n')
    (tmp_path / "b.js").write_text("export const b = 1;\n")
    monkeypatch.setattr(webpage, "STATIC", tmp_path)

    def page_and_import() -> tuple[str, str]:
        for cached in (webpage._files, webpage._fingerprint, webpage._module):
            cached.cache_clear()
        page = webpage._page()
        return page, webpage._module("a.js")

    page_before, a_before = page_and_import()
    (tmp_path / "b.js").write_text("export const b = 2;\n")
    page_after, a_after = page_and_import()
    monkeypatch.undo()
    for cached in (webpage._files, webpage._fingerprint, webpage._module):
        cached.cache_clear()

    assert a_before != a_after  # a.js names the new b.js
    assert page_before != page_after  # so the page names a new a.js, though a.js is unchanged


def test_the_client_config_names_the_types_the_service_takes(client, resources):
    config = json.loads(client.get("/config").body)
    assert "image/jpeg" in config["uploadTypes"]
    assert "image/svg+xml" not in config["uploadTypes"]
    assert config["linkSeconds"] > 0
