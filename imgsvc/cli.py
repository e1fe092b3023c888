"""imgsvc: the Image Service from the command line.

Exit codes (scripts may rely on them):
  0  done (every upload ready)
  1  an upload was processed and failed (or expired); the verdict says why
  2  bad usage (unknown command or option, a file that cannot be read)
  3  not signed in, or the sign-in was refused
  4  the service refused the request (another 4xx: not found, forbidden, invalid...)
  5  the service or the network failed (5xx, no connection)
  6  timed out waiting for a verdict
"""

import argparse
import getpass
import json
import os
import sys
from pathlib import Path
from typing import Any

import requests

from imgsvc.client import (
    ApiError,
    Client,
    NotSignedIn,
    content_type_of,
    forget_credentials,
    load_credentials,
    save_credentials,
)

OK, FAILED, USAGE, AUTH, REFUSED, BROKEN, TIMEOUT = range(7)
DEFAULT_API = "http://127.0.0.1:8000"


class Usage(Exception):
    """A mistake in how imgsvc was called (exit 2)."""


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    args.api, args.json = getattr(args, "api", None), getattr(args, "json", False)
    out = Output(args.json)
    try:
        return args.run(_client(args), args, out) or OK
    except Usage as error:
        out.error("usage", str(error))
        return USAGE
    except NotSignedIn as error:
        out.error("NotSignedIn", str(error))
        return AUTH
    except ApiError as error:
        out.error(error.code, error.message, status=error.status, requestId=error.request_id)
        if error.status == 401:
            return AUTH
        return BROKEN if error.status >= 500 else REFUSED
    except TimeoutError as error:
        out.error("Timeout", str(error))
        return TIMEOUT
    except requests.RequestException as error:
        out.error("ConnectionError", str(error))
        return BROKEN
    except KeyboardInterrupt:
        return 130


def _client(args: argparse.Namespace) -> Client:
    credentials = load_credentials()
    api = args.api or os.environ.get("IMGSVC_API") or (credentials.api if credentials else None)
    api = (api or DEFAULT_API).rstrip("/")
    # Credentials belong to the API they were issued for; another API starts signed out.
    return Client(api, credentials if credentials and credentials.api == api else None)


class Output:
    """What a command shows: lines for people, or one JSON document with --json."""

    def __init__(self, as_json: bool):
        self.as_json = as_json

    def show(self, data: Any, text: str | list[str]) -> None:
        if self.as_json:
            print(json.dumps(data, indent=2, ensure_ascii=False))
        else:
            print(printable("\n".join(text) if isinstance(text, list) else text))

    def error(self, code: str, message: str, **details: Any) -> None:
        if self.as_json:
            body = {"error": {"code": code, "message": message, **details}}
            print(json.dumps(body, ensure_ascii=False))
        else:
            rid = f" (request {details['requestId']})" if details.get("requestId") else ""
            print(f"imgsvc: {message} [{code}]{rid}", file=sys.stderr)


def printable(text: str) -> str:
    """Text with control characters shown as escapes: titles and filenames come from other
    users, and an escape sequence in one must not drive the reader's terminal."""
    return "".join(
        c if c.isprintable() or c == "\n" else c.encode("unicode_escape").decode() for c in text
    )


# -- commands ----------------------------------------------------------------------------


def _delete(client: Client, out: Output, path: str, done: str, what: str, **more: str) -> int:
    """DELETE `path`, then say `done what` (as JSON: {done: what, **more})."""
    client.call("DELETE", path)
    out.show({done: what, **more}, f"{done} {what}")
    return OK


def login(client: Client, args: argparse.Namespace, out: Output) -> int:
    username = args.username or input("username: ")
    if args.password_stdin:
        password = sys.stdin.readline().rstrip("\n")
    else:
        password = os.environ.get("IMGSVC_PASSWORD") or getpass.getpass("password: ")
    credentials = client.login(username, password)
    save_credentials(credentials)
    me = client.call("GET", "/me")
    out.show(me, f"signed in to {client.api} as {me['username']} ({me['sub']})")
    return OK


