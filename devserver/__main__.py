"""The local stack, in the foreground: `python -m devserver` (see --help).

python -m devserver [--port 8000]     moto server + provisioning + API + events + timer
python -m devserver token demo        print an ID token for a local user
python -m devserver user add NAME [--admin]   add a user to the running stack's pool
"""

import argparse
import json
import os
import re
import signal
import sys
import threading
import time
from typing import NoReturn

from devserver import console, stack, tokens, users


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m devserver",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    commands = parser.add_subparsers(dest="command")
    run = commands.add_parser("run", help="start the local stack (the default)")
    _run_arguments(run)
    _run_arguments(parser)
    token = commands.add_parser("token", help="print an ID token for a local user")
    token.add_argument("user", help="user name, e.g. demo or admin")
    token.add_argument("--password", default=None)
    token.add_argument("--access", action="store_true", help="print the access token instead")
    token.add_argument("--state-file", default=stack.DEFAULT_STATE_FILE)
    user = commands.add_parser("user", help="manage the local users").add_subparsers(
        dest="action", required=True
    )
    add = user.add_parser("add", help="add a user to the running stack's pool")
    add.add_argument("name")
    add.add_argument("--admin", action="store_true", help="make it a member of admins")
    add.add_argument("--password", default=None, help="default: a new random one")
    add.add_argument("--state-file", default=stack.DEFAULT_STATE_FILE)
    args = parser.parse_args(argv)
    if args.command == "token":
        print(tokens.token_for(args.user, args.password, args.state_file, access=args.access))
        return 0
    if args.command == "user":
        password = users.add(
            args.name, admin=args.admin, password=args.password, state_file=args.state_file
        )
        group = " (admins)" if args.admin else ""
        print(f"added {args.name}{group}, password {password}")
        print(f"a token: .venv/bin/python -m devserver token {args.name}")
        return 0
    return _run(args)


def _run_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=int(os.environ.get("PORT", 8000)))
    parser.add_argument("--moto-port", type=int, default=0, help="0 picks a free port")
    parser.add_argument(
        "--cleanup-interval",
        type=float,
        default=float(os.environ.get("CLEANUP_INTERVAL_SECONDS", 10)),
        help="seconds between runs of the scheduled cleanup",
    )
    parser.add_argument(
        "--drop-events",
        default=os.environ.get("DROP_EVENTS", ""),
        help="regex of upload keys whose S3 event is dropped (to test cleanup)",
    )
    parser.add_argument(
        "--cdn",
        action="store_true",
        default=bool(os.environ.get("DEVSERVER_CDN")),
        help="play the CDN stage option: links are CloudFront signed URLs, served by a local CDN",
    )
    parser.add_argument("--state-file", default=stack.DEFAULT_STATE_FILE)
    parser.add_argument("--log-level", default=os.environ.get("LOG_LEVEL", "INFO"))
    parser.add_argument(
        "--verbose",
        action="store_true",
        default=bool(os.environ.get("DEVSERVER_VERBOSE")),
        help="also print moto's request log and cleanup runs that changed nothing",
    )


def _run(args: argparse.Namespace) -> int:
    console.configure(args.log_level, verbose=args.verbose)
    drop = re.compile(args.drop_events) if args.drop_events else None
    running = stack.start(
        host=args.host,
        port=args.port,
        moto_port=args.moto_port,
        cleanup_interval=args.cleanup_interval,
        drop_events=drop,
        state_file=args.state_file,
        with_cdn=args.cdn,
    )
    stopped = threading.Event()

    def _stop(signum: int, _frame: object) -> None:
        stopped.set()

    signal.signal(signal.SIGINT, _stop)
    signal.signal(signal.SIGTERM, _stop)
    print(_banner(running), flush=True)
    print(
        json.dumps({"ready": True, "api": running.api_url, "aws": running.aws_endpoint}), flush=True
    )
    stopped.wait()
    print("stopping…", file=sys.stderr, flush=True)
    threading.Thread(target=_cut_short, args=(running,), name="stop-deadline", daemon=True).start()
    running.stop()
    _exit()


# Ctrl-C is answered within this, whatever runs: after a day of uploads, waiting for the
# interpreter to tear down its heap, or for threads still finishing work that stopping cut
# off, took longer than stopping itself.
STOP_DEADLINE_SECONDS = 4.5


def _cut_short(running: "stack.Running") -> NoReturn:
    time.sleep(STOP_DEADLINE_SECONDS)
    busy = sorted(t.name for t in threading.enumerate() if t is not threading.current_thread())
    print(f"stopped after {STOP_DEADLINE_SECONDS} s; still running: {busy}", file=sys.stderr)
    running.remove_leftovers()
    _exit()


def _exit() -> NoReturn:
    """Leave now: everything the stack started is stopped (or given up on), so nothing is
    left to run at exit but the teardown of objects that die with the process anyway."""
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(0)


def _banner(running: "stack.Running") -> str:
    users = "\n".join(
        f"    {name:<6} password {stack.provision.DEMO_PASSWORD}{'  (admins)' if admin else ''}"
        for name, admin in stack.provision.DEMO_USERS.items()
    )
    cdn = (
        f"  CDN          {running.cdn}  (plays CloudFront: signed URLs only)\n"
        if running.cdn
        else ""
    )
    return f"""
Image Service is running locally.
  API          {running.api_url}
  web page     {running.api_url}/
  local AWS    {running.aws_endpoint}  (moto server: S3, DynamoDB, Cognito, SQS)
{cdn}  users
{users}
  a token      .venv/bin/python -m devserver token demo
  try          curl -H "Authorization: $(.venv/bin/python -m devserver token demo)" {running.api_url}/me
Ctrl-C stops everything.
"""


if __name__ == "__main__":
    sys.exit(main())
