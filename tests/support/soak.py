"""The soak: many small real-image uploads, a few at a time, against a local stack over HTTP.

Each upload is timed from `POST /images` until the stack logs its outcome (`upload_ready` or
`upload_failed`, the app's own log line), then read once with `GET /images/{id}`. Waiting on
the log rather than polling keeps the requests per upload fixed (POST, the presigned POST, one
GET): polled every 50 ms, an upload made about twenty GETs, as many more as it was slower, and
the stack's CPU time per upload followed the machine's load instead of the stack. The uploads
are grouped in windows of `window` (by the order they were started), and at the end of each
window the stack's resident memory is read from /proc. Flat means the last window's median
latency and RSS are within a small factor of the first's.

The test (tests/e2e/test_soak.py) runs a bounded soak; a longer one is run by hand:

    .venv/bin/python -m tests.support.soak --uploads 5000
"""

import argparse
import io
import itertools
import json
import os
import statistics
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from PIL import Image

from tests.support import corpus, localstack

SOURCES = ("camera-kite.jpg", "camera-storm.jpg", "camera-fallenleaf.jpg", "photo-8mp-picos.jpg")


@dataclass(frozen=True)
class Window:
    uploads: int  # uploads started up to the end of this window
    median_seconds: float
    slowest_seconds: float
    rss_mb: float
    cpu_ms_per_upload: float  # the stack's CPU time in this window, per upload
    statuses: dict[str, int]