def logout(client: Client, args: argparse.Namespace, out: Output) -> int:
    forget_credentials()
    out.show({"signedOut": True}, "signed out")
    return OK


def me(client: Client, args: argparse.Namespace, out: Output) -> int:
    found = client.call("GET", "/me")
    groups = ", ".join(found["groups"]) or "no groups"
    out.show(found, f"{found['username']}  {found['sub']}  ({groups})")
    return OK


def upload(client: Client, args: argparse.Namespace, out: Output) -> int:
    paths = [Path(name) for name in args.files]
    for path in paths:
        if not path.is_file():
            raise Usage(f"{path}: no such file")
    from imgsvc.progress import Bars

    results = []
    with Bars(enabled=not args.quiet) as bars:
        for path in paths:
            bar = bars.add(path.name, path.stat().st_size)
            image = client.upload(
                path,
                collection_id=args.collection,
                title=args.title,
                progress=bar.update,
                wait=not args.no_wait,
                timeout=args.timeout,
            )
            bar.done(image["status"])
            results.append({"file": str(path), "image": image})
    out.show(results, [_verdict(result["file"], result["image"]) for result in results])
    finished = {result["image"]["status"] for result in results}
    return FAILED if finished & {"failed", "expired"} else OK


def _verdict(name: str, image: dict[str, Any]) -> str:
    status = image["status"]
    lines = [f"{name}: {status}  {image['id']}"]
    if status == "ready":
        lines[0] += f"  {image['width']}×{image['height']} {image['format']}"
    if image.get("failure"):
        lines.append(f"  {image['failure']['code']}: {image['failure']['message']}")
    for variant, url in (image.get("links") or {}).items():
        lines.append(f"  {variant}: {url}")
    return "\n".join(lines)


def ls(client: Client, args: argparse.Namespace, out: Output) -> int:
    params = _page_params(args)
    if args.collection:
        params["collectionId"] = args.collection
    images = _pages(client, "/images", params, "images", args.all)
    out.show(images, [_line(image) for image in images] or ["no images"])
    return OK


def _line(image: dict[str, Any]) -> str:
    size = f"{image['width']}×{image['height']}" if image.get("width") else "-"
    title = f"  {image['title']}" if image.get("title") else ""
    return f"{image['id']}  {image['status']:<15} {size:>11}  {image['filename']}{title}"


def show(client: Client, args: argparse.Namespace, out: Output) -> int:
    image = client.call("GET", f"/images/{args.id}")
    out.show(image, _verdict(image["filename"], image))
    return OK


def edit(client: Client, args: argparse.Namespace, out: Output) -> int:
    changes = {
        name: value
        for name, value in (
            ("title", args.title),
            ("description", args.description),
            ("filename", args.filename),
        )
        if value is not None
    }
    if not changes:
        raise Usage("nothing to change: give --title, --description or --filename")
    current = client.request("GET", f"/images/{args.id}")
    if current.status_code >= 400:
        raise ApiError.from_response(current)
    # The edit applies to the version just read: another edit meanwhile is a 412, not lost.
    image = client.call(
        "PATCH", f"/images/{args.id}", json=changes, headers={"If-Match": current.headers["ETag"]}
    )
    out.show(image, _line(image))
    return OK


def rm(client: Client, args: argparse.Namespace, out: Output) -> int:
    return _delete(client, out, f"/images/{args.id}", "deleted", args.id)


def download(client: Client, args: argparse.Namespace, out: Output) -> int:
    url = client.location("GET", f"/images/{args.id}/content/{args.variant}")
    return _save_or_print(url, args.output, out)


def render(client: Client, args: argparse.Namespace, out: Output) -> int:
    params = {
        name: value
        for name, value in (
            ("w", args.w),
            ("h", args.h),
            ("fit", args.fit),
            ("rotate", args.rotate),
            ("format", args.format),
            ("q", args.q),
        )
        if value is not None
    }
    url = client.location("GET", f"/images/{args.id}/render", params=params)
    return _save_or_print(url, args.output, out)


