"""imgsvc, the command-line client, end to end against the local stack: sign in, upload
(over the presigned POST, with progress, a file larger than the one-step limit), verdicts,
listings, renders, collections, keys, --json everywhere, and the exit codes scripts use."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from PIL import Image

pytestmark = pytest.mark.e2e


class Cli:
    def __init__(self, stack, home: Path):
        self.stack, self.home = stack, home

    def __call__(self, *args: str, stdin: str | None = None) -> subprocess.CompletedProcess:
        env = {**os.environ, "IMGSVC_CONFIG_DIR": str(self.home), "IMGSVC_API": self.stack.api}
        env.pop("IMGSVC_PASSWORD", None)
        return subprocess.run(
            [sys.executable, "-m", "imgsvc", *args],
            input=stdin,
            env=env,
            capture_output=True,
            text=True,
            timeout=240,
        )

    def json(self, *args: str) -> object:
        done = self(*args, "--json")
        assert done.returncode == 0, done.stdout + done.stderr
        return json.loads(done.stdout)

    def login(self, user: str) -> None:
        done = self("login", user, "--password-stdin", stdin=self.stack.state["users"][user])
        assert done.returncode == 0, done.stdout + done.stderr


@pytest.fixture
def cli(stack, tmp_path):
    found = Cli(stack, tmp_path / "config")
    found.login("demo")
    return found


def _big_png(path: Path) -> Path:
    """A PNG of noise over 4 MB (it does not compress): too large for the one-step route."""
    Image.frombytes("RGB", (1300, 1200), os.urandom(1300 * 1200 * 3)).save(path, "PNG")
    assert path.stat().st_size > 4 * 1024 * 1024
    return path


def test_login_keeps_the_tokens_for_the_user_alone_and_me_shows_who_is_signed_in(cli):
    assert cli.json("me")["username"] == "demo"
    credentials = cli.home / "credentials.json"
    assert credentials.stat().st_mode & 0o077 == 0


def test_a_file_over_the_one_step_limit_uploads_with_progress_and_is_ready(cli, tmp_path):
    path = _big_png(tmp_path / "noise.png")
    done = cli("upload", str(path))
    assert done.returncode == 0, done.stdout + done.stderr
    assert "noise.png: 100%" in done.stderr
    assert "noise.png: ready" in done.stdout
    assert "1300×1200 png" in done.stdout
    assert "thumbnail: http" in done.stdout


def test_upload_json_gives_each_verdict_and_a_non_image_exits_1_with_its_failure(cli, tmp_path):
    good, bad = tmp_path / "good.jpg", tmp_path / "bad.jpg"
    Image.new("RGB", (300, 200), (200, 10, 10)).save(good, "JPEG")
    bad.write_text("this is not a picture")
    done = cli("upload", str(good), str(bad), "--json")
    assert done.returncode == 1, done.stdout + done.stderr
    results = {Path(result["file"]).name: result["image"] for result in json.loads(done.stdout)}
    assert results["good.jpg"]["status"] == "ready"
    assert results["bad.jpg"]["status"] == "failed"
    assert results["bad.jpg"]["failure"]["code"]


def test_ls_show_log_and_render_read_back_an_upload(cli, tmp_path):
    path = tmp_path / "back.jpg"
    Image.new("RGB", (640, 480), (0, 90, 0)).save(path, "JPEG")
    image = cli.json("upload", str(path), "--title", "read back")[0]["image"]
    assert image["id"] in [found["id"] for found in cli.json("ls", "--limit", "100")]
    assert cli.json("show", image["id"])["title"] == "read back"
    assert image["id"] in [row["imageId"] for row in cli.json("log", "--limit", "100")]
    url = cli.json("render", image["id"], "--w", "100", "--fit", "contain", "--format", "png")
    assert url["url"].startswith("http")
    out = tmp_path / "small.png"
    assert (
        cli("render", image["id"], "--w", "100", "--format", "png", "-o", str(out)).returncode == 0
    )
    assert Image.open(out).size == (100, 75)
    edited = cli.json("edit", image["id"], "--title", "renamed")
    assert edited["title"] == "renamed"


def test_collections_create_add_member_show_and_upload_into_it(cli, stack, tmp_path):
    made = cli.json("collections", "create", "trip")
    added = cli.json("collections", "add-member", made["id"], "someone-else")
    assert {member["userId"] for member in added["members"]} >= {"someone-else"}
    path = tmp_path / "trip.jpg"
    Image.new("RGB", (64, 64), (1, 2, 3)).save(path, "JPEG")
    image = cli.json("upload", str(path), "--collection", made["id"])[0]["image"]
    assert image["collectionId"] == made["id"]
    listed = cli.json("collections", "images", made["id"])
    assert [found["id"] for found in listed] == [image["id"]]
    assert cli.json("collections", "remove-member", made["id"], "someone-else")["removed"]
    assert len(cli.json("collections", "show", made["id"])["members"]) == 1


def test_keys_are_for_admins_and_a_refusal_exits_4_with_the_services_code(cli, stack, tmp_path):
    refused = cli("keys", "list", "--json")
    assert refused.returncode == 4
    error = json.loads(refused.stdout)["error"]
    assert error["code"] == "ForbiddenError"
    assert error["status"] == 403
    assert error["requestId"]
    admin = Cli(stack, tmp_path / "admin")
    admin.login("admin")
    key = admin.json("keys", "create", "cli")
    assert key["secret"].startswith("isk_")
    assert key["keyId"] in [found["keyId"] for found in admin.json("keys", "list")]
    admin.json("keys", "revoke", key["keyId"])
    revoked = [found for found in admin.json("keys", "list") if found["keyId"] == key["keyId"]]
    assert revoked[0]["revokedAt"]


def test_exit_codes_not_found_4_not_signed_in_3_bad_usage_2(cli, stack, tmp_path):
    missing = cli("show", "img_nothing")
    assert missing.returncode == 4
    assert "NotFoundError" in missing.stderr
    assert "request " in missing.stderr
    assert cli("upload", str(tmp_path / "absent.jpg")).returncode == 2
    assert cli("frobnicate").returncode == 2
    stranger = Cli(stack, tmp_path / "nobody")
    assert stranger("ls").returncode == 3
    wrong = stranger("login", "demo", "--password-stdin", stdin="not-the-password")
    assert wrong.returncode == 3
    cli("logout")
    assert cli("ls").returncode == 3


def test_the_project_installs_imgsvc_as_a_command():
    done = subprocess.run(
        [str(Path(sys.executable).with_name("imgsvc")), "--help"], capture_output=True, text=True
    )
    assert done.returncode == 0
    assert "upload" in done.stdout


def test_api_and_json_may_come_before_or_after_the_command(cli, stack):
    env_free = Cli(stack, cli.home)
    before = env_free("--api", stack.api, "--json", "me")
    after = env_free("me", "--api", stack.api, "--json")
    assert before.returncode == after.returncode == 0, before.stderr + after.stderr
    assert json.loads(before.stdout) == json.loads(after.stdout)


def test_links_are_made_listed_and_revoked_and_a_guest_uses_one_without_signing_in(
    cli, stack, tmp_path
):
    if "cli-friend" not in stack.state["users"]:
        stack.create_user("cli-friend")
    made = cli.json("collections", "create", "guests welcome")
    added = cli.json("collections", "add-member", made["id"], "cli-friend", "--name")
    assert "cli-friend" in {member["username"] for member in added["members"]}
    link = cli.json(
        "links",
        "create",
        made["id"],
        "--scope",
        "upload",
        "--expires",
        "1h",
        "--max-uploads",
        "2",
        "--max-bytes",
        "100000",
        "--label",
        "guests",
    )
    assert link["pageUrl"] == f"{stack.api}/#share={link['token']}"
    path = tmp_path / "guest.jpg"
    Image.new("RGB", (80, 60), (9, 9, 9)).save(path, "JPEG")
    guest = Cli(stack, tmp_path / "guest-config")  # never signed in
    (sent,) = guest.json("shared", "upload", link["pageUrl"], str(path))
    cli.json("show", sent["id"])  # the owner of the collection reads it (and it exists)
    shown = guest.json("shared", "show", link["token"])
    assert shown["collection"]["id"] == made["id"] and shown["scope"] == "upload"
    (listed,) = cli.json("links", "list", made["id"])
    assert listed["uploadCount"] == 1 and listed["useCount"] == 3
    assert cli.json("links", "revoke", made["id"], link["linkId"])["revoked"]
    refused = guest("shared", "show", link["token"], "--json")
    assert refused.returncode == 4
    assert json.loads(refused.stdout)["error"]["code"] == "ShareLinkRevokedError"


def test_an_admin_registers_lists_and_removes_a_webhook(stack, tmp_path):
    admin = Cli(stack, tmp_path / "admin-config")
    admin.login("admin")
    key = admin.json("keys", "create", "cli-hooks")
    hook = admin.json("webhooks", "add", key["keyId"], "https://127.0.0.1:9/hook")
    assert hook["secret"].startswith("whsec_")
    assert [h["webhookId"] for h in admin.json("webhooks", "list", key["keyId"])] == [
        hook["webhookId"]
    ]
    assert isinstance(admin.json("webhooks", "deliveries", key["keyId"], hook["webhookId"]), list)
    assert admin.json("webhooks", "remove", key["keyId"], hook["webhookId"])["removed"]
    assert admin.json("webhooks", "list", key["keyId"]) == []
    refused = admin("webhooks", "add", key["keyId"], "http://example.com/hook", "--json")
    assert refused.returncode == 4
    assert admin.json("keys", "revoke", key["keyId"])
