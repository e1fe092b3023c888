"""One warm Lambda execution environment, as Lambda's python3.12 runtime runs a handler.

    python3.12 -I -S lambda_bootstrap.py TASK_ROOT RUNTIME_LIBS HANDLER

Standard library only, run isolated and without site-packages, so the handler's module is
found in TASK_ROOT (the unzipped deployment package) and boto3 in RUNTIME_LIBS, and nowhere
else. It imports the handler once (the cold start), then reads one JSON line per invocation
on stdin, `{"event": ..., "request_id": ...}`, and writes one JSON line per answer on stdout:
`{"answer": ..., "error": ..., "peak_rss_kb": ...}`. The first line it writes reports the
import. A line `{"stats": true}` asks where every loaded module came from.
"""

import importlib
import json
import os
import resource
import sys
import time
import traceback


class Context:
    """The parts of Lambda's context object handlers read."""

    def __init__(self, request_id: str, deadline: float):
        self.function_name = os.environ["AWS_LAMBDA_FUNCTION_NAME"]
        self.function_version = "$LATEST"
        self.memory_limit_in_mb = os.environ["AWS_LAMBDA_FUNCTION_MEMORY_SIZE"]
        self.invoked_function_arn = (
            f"arn:aws:lambda:{os.environ['AWS_REGION']}:123456789012:function:{self.function_name}"
        )
        self.aws_request_id = request_id
        self.log_group_name = f"/aws/lambda/{self.function_name}"
        self.log_stream_name = "rehearsal"
        self._deadline = deadline

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self._deadline - time.monotonic()) * 1000))


def peak_rss_kb() -> int:
    """This process's peak resident memory. VmHWM, not getrusage's ru_maxrss: Linux keeps
    ru_maxrss across exec, so it would report the parent's peak, not this process's."""
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


def reply(message: dict) -> None:
    sys.stdout.write(json.dumps(message, default=str) + "\n")
    sys.stdout.flush()


def origins(roots: list[str]) -> dict[str, int]:
    """How many loaded modules came from each root (the stdlib, the package, boto3)."""
    counted: dict[str, int] = {}
    for module in list(sys.modules.values()):
        path = getattr(module, "__file__", None)
        if not path:
            continue
        root = next((r for r in roots if os.path.abspath(path).startswith(r + os.sep)), path)
        counted[root] = counted.get(root, 0) + 1
    return counted


def main() -> None:
    task_root, runtime_libs, handler = sys.argv[1:4]
    sys.path[:0] = [task_root, runtime_libs]
    os.chdir(task_root)  # Lambda's working directory is the task root
    # Answers go to the real stdout; the handler's own prints and logs go to stderr, as
    # Lambda sends them to CloudWatch rather than to the caller.
    answers = sys.stdout
    sys.stdout = sys.stderr
    module_name, function_name = handler.rsplit(".", 1)
    started = time.perf_counter()
    function = getattr(importlib.import_module(module_name), function_name)
    imported = time.perf_counter() - started
    sys.stdout = answers
    reply({"import_seconds": imported, "peak_rss_kb": peak_rss_kb(), "sys_path": sys.path})
    timeout = float(os.environ["LAMBDA_TIMEOUT_SECONDS"])
    for line in sys.stdin:
        request = json.loads(line)
        if request.get("stats"):
            stdlib = os.path.dirname(os.__file__)
            reply({"origins": origins([task_root, runtime_libs, stdlib]), "stdlib": stdlib})
            continue
        context = Context(request["request_id"], time.monotonic() + timeout)
        sys.stdout = sys.stderr
        started = time.perf_counter()
        try:
            answer, error = function(request["event"], context), None
        except Exception:
            answer, error = None, traceback.format_exc()
        seconds = time.perf_counter() - started
        sys.stdout = answers
        reply({"answer": answer, "error": error, "seconds": seconds, "peak_rss_kb": peak_rss_kb()})


if __name__ == "__main__":
    main()