def _save_or_print(url: str, output: str | None, out: Output) -> int:
    if not output:
        out.show({"url": url}, url)
        return OK
    response = requests.get(url, timeout=120)
    if response.status_code >= 400:
        raise ApiError(response.status_code, "DownloadFailed", "storage refused the link", None)
    Path(output).write_bytes(response.content)
    out.show({"url": url, "file": output, "bytes": len(response.content)}, f"saved {output}")
    return OK


def log(client: Client, args: argparse.Namespace, out: Output) -> int:
    params = _page_params(args)
    if args.user:
        params["user"] = args.user
    if args.everyone:
        params["all"] = "true"
    rows = _pages(client, "/uploads", params, "uploads", args.all)
    lines = []
    for row in rows:
        failure = f"  {row['failure']['code']}" if row.get("failure") else ""
        took = f"  {row['durationMs']} ms" if row.get("durationMs") is not None else ""
        lines.append(
            f"{row['createdAt']}  {row['imageId']}  {row['status']:<15} {row['filename']}"
            f"{failure}{took}"
        )
    out.show(rows, lines or ["no uploads"])
    return OK


def collections_create(client: Client, args: argparse.Namespace, out: Output) -> int:
    body = {"name": args.name, **({"description": args.description} if args.description else {})}
    made = client.call("POST", "/collections", json=body)
    out.show(made, f"{made['id']}  {made['name']}")
    return OK


def _collection_lines(found: dict[str, Any]) -> list[str]:
    lines = [f"{found['id']}  {found['name']}  (owner {found['ownerName'] or found['ownerId']})"]
    lines += [
        f"  member {member['userId']}"
        + (f"  ({member['username']})" if member.get("username") else "")
        for member in found["members"]
    ]
    return lines


def collections_show(client: Client, args: argparse.Namespace, out: Output) -> int:
    found = client.call("GET", f"/collections/{args.id}")
    out.show(found, _collection_lines(found))
    return OK


def collections_add(client: Client, args: argparse.Namespace, out: Output) -> int:
    body = {"username": args.user} if args.name else {"userId": args.user}
    found = client.call("POST", f"/collections/{args.id}/members", json=body)
    out.show(found, _collection_lines(found))
    return OK


def collections_remove(client: Client, args: argparse.Namespace, out: Output) -> int:
    path = f"/collections/{args.id}/members/{args.user}"
    return _delete(client, out, path, "removed", args.user, collection=args.id)


def collections_images(client: Client, args: argparse.Namespace, out: Output) -> int:
    images = _pages(
        client, f"/collections/{args.id}/images", _page_params(args), "images", args.all
    )
    out.show(images, [_line(image) for image in images] or ["no images"])
    return OK


_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def _seconds(text: str) -> int:
    """7d, 12h, 30m or 90s as seconds."""
    number, unit = text[:-1], text[-1:]
    if unit not in _UNITS or not number.isdigit():
        raise Usage(f"--expires takes a number and a unit (s, m, h, d), e.g. 7d; not {text!r}")
    return int(number) * _UNITS[unit]


def _link_line(link: dict[str, Any]) -> str:
    uses = f"{link['useCount']}" + (f"/{link['maxUses']}" if link.get("maxUses") else "")
    line = f"{link['linkId']}  {link['scope']:<6} {link['label']:<20} used {uses}×"
    if link["scope"] == "upload":
        line += f"  uploads {link['uploadCount']}/{link['maxUploads']}"
        line += f"  bytes {link['uploadBytes']}/{link['maxBytes']}"
    if link.get("revokedAt"):
        return line + f"  revoked {link['revokedAt']}"
    return line + f"  expires {link['expiresAt']}"


def links_create(client: Client, args: argparse.Namespace, out: Output) -> int:
    body: dict[str, Any] = {"scope": args.scope, "expiresInSeconds": _seconds(args.expires)}
    for name, value in (
        ("label", args.label),
        ("maxUses", args.max_uses),
        ("maxUploads", args.max_uploads),
        ("maxBytes", args.max_bytes),
    ):
        if value is not None:
            body[name] = value
    link = client.call("POST", f"/collections/{args.collection}/links", json=body)
    # The token rides in the fragment, which browsers never send to any server.
    link["pageUrl"] = f"{client.api}/#share={link['token']}"
    out.show(
        link,
        [_link_line(link), f"token (shown once): {link['token']}", f"open: {link['pageUrl']}"],
    )
    return OK


