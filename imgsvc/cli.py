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
    client.call("DELETE", f"/images/{args.id}")
    out.show({"deleted": args.id}, f"deleted {args.id}")
    return OK


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
    lines += [f"  member {member['userId']}" for member in found["members"]]
    return lines


def collections_show(client: Client, args: argparse.Namespace, out: Output) -> int:
    found = client.call("GET", f"/collections/{args.id}")
    out.show(found, _collection_lines(found))
    return OK


def collections_add(client: Client, args: argparse.Namespace, out: Output) -> int:
    found = client.call("POST", f"/collections/{args.id}/members", json={"userId": args.user})
    out.show(found, _collection_lines(found))
    return OK


def collections_remove(client: Client, args: argparse.Namespace, out: Output) -> int:
    client.call("DELETE", f"/collections/{args.id}/members/{args.user}")
    out.show({"removed": args.user, "collection": args.id}, f"removed {args.user}")
    return OK


def collections_images(client: Client, args: argparse.Namespace, out: Output) -> int:
    images = _pages(
        client, f"/collections/{args.id}/images", _page_params(args), "images", args.all
    )
    out.show(images, [_line(image) for image in images] or ["no images"])
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
    client.call("DELETE", f"/admin/api-keys/{args.id}")
    out.show({"revoked": args.id}, f"revoked {args.id}")
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
    found = command("add-member", collections_add, "add a member (their user id)", sub)
    found.add_argument("id")
    found.add_argument("user")
    found = command("remove-member", collections_remove, "remove a member", sub)
    found.add_argument("id")
    found.add_argument("user")
    found = command("images", collections_images, "a collection's images", sub)
    found.add_argument("id")
    paged(found)

    group = commands.add_parser("keys", help="API keys (admins)")
    sub = group.add_subparsers(required=True, metavar="COMMAND")
    found = command("create", keys_create, "issue a key (its secret is shown once)", sub)
    found.add_argument("name")
    command("list", keys_list, "every key", sub)
    found = command("revoke", keys_revoke, "revoke a key", sub)
    found.add_argument("id")
    return parser
