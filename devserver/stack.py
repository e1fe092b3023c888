"""Starts and stops the local stack: moto server, resources, the app behind the gateway,
the S3 event pump and the cleanup timer. Everything runs in this one process, on
127.0.0.1, so stopping it leaves nothing behind."""

import importlib
import json
import os
import re
import shutil
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import boto3
from chalice.local import LambdaContext
from moto.server import ThreadedMotoServer

from devserver import cdn, gateway, local_state, moto_fixes, provision
from devserver import template as cfn
from devserver.events import BusLog, EventPump, QueuePump, Retries, Timer, sqs_event

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_STATE_FILE = str(local_state.DEFAULT_FILE)
REGION = "us-east-1"


# How long stopping waits for work in flight (an upload being processed, a cleanup run)
# before the moto server goes: what is cut off then is what a Lambda timeout would cut off,
# and its S3 event is still in the queue. Stopping stays within a few seconds whatever runs.
STOP_GRACE_SECONDS = 2.5


@dataclass
class Running:
    api_url: str
    aws_endpoint: str
    outputs: provision.Outputs
    app_module: Any
    pump: EventPump
    _workers: list[Callable[[], None]] = field(default_factory=list)
    _moto_stop: Callable[[], None] = lambda: None
    _leftovers: list[Callable[[], None]] = field(default_factory=list)
    cdn: str = ""  # the local CDN's URL when it plays the CDN stage option

    def stop(self) -> None:
        """Stop the gateway, the event pump and the timer together, waiting at most
        STOP_GRACE_SECONDS for them (their threads are daemons: what still runs ends with the
        process), then the moto server, then remove what the stack left on disk."""
        threads = [threading.Thread(target=stop, daemon=True) for stop in self._workers]
        for thread in threads:
            thread.start()
        deadline = time.monotonic() + STOP_GRACE_SECONDS
        for thread in threads:
            thread.join(max(0.0, deadline - time.monotonic()))
        self._moto_stop()
        self.remove_leftovers()

    def remove_leftovers(self) -> None:
        """The state file and the objects' folder (also when stopping had to be cut short)."""
        for remove in self._leftovers:
            remove()


def _context(name: str, memory: int = 1024, timeout_s: int = 60) -> Any:
    return lambda: LambdaContext(
        function_name=name, memory_size=memory, max_runtime_ms=timeout_s * 1000
    )


def _stage_environment(stage: str = "dev") -> dict[str, str]:
    """The app's environment as `chalice deploy --stage dev` would set it (names of cloud
    resources are then replaced by the local ones)."""
    config = json.loads((ROOT / ".chalice" / "config.json").read_text())
    merged = {
        **config.get("environment_variables", {}),
        **config["stages"][stage].get("environment_variables", {}),
    }
    return {k: str(v) for k, v in merged.items()}