def links_list(client: Client, args: argparse.Namespace, out: Output) -> int:
    links = client.call("GET", f"/collections/{args.collection}/links")["links"]
    out.show(links, [_link_line(link) for link in links] or ["no links"])
    return OK


def links_revoke(client: Client, args: argparse.Namespace, out: Output) -> int:
    path = f"/collections/{args.collection}/links/{args.link}"
    return _delete(client, out, path, "revoked", args.link)


def _share_token(args: argparse.Namespace) -> str:
    token = args.token or os.environ.get("IMGSVC_SHARE_TOKEN", "")
    if "#share=" in token:
        token = token.split("#share=", 1)[1]
    if not token:
        raise Usage("give the share link's token (or its page URL), or set $IMGSVC_SHARE_TOKEN")
    return token


def shared_show(client: Client, args: argparse.Namespace, out: Output) -> int:
    """What a share link opens, as its guest sees it (no sign-in)."""
    headers = {"X-Share-Token": _share_token(args)}
    found = client.call("GET", "/shared", auth=False, headers=headers)
    images = client.call("GET", "/shared/images", auth=False, headers=headers)["images"]
    found["images"] = images
    lines = [f"{found['collection']['name']}  ({found['scope']} link)"]
    lines += [
        f"  {image['id']}  {image['width']}×{image['height']}  {image['title']}" for image in images
    ]
    out.show(found, lines)
    return OK


def shared_upload(client: Client, args: argparse.Namespace, out: Output) -> int:
    """Upload into a shared collection as a guest of an upload link (no sign-in)."""
    headers = {"X-Share-Token": _share_token(args)}
    done = []
    for name in args.files:
        path = Path(name)
        if not path.is_file():
            raise Usage(f"cannot read {name}")
        content_type = content_type_of(path)
        body = {"filename": path.name, "contentType": content_type, "bytes": path.stat().st_size}
        made = client.call("POST", "/shared/images", auth=False, headers=headers, json=body)
        client.send(made["upload"], path, content_type)
        done.append(made["image"])
    out.show(done, [f"{image['id']}  sent {image['filename']}" for image in done])
    return OK


def keys_create(client: Client, args: argparse.Namespace, out: Output) -> int:
    key = client.call("POST", "/admin/api-keys", json={"name": args.name})
    out.show(key, [f"{key['keyId']}  {key['name']}", f"secret (shown once): {key['secret']}"])
    return OK


def keys_list(client: Client, args: argparse.Namespace, out: Output) -> int:
    keys = client.call("GET", "/admin/api-keys")["keys"]
    lines = [
        f"{key['keyId']}  {key['name']:<20} used {key['useCount']}×"
        + (f"  revoked {key['revokedAt']}" if key.get("revokedAt") else "")
        for key in keys
    ]
    out.show(keys, lines or ["no keys"])
    return OK


def keys_revoke(client: Client, args: argparse.Namespace, out: Output) -> int:
    return _delete(client, out, f"/admin/api-keys/{args.id}", "revoked", args.id)


def webhooks_add(client: Client, args: argparse.Namespace, out: Output) -> int:
    hook = client.call("POST", f"/admin/api-keys/{args.key}/webhooks", json={"url": args.url})
    out.show(
        hook,
        [f"{hook['webhookId']}  {hook['url']}", f"signing secret (shown once): {hook['secret']}"],
    )
    return OK


def webhooks_list(client: Client, args: argparse.Namespace, out: Output) -> int:
    hooks = client.call("GET", f"/admin/api-keys/{args.key}/webhooks")["webhooks"]
    out.show(hooks, [f"{hook['webhookId']}  {hook['url']}" for hook in hooks] or ["no webhooks"])
    return OK


