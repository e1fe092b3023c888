"""The local stack holds up under long use (issue 25): a soak of small real photos, four at a
time, over HTTP, keeps its latency and its memory flat; stopping is prompt whatever runs and
leaves nothing behind; an idle stack prints nothing.

The soak is bounded for CI (SOAK_UPLOADS, 400 by default, about four minutes on two cores);
`python -m tests.support.soak --uploads 5000` is the long one, by hand. Flatness is a ratio of
the last window of 100 uploads to the first (which already includes the warm-up of the
first requests), never an absolute time.
"""

import glob
import os
import signal
import time

import pytest
import requests

from devserver import call_log
from tests.support import corpus, localstack, soak

# alone: make test runs it after the other tests, so their load does not move its ratios.
pytestmark = [pytest.mark.e2e, pytest.mark.slow, pytest.mark.alone, pytest.mark.timeout(900)]

SOAK_UPLOADS = int(os.environ.get("SOAK_UPLOADS", 400))
# Before the fix, 400 uploads took the median from 0.90 s to 2.93 s (3.3x) and RSS from
# 515 MB to 4.7 GB (9x). After it the ratios measured 0.98 and 1.12 over 400 uploads.
# Latency also moves with whatever else the machine runs (CI shares two cores), so its bound
# is the looser; the stack's CPU time per upload hardly does, and pins the same growth. It
# did move while the soak polled every 50 ms (a slower upload made more GETs: 679 to 1259 ms
# an upload in one CI run); waiting on the log, each upload makes the same three requests,
# and 400 uploads measured 263 then 265 ms an upload.
LATENCY_FACTOR = 2.0
CPU_FACTOR = 1.5
RSS_FACTOR = 1.5
STOP_SECONDS = 5


@pytest.fixture(scope="module")
def soaked(tmp_path_factory):
    # As `make run` runs it: without the suite's recorder of AWS calls (which inspects the
    # stack of every call and appends it to a file), whose cost is the suite's, not the stack's.
    quiet = {call_log.ENVIRONMENT_VARIABLE: ""}
    running = localstack.start(tmp_path_factory.mktemp("soak"), extra_env=quiet)
    try:
        windows = soak.run(running, uploads=SOAK_UPLOADS)
    except BaseException:
        running.stop()
        raise
    yield running, windows
    running.stop()


def test_every_upload_of_a_long_soak_becomes_ready(soaked):
    _, windows = soaked
    assert sum(w.statuses.get("ready", 0) for w in windows) == SOAK_UPLOADS, windows


def test_latency_to_ready_stays_flat_over_a_long_soak(soaked):
    _, windows = soaked
    first, last = windows[0], windows[-1]
    assert last.median_seconds <= LATENCY_FACTOR * first.median_seconds, windows


def test_the_stacks_cpu_time_per_upload_stays_flat_over_a_long_soak(soaked):
    _, windows = soaked
    first, last = windows[0], windows[-1]
    assert last.cpu_ms_per_upload <= CPU_FACTOR * first.cpu_ms_per_upload, windows


def test_memory_stays_flat_over_a_long_soak(soaked):
    _, windows = soaked
    first, last = windows[0], windows[-1]
    assert last.rss_mb <= RSS_FACTOR * first.rss_mb, windows


def test_a_long_soak_logs_no_error(soaked):
    running, _ = soaked
    errors = [line for line in running.output if "Traceback" in line or " ERROR " in line]
    assert errors == []


def _stop_timed(running: localstack.LocalStack) -> float:
    started = time.monotonic()
    running.process.send_signal(signal.SIGTERM)
    running.process.wait(timeout=60)
    return time.monotonic() - started


def _assert_nothing_left(running: localstack.LocalStack, processes: set[int]) -> None:
    for leftover in {running.process.pid, *processes}:
        with pytest.raises(ProcessLookupError):
            os.kill(leftover, 0)
    with pytest.raises(requests.ConnectionError):
        requests.get(running.api + "/health", timeout=2)
    assert glob.glob(f"/tmp/image-service-objects-{running.process.pid}-*") == []


def test_stopping_after_a_long_soak_is_prompt_and_leaves_nothing(soaked):
    running, _ = soaked
    processes = localstack.descendants(running.process.pid)
    took = _stop_timed(running)
    assert running.process.returncode == 0, "".join(running.output[-40:])
    assert took <= STOP_SECONDS
    _assert_nothing_left(running, processes)


def test_stopping_while_big_photos_are_processed_is_prompt_and_leaves_nothing(tmp_path):
    running = localstack.start(tmp_path, args=("--cleanup-interval", "0.2"))
    try:
        data = (corpus.photos() / "photo-20mp-kleiber.jpg").read_bytes()
        images = [
            localstack.upload(running, "demo", data, filename=f"big-{n}.jpg") for n in range(4)
        ]
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            statuses = {
                running.call("GET", f"/images/{image['id']}", "demo").json()["status"]
                for image in images
            }
            if "processing" in statuses:
                break
            time.sleep(0.05)
        assert "processing" in statuses
        processes = localstack.descendants(running.process.pid)
        took = _stop_timed(running)
    finally:
        running.stop()
    assert running.process.returncode == 0, "".join(running.output[-40:])
    assert took <= STOP_SECONDS
    _assert_nothing_left(running, processes)


def _lines_after(running: localstack.LocalStack, seconds: float) -> list[str]:
    before = len(running.output)
    time.sleep(seconds)
    return running.output[before:]


def test_an_idle_stack_prints_nothing_while_its_cleanup_runs(tmp_path):
    running = localstack.start(tmp_path, args=("--cleanup-interval", "0.2"))
    try:
        assert running.call("GET", "/me", "demo").status_code == 200
        printed = _lines_after(running, 3)
    finally:
        running.stop()
    assert printed == []


def test_verbose_prints_moto_requests_and_idle_cleanup_runs(tmp_path):
    running = localstack.start(tmp_path, args=("--cleanup-interval", "0.2", "--verbose"))
    try:
        printed = "".join(_lines_after(running, 3))
    finally:
        running.stop()
    assert '"event": "cleanup_run"' in printed
    assert '"POST / HTTP/1.1" 200' in printed