def start(
    *,
    host: str = "127.0.0.1",
    port: int = 8000,
    moto_port: int = 0,
    cleanup_interval: float = 10.0,
    drop_events: re.Pattern[str] | None = None,
    state_file: str = DEFAULT_STATE_FILE,
    extra_env: dict[str, str] | None = None,
    with_cdn: bool = False,
) -> Running:
    objects = Path(tempfile.mkdtemp(prefix=f"image-service-objects-{os.getpid()}-"))
    moto_fixes.apply(objects)
    moto = ThreadedMotoServer(ip_address=host, port=moto_port, verbose=False)
    moto.start()
    moto_host, moto_bound = moto.get_host_and_port()
    endpoint = f"http://{moto_host}:{moto_bound}"
    os.environ.update(
        {
            "AWS_ENDPOINT_URL": endpoint,
            "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing",
            "AWS_DEFAULT_REGION": REGION,
            "AWS_REGION": REGION,
        }
    )
    outputs = provision.provision(endpoint, REGION)
    os.environ.update(_stage_environment())
    os.environ.update({**outputs.environment(), "CLEANUP_RATE_MINUTES": "1"})
    # Webhook receivers of a developer (and of the tests) listen on this machine over plain
    # http; no deployed stage allows that. Retries come after seconds, not minutes.
    os.environ.setdefault("WEBHOOK_HTTP_LOOPBACK", "allow")
    os.environ.setdefault("WEBHOOK_RETRY_SECONDS", "1")
    edge = None
    if with_cdn:
        edge = cdn.listen(host)
        cdn_url = f"http://{host}:{edge.server_address[1]}"
        made = cdn.provision(endpoint, REGION, "local", outputs.bucket)
        os.environ.update(
            {
                "CDN_URL": cdn_url,
                "CDN_DISTRIBUTION_ID": made.distribution_id,
                "CDN_KEYS_PARAMETER": made.keys_parameter,
            }
        )
    # Locally an upload's event arrives within a second and a photo processes in about
    # one, so a record still waiting after half a minute needs the cleanup; in the cloud
    # the default (five minutes) leaves room for Lambda's own retries first.
    os.environ.setdefault("CLEANUP_STUCK_SECONDS", "30")
    os.environ.update(extra_env or {})

    sys_path = str(ROOT)
    import sys

    if sys_path not in sys.path:
        sys.path.insert(0, sys_path)
    from devserver import call_log

    call_log.install_from_environment()
    app_module = importlib.import_module("app")
    app = app_module.app

    verifier = gateway.TokenVerifier(endpoint, REGION, outputs.user_pool_id, outputs.app_client_id)
    server = gateway.serve(app, verifier, host, port)
    api_url = f"http://{host}:{server.server_address[1]}"
    workers: list[Callable[[], None]] = []
    if edge is not None:
        s3 = boto3.client("s3", endpoint_url=endpoint, region_name=REGION)
        checker = cdn.Edge(
            os.environ["CDN_URL"], os.environ["CDN_DISTRIBUTION_ID"], endpoint, REGION
        )
        cdn.serve(edge, checker, s3, outputs.bucket)
        workers.append(_stopper(edge))

    sqs = boto3.client("sqs", endpoint_url=endpoint, region_name=REGION)
    drop = (
        (lambda record: bool(drop_events.search(record["s3"]["object"]["key"])))
        if drop_events
        else None
    )
    pump = EventPump(
        sqs,
        outputs.queue_url,
        _handler(app_module, "s3"),
        _context("process", 2048, 300),
        _retries(outputs),
        drop=drop,
    ).start()
    events_arn = sqs.get_queue_attributes(
        QueueUrl=outputs.events_queue_url, AttributeNames=["QueueArn"]
    )["Attributes"]["QueueArn"]
    deliver = _handler(app_module, "sqs")
    deliveries = QueuePump(
        sqs,
        outputs.events_queue_url,
        lambda message: deliver(sqs_event(message, events_arn), _context("deliver_events")()),
        "deliver-events",
    ).start()
    bus_log = BusLog(Path(state_file).parent / "bus-events.jsonl")
    bus_log.path.unlink(missing_ok=True)
    consumer = QueuePump(sqs, outputs.bus_consumer_url, bus_log, "bus-consumer").start()
    timer = Timer(
        _handler(app_module, "schedule"), cleanup_interval, _context("cleanup", 512, 300)
    ).start()

    state = {
        "api": api_url,
        "aws": endpoint,
        "region": REGION,
        "userPoolId": outputs.user_pool_id,
        "appClientId": outputs.app_client_id,
        "bucket": outputs.bucket,
        "table": outputs.table,
        "eventQueueUrl": outputs.queue_url,
        "failureQueueUrl": outputs.failure_queue_url,
        "users": {name: provision.DEMO_PASSWORD for name in provision.DEMO_USERS},
        "busLog": str(bus_log.path),
        "cdn": os.environ.get("CDN_URL", "") if with_cdn else "",
        "cdnDistributionId": os.environ.get("CDN_DISTRIBUTION_ID", "") if with_cdn else "",
        "cdnKeysParameter": os.environ.get("CDN_KEYS_PARAMETER", "") if with_cdn else "",
    }
    state_path = Path(state_file)
    state_path.parent.mkdir(parents=True, exist_ok=True)
    state_path.write_text(json.dumps(state, indent=2))

    stop_server = _stopper(server)

    def forget_state() -> None:
        state_path.unlink(missing_ok=True)

    return Running(
        api_url,
        endpoint,
        outputs,
        app_module,
        pump,
        [stop_server, *workers, pump.stop, deliveries.stop, consumer.stop, timer.stop],
        moto.stop,
        [forget_state, lambda: shutil.rmtree(objects, ignore_errors=True)],
        cdn=state["cdn"],
    )


def _stopper(server: Any) -> Callable[[], None]:
    def stop() -> None:
        server.shutdown()
        server.server_close()

    return stop


def _retries(outputs: provision.Outputs) -> Retries:
    """The template's retry policy for S3 events; the delay between tries is shorter here
    (EVENT_RETRY_SECONDS, 30 s) than Lambda's (about one minute, then two)."""
    parameters = cfn.parameter_defaults(cfn.load())
    return Retries(
        attempts=int(parameters["UploadRetryAttempts"]),
        max_age_seconds=int(parameters["UploadEventMaxAgeSeconds"]),
        delay_seconds=int(os.environ.get("EVENT_RETRY_SECONDS", "30")),
        failure_queue_url=outputs.failure_queue_url,
        function_arn=f"arn:aws:lambda:{REGION}:000000000000:function:image-service-local-handle_upload",
    )


def _handler(app_module: Any, kind: str) -> Any:
    """The app's handler for S3 events, SQS messages or the schedule, from its event sources."""
    from chalice.app import S3EventConfig, ScheduledEventConfig, SQSEventConfig

    wanted = {"s3": S3EventConfig, "sqs": SQSEventConfig, "schedule": ScheduledEventConfig}[kind]
    for source in app_module.app.event_sources:
        if isinstance(source, wanted):
            return getattr(app_module, source.handler_string.rsplit(".", 1)[1])
    raise LookupError(f"the app has no {kind} handler")