def webhooks_remove(client: Client, args: argparse.Namespace, out: Output) -> int:
    path = f"/admin/api-keys/{args.key}/webhooks/{args.webhook}"
    return _delete(client, out, path, "removed", args.webhook)


def webhooks_deliveries(client: Client, args: argparse.Namespace, out: Output) -> int:
    path = f"/admin/api-keys/{args.key}/webhooks/{args.webhook}/deliveries"
    tries = client.call("GET", path)["deliveries"]
    lines = [
        f"{t['at']}  {t['eventType']:<14} {t['eventId']}  try {t['attempt']}  "
        + ("delivered" if t["delivered"] else f"failed: {t['error']}")
        for t in tries
    ]
    out.show(tries, lines or ["no deliveries yet"])
    return OK


def _page_params(args: argparse.Namespace) -> dict[str, str]:
    params = {"limit": str(args.limit)}
    if args.status:
        params["status"] = args.status
    return params


def _pages(
    client: Client, path: str, params: dict[str, str], field: str, every: bool
) -> list[dict[str, Any]]:
    """One page, or with --all every page (a filtered page may be short: go on by cursor)."""
    found: list[dict[str, Any]] = []
    while True:
        page = client.call("GET", path, params=params)
        found.extend(page[field])
        if not every or not page["cursor"]:
            return found
        params = {**params, "cursor": page["cursor"]}


# -- the command line --------------------------------------------------------------------


