"""The scheduled sweep that keeps the bucket and the table honest."""

from chalicelib.logs import log_event


def run() -> dict[str, int]:
    counts: dict[str, int] = {}
    log_event("cleanup_run", **counts)
    return counts