def small_photos(count: int = 64, size: tuple[int, int] = (320, 240)) -> list[bytes]:
    """Distinct small JPEGs cut from real photos (tiles at different places), so every upload
    is a real photograph with its own bytes, at a size that keeps a thousand of them quick."""
    photos = corpus.photos()
    pictures = {}
    for name in SOURCES:
        with Image.open(photos / name) as photo:
            photo.draft("RGB", (photo.width // 4, photo.height // 4))
            pictures[name] = photo.convert("RGB")
    tiles: list[bytes] = []
    sources = itertools.cycle(SOURCES)
    while len(tiles) < count:
        picture = pictures[next(sources)]
        n = len(tiles)
        left = (n * 97) % max(1, picture.width - size[0])
        top = (n * 61) % max(1, picture.height - size[1])
        buffer = io.BytesIO()
        picture.crop((left, top, left + size[0], top + size[1])).save(buffer, "JPEG", quality=85)
        tiles.append(buffer.getvalue())
    return tiles


def rss_mb(pid: int) -> float:
    """Resident memory of a process, from /proc (Linux)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise LookupError(f"no VmRSS for {pid}")


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process so far (all its threads), from /proc (Linux).
    Unlike latency it hardly depends on what else the machine runs."""
    fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


class Outcomes:
    """Listens to the stack's log for the line that ends each upload's processing."""

    _ENDS = ("upload_ready", "upload_failed")

    def __init__(self, stack: localstack.LocalStack):
        self._lock = threading.Lock()
        self._done: dict[str, threading.Event] = {}
        stack.listeners.append(self._hear)

    def _event(self, image_id: str) -> threading.Event:
        with self._lock:
            return self._done.setdefault(image_id, threading.Event())

    def _hear(self, line: str) -> None:
        if not any(end in line for end in self._ENDS):
            return
        try:  # the app's line is a JSON object after the logger's prefix
            fields = json.loads(line[line.index("{") :])
        except ValueError:
            return
        if isinstance(fields, dict) and fields.get("event") in self._ENDS:
            self._event(str(fields.get("imageId"))).set()

    def wait(self, image_id: str, timeout: float) -> bool:
        return self._event(image_id).wait(timeout)


def _one(
    stack: localstack.LocalStack, outcomes: Outcomes, user: str, data: bytes, n: int
) -> tuple[float, str]:
    started = time.monotonic()
    image = localstack.upload(stack, user, data, filename=f"soak-{n}.jpg")
    outcomes.wait(image["id"], timeout=120)
    took = time.monotonic() - started
    status = stack.call("GET", f"/images/{image['id']}", user).json().get("status")
    return took, str(status)


def run(
    stack: localstack.LocalStack,
    *,
    uploads: int = 1000,
    concurrency: int = 4,
    window: int = 100,
    user: str = "demo",
    report: bool = False,
) -> list[Window]:
    """Upload `uploads` small photos, `concurrency` at a time; one Window per `window` uploads.
    Each of the first thousand is a different picture: a library of copies of a few dozen
    would measure the duplicate lookup filling up to its bound (chalicelib.duplicates reads
    at most PER_BAND items a band, tested in tests/app) rather than the stack's flatness."""
    photos = small_photos(min(uploads, 1000))
    outcomes = Outcomes(stack)
    results: list[tuple[float, str] | None] = [None] * uploads
    windows: list[Window] = []
    done = [0] * (uploads // window + 1)
    lock = threading.Lock()
    cpu = [cpu_seconds(stack.process.pid)]

    def task(n: int) -> None:
        results[n] = _one(stack, outcomes, user, photos[n % len(photos)], n)
        with lock:
            w = n // window
            done[w] += 1
            if done[w] == window:
                _close_window(w)

    def _close_window(w: int) -> None:
        part = [r for r in results[w * window : (w + 1) * window] if r is not None]
        latencies = [seconds for seconds, _ in part]
        statuses: dict[str, int] = {}
        for _, status in part:
            statuses[status] = statuses.get(status, 0) + 1
        # Windows overlap by the uploads in flight; CPU is charged to the window that closes.
        cpu.append(cpu_seconds(stack.process.pid))
        windows.append(
            Window(
                (w + 1) * window,
                statistics.median(latencies),
                max(latencies),
                rss_mb(stack.process.pid),
                (cpu[-1] - cpu[-2]) * 1000 / window,
                statuses,
            )
        )
        if report:
            last = windows[-1]
            print(
                f"{last.uploads:>6} uploads  median {last.median_seconds:6.3f} s  "
                f"slowest {last.slowest_seconds:6.2f} s  RSS {last.rss_mb:7.1f} MB  "
                f"CPU {last.cpu_ms_per_upload:5.0f} ms/upload  "
                f"{last.statuses}",
                flush=True,
            )

    with ThreadPoolExecutor(concurrency) as pool:
        for future in [pool.submit(task, n) for n in range(uploads)]:
            future.result()
    return sorted(windows, key=lambda w: w.uploads)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.support.soak", description=__doc__)
    parser.add_argument("--uploads", type=int, default=5000)
    parser.add_argument("--concurrency", type=int, default=4)
    parser.add_argument("--window", type=int, default=100)
    parser.add_argument("args", nargs="*", help="arguments for python -m devserver")
    options = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        stack = localstack.start(Path(tmp), args=tuple(options.args))
        print(f"started; RSS {rss_mb(stack.process.pid):.1f} MB", flush=True)
        began = time.monotonic()
        try:
            windows = run(
                stack,
                uploads=options.uploads,
                concurrency=options.concurrency,
                window=options.window,
                report=True,
            )
        finally:
            stopping = time.monotonic()
            code = stack.stop()
            stopped = time.monotonic() - stopping
        print(f"{options.uploads} uploads in {stopping - began:.0f} s")
        first, last = windows[0], windows[-1]
        print(
            f"median last/first {last.median_seconds / first.median_seconds:.2f}  "
            f"RSS last/first {last.rss_mb / first.rss_mb:.2f}  "
            f"CPU/upload last/first {last.cpu_ms_per_upload / first.cpu_ms_per_upload:.2f}  "
            f"stop took {stopped:.2f} s (exit code {code})"
        )
        errors = [line for line in stack.output if "Traceback" in line or " ERROR " in line]
        print(f"log: {len(stack.output)} lines, {len(errors)} tracebacks or errors")
    return 0


if __name__ == "__main__":
    sys.exit(main())