def _parser() -> argparse.ArgumentParser:
    # --api and --json go before or after the command; SUPPRESS keeps a subcommand's copy
    # from overwriting what was given before it.
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "--api",
        default=argparse.SUPPRESS,
        help=f"the API's URL (else $IMGSVC_API, else {DEFAULT_API})",
    )
    common.add_argument(
        "--json", action="store_true", default=argparse.SUPPRESS, help="print JSON, not text"
    )
    parser = argparse.ArgumentParser(
        prog="imgsvc",
        description="The Image Service from the command line.",
        epilog=__doc__.split("\n\n", 1)[1],
        formatter_class=argparse.RawDescriptionHelpFormatter,
        parents=[common],
    )
    commands = parser.add_subparsers(required=True, metavar="COMMAND")

    def command(name: str, run, help: str, parent=commands) -> argparse.ArgumentParser:
        found = parent.add_parser(name, help=help, description=help, parents=[common])
        found.set_defaults(run=run)
        return found

    def paged(found: argparse.ArgumentParser) -> None:
        found.add_argument("--limit", type=int, default=20, help="rows per page (1-100)")
        found.add_argument("--status", help="only this status (ready, failed, ...)")
        found.add_argument("--all", action="store_true", help="every page, not just the first")

    found = command("login", login, "sign in (Cognito USER_PASSWORD_AUTH) and keep the tokens")
    found.add_argument("username", nargs="?")
    found.add_argument("--password-stdin", action="store_true", help="read the password from stdin")
    command("logout", logout, "forget the stored tokens")
    command("me", me, "who am I signed in as")
    found = command("upload", upload, "upload files, each with a progress bar; wait for verdicts")
    found.add_argument("files", nargs="+", metavar="FILE")
    found.add_argument("--collection", metavar="ID", help="add the images to this collection")
    found.add_argument("--title")
    found.add_argument("--no-wait", action="store_true", help="do not wait for the verdicts")
    found.add_argument("--timeout", type=float, default=300, help="seconds to wait per file")
    found.add_argument("--quiet", "-q", action="store_true", help="no progress bars")
    found = command("ls", ls, "list my images, newest first")
    paged(found)
    found.add_argument("--collection", metavar="ID", help="only images of this collection")
    found = command("show", show, "one image, with its links")
    found.add_argument("id")
    found = command("edit", edit, "change an image's title, description or filename")
    found.add_argument("id")
    found.add_argument("--title")
    found.add_argument("--description")
    found.add_argument("--filename")
    found = command("rm", rm, "delete an image")
    found.add_argument("id")
    found = command("download", download, "the original or a variant: its link, or -o FILE")
    found.add_argument("id")
    found.add_argument("variant", nargs="?", default="original")
    found.add_argument("-o", "--output", metavar="FILE")
    found = command("render", render, "a render: its link, or -o FILE")
    found.add_argument("id")
    found.add_argument("--w", type=int)
    found.add_argument("--h", type=int)
    found.add_argument("--fit", choices=("contain", "cover", "fill"))
    found.add_argument("--rotate", type=int, choices=(0, 90, 180, 270))
    found.add_argument("--format", choices=("auto", "jpeg", "png", "webp", "avif"))
    found.add_argument("--q", type=int)
    found.add_argument("-o", "--output", metavar="FILE")
    found = command("log", log, "the processing log, newest first")
    paged(found)
    found.add_argument("--user", help="admins: this user's uploads")
    found.add_argument("--everyone", action="store_true", help="admins: every user's uploads")

    group = commands.add_parser("collections", help="collections and their members")
    sub = group.add_subparsers(required=True, metavar="COMMAND")
    found = command("create", collections_create, "create a collection", sub)
    found.add_argument("name")
    found.add_argument("--description")
    found = command("show", collections_show, "a collection and its members", sub)
    found.add_argument("id")
    found = command("add-member", collections_add, "add a member (user id, or --name)", sub)
    found.add_argument("id")
    found.add_argument("user")
    found.add_argument("--name", action="store_true", help="USER is a user name, not an id")
    found = command("remove-member", collections_remove, "remove a member", sub)
    found.add_argument("id")
    found.add_argument("user")
    found = command("images", collections_images, "a collection's images", sub)
    found.add_argument("id")
    paged(found)

    group = commands.add_parser("links", help="share links of a collection (its owner)")
    sub = group.add_subparsers(required=True, metavar="COMMAND")
    found = command("create", links_create, "make a link (its token is shown once)", sub)
    found.add_argument("collection")
    found.add_argument("--scope", choices=("view", "upload"), default="view")
    found.add_argument("--expires", default="7d", help="how long it works: 90s, 30m, 12h, 7d")
    found.add_argument("--label")
    found.add_argument("--max-uses", type=int, help="guest requests allowed")
    found.add_argument("--max-uploads", type=int, help="upload links: uploads allowed")
    found.add_argument("--max-bytes", type=int, help="upload links: bytes allowed in all")
    found = command("list", links_list, "a collection's links, with use counts", sub)
    found.add_argument("collection")
    found = command("revoke", links_revoke, "revoke a link", sub)
    found.add_argument("collection")
    found.add_argument("link")

    group = commands.add_parser("shared", help="a share link, as its guest (no sign-in)")
    sub = group.add_subparsers(required=True, metavar="COMMAND")
    found = command("show", shared_show, "the collection and ready images a link shows", sub)
    found.add_argument("token", nargs="?", help="the token or page URL ($IMGSVC_SHARE_TOKEN)")
    found = command("upload", shared_upload, "upload files with an upload link", sub)
    found.add_argument("token", help="the token or page URL")
    found.add_argument("files", nargs="+", metavar="FILE")

    group = commands.add_parser("keys", help="API keys (admins)")
    sub = group.add_subparsers(required=True, metavar="COMMAND")
    found = command("create", keys_create, "issue a key (its secret is shown once)", sub)
    found.add_argument("name")
    command("list", keys_list, "every key", sub)
    found = command("revoke", keys_revoke, "revoke a key", sub)
    found.add_argument("id")

    group = commands.add_parser("webhooks", help="webhooks of an API key (admins)")
    sub = group.add_subparsers(required=True, metavar="COMMAND")
    found = command("add", webhooks_add, "register a URL for every event (ready, failed...)", sub)
    found.add_argument("key", help="the API key's id")
    found.add_argument("url")
    found = command("list", webhooks_list, "a key's webhooks", sub)
    found.add_argument("key")
    found = command("remove", webhooks_remove, "remove a webhook", sub)
    found.add_argument("key")
    found.add_argument("webhook")
    found = command("deliveries", webhooks_deliveries, "a webhook's delivery attempts", sub)
    found.add_argument("key")
    found.add_argument("webhook")
    return parser
