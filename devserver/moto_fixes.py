"""Where moto parts from the cloud under a day of use, and what the local stack does about it.
Applied to the moto server in the devserver's own process (`apply`), never to the app, which
still talks plain DynamoDB and S3 over HTTP.

Measured (issue 25, py-spy on a soak of small uploads): moto's TransactWriteItems
deep-copies every table it touches before writing, so each transaction costs the size of the
whole table. Latency grew with every upload (median 0.9 s to `ready` for the first 100
uploads, 2.6 s by the third hundred) and so did memory (121 MB to 2.7 GB after 300 uploads:
the copies are garbage the collector reaches late). And moto serves requests on many threads
with no lock around its tables, so a copy taken while another request adds an item fails
with `RuntimeError: dictionary changed size during iteration` (a 500 botocore retries), and
a transaction that fails puts back its copy over whatever other requests wrote meanwhile.

DynamoDB itself applies each request atomically and transactions in isolation. The local
stack does the same: one lock around every DynamoDB request (moto answers each in well under
a millisecond for this service's sizes, so serialising costs nothing noticeable), and a
transaction that keeps the items it is about to change, one by one, and puts back only those
if it is cancelled.

With that fixed, memory still grew by what the bucket held (about 180 kB an upload of a
small photo, megabytes for a real one): moto keeps every object under 5 MB in memory, and
each larger one in an open temporary file (one descriptor per object, which a day of uploads
would exhaust). `keep_objects_in` stores every object's bytes in one file of a folder
(`ObjectStore`), so the stack's memory does not grow with what the bucket holds.

And it still grew by about 70 kB an upload (issue 25's 5,000-upload run: 249 to 568 MB),
though the table held two small items an upload: moto's `BaseModel` appends every instance
it ever makes to its class's `instances_tracked` list, for its dashboard and `reset()`, so
every version of every DynamoDB item ever written (each write makes a new `Item`: ten an
upload), every SQS message ever sent and every S3 key ever replaced stays reachable for the
life of the server. `forget_model_instances` stops that: nothing in the devserver uses the
dashboard or moto's reset, and the objects the bucket still holds are reached from it.

And every Query cost the size of the table (issue 25 again, after image knowledge and events
added their queries; py-spy on a soak of 250 small uploads): moto answers a query by listing
every item of the table, sorted, then keeping those of the partition asked for, so each
upload's five index queries (its likeness bands, its owner's webhooks) sorted the whole
table five times, and every other request waited for them behind the lock. CPU per upload
grew 1.8x in 250 uploads. DynamoDB reads one partition. `query_one_partition` hands moto's
query only the partition's items for a query of the table, and the table's items unsorted
for a query of an index (moto sorts what it keeps by the index's keys anyway).
"""

import copy
import ctypes
import functools
import os
import threading
import types
from collections.abc import Callable
from pathlib import Path
from typing import Any

import moto.s3.models
from moto.core.common_models import BaseModel
from moto.dynamodb.comparisons import get_filter_expression
from moto.dynamodb.exceptions import (
    ConditionalCheckFailed,
    MockValidationException,
    MultipleTransactionsException,
    TooManyTransactionsException,
    TransactionCanceledException,
    TransactWriteSingleOpException,
)
from moto.dynamodb.models import DynamoDBBackend
from moto.dynamodb.models.dynamo_type import DynamoType, Item
from moto.dynamodb.models.table import Table
from moto.dynamodb.responses import DynamoHandler

MAX_TRANSACTION_ITEMS = 100  # DynamoDB's limit
_OPERATIONS = ("ConditionCheck", "Put", "Delete", "Update")
_lock = threading.RLock()

# What a transaction remembers of one item it changes: where it is and what it was.
_Before = tuple[Table, DynamoType, DynamoType | None, Item | None]
_Outcome = tuple[str | None, str | None, dict[str, Any] | None]


def apply(objects: Path | None = None) -> Callable[[], None]:
    """Patch moto in this process: DynamoDB always, S3 objects kept in the folder `objects`
    if one is given. Returns the undo (for tests)."""
    originals = (DynamoHandler.call_action, DynamoDBBackend.transact_write_items, Table.query)
    DynamoHandler.call_action = _one_at_a_time(originals[0])
    DynamoDBBackend.transact_write_items = transact_write_items
    Table.query = query_one_partition(originals[2])  # type: ignore[method-assign]
    undo_objects = keep_objects_in(objects) if objects is not None else lambda: None
    undo_tracking = forget_model_instances()

    def undo() -> None:
        DynamoHandler.call_action, DynamoDBBackend.transact_write_items, Table.query = originals
        undo_objects()
        undo_tracking()

    return undo


class ObjectStore:
    """The bytes of every S3 object, in one file of the folder: each object is a run of bytes
    appended to it, and the run of an object deleted or replaced becomes a hole (Linux
    punches it, giving the space back). One file, because removing tens of thousands at stop
    took 5 ms each on a disk that discards freed blocks (about 25 s after 5,000 uploads),
    while one large file goes in milliseconds."""

    def __init__(self, folder: Path):
        self.path = folder / "objects"
        self._fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        self._end = 0
        self._lock = threading.Lock()

    def append(self, data: bytes) -> int:
        with self._lock:
            start = self._end
            self._end += len(data)
        os.pwrite(self._fd, data, start)
        return start

    def read(self, start: int, size: int) -> bytes:
        return os.pread(self._fd, size, start) if size > 0 else b""

    def release(self, start: int, size: int) -> None:
        if size > 0:
            _punch_hole(self._fd, start, size)

    def close(self) -> None:
        os.close(self._fd)


def _punch_hole(fd: int, start: int, size: int) -> None:
    """fallocate(PUNCH_HOLE | KEEP_SIZE): the file keeps its length, the run reads as zeros
    and its blocks are freed. Where the call is missing, the bytes stay until the stop."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.fallocate(fd, 0x02 | 0x01, ctypes.c_int64(start), ctypes.c_int64(size))
    except (OSError, AttributeError):
        pass


class ObjectFile:
    """One S3 object's bytes in the store: the part of a file object moto's S3 key uses
    (seek, tell, read, write, truncate, close). moto sets a key's value in one write after
    truncating to zero; a write anywhere else rewrites the object as a new run."""

    def __init__(self, store: ObjectStore):
        self._store = store
        self._start = 0
        self._length = 0
        self._position = 0
        self.closed = False

    def seek(self, offset: int, whence: int = os.SEEK_SET) -> int:
        base = {os.SEEK_SET: 0, os.SEEK_CUR: self._position}.get(whence, self._length)
        self._position = base + offset
        return self._position

    def tell(self) -> int:
        return self._position

    def read(self, size: int = -1) -> bytes:
        left = max(0, self._length - self._position)
        size = left if size is None or size < 0 else min(size, left)
        data = self._store.read(self._start + self._position, size)
        self._position += len(data)
        return data

    def write(self, data: bytes) -> int:
        old = self._store.read(self._start, self._length)
        at = self._position
        new = old[:at].ljust(at, b"\0") + data + old[at + len(data) :]
        self._store.release(self._start, self._length)
        self._start, self._length = self._store.append(new), len(new)
        self._position = at + len(data)
        return len(data)

    def truncate(self, size: int | None = None) -> int:
        size = self._position if size is None else size
        if size < self._length:
            self._store.release(self._start + size, self._length - size)
            self._length = size
        return size

    def close(self) -> None:
        if not self.closed:
            self.closed = True
            self._store.release(self._start, self._length)
            self._length = 0


def keep_objects_in(folder: Path) -> Callable[[], None]:
    """Make moto's S3 keep every object's bytes in one store file in folder. Returns the
    undo.

    moto's S3 key makes its buffer with `tempfile.SpooledTemporaryFile` (when an object is
    written and when it is copied); only that name, in moto's S3 module, is replaced."""
    folder.mkdir(parents=True, exist_ok=True)
    store = ObjectStore(folder)
    original = moto.s3.models.tempfile
    moto.s3.models.tempfile = types.SimpleNamespace(  # type: ignore[assignment]
        SpooledTemporaryFile=lambda *args, **kwargs: ObjectFile(store)
    )

    def undo() -> None:
        moto.s3.models.tempfile = original
        store.close()

    return undo


def forget_model_instances() -> Callable[[], None]:
    """Make moto's models stop keeping a list of every instance they ever made (see the
    module's docstring). Returns the undo."""
    original = BaseModel.__dict__["__new__"]

    def untracked(cls: type, *args: Any, **kwargs: Any) -> Any:
        return object.__new__(cls)

    BaseModel.__new__ = untracked  # type: ignore[method-assign]

    def undo() -> None:
        BaseModel.__new__ = original  # type: ignore[method-assign]

    return undo


def query_one_partition(query: Any) -> Any:
    """moto's Table.query, reading only what DynamoDB would read (see the module's
    docstring). The table's `all_items` is shadowed for the one call; every DynamoDB request
    holds the lock (`_one_at_a_time`), so no other request sees the shadow."""

    @functools.wraps(query)
    def partitioned(self: Table, hash_key: Any, *args: Any, **kwargs: Any) -> Any:
        index_name = kwargs.get("index_name", args[6] if len(args) > 6 else None)
        if index_name:
            candidates = _unsorted(self)
        else:
            partition = self.items.get(hash_key) if hash_key is not None else None
            candidates = _partition(self, partition)
        self.all_items = lambda: candidates  # type: ignore[method-assign]
        try:
            return query(self, hash_key, *args, **kwargs)
        finally:
            del self.all_items

    return partitioned


def _unsorted(table: Table) -> list[Item]:
    if not table.range_key_attr:
        return list(table.items.values())  # type: ignore[arg-type]
    return [item for partition in table.items.values() for item in partition.values()]


def _partition(table: Table, partition: Any) -> list[Item]:
    if partition is None:
        return []
    return list(partition.values()) if table.range_key_attr else [partition]


def _one_at_a_time(call_action: Any) -> Any:
    @functools.wraps(call_action)
    def locked(self: DynamoHandler) -> Any:
        with _lock:
            return call_action(self)

    return locked


def transact_write_items(self: DynamoDBBackend, transact_items: list[dict[str, Any]]) -> None:
    """TransactWriteItems as DynamoDB answers it, undone item by item when it is cancelled."""
    if len(transact_items) > MAX_TRANSACTION_ITEMS:
        raise TooManyTransactionsException()
    touched: set[tuple[str, str]] = set()
    before: list[_Before] = []
    outcomes: list[_Outcome] = []
    try:
        for entry in transact_items:
            if len(entry) != 1:
                raise TransactWriteSingleOpException
            outcomes.append(_write(self, entry, touched, before))
    except BaseException:
        _put_back(before)
        raise
    if any(code is not None for code, _, _ in outcomes):
        _put_back(before)
        raise TransactionCanceledException(outcomes)


def _write(
    backend: DynamoDBBackend,
    entry: dict[str, Any],
    touched: set[tuple[str, str]],
    before: list[_Before],
) -> _Outcome:
    """One operation of a transaction; its failure is an outcome (the reasons DynamoDB lists
    in CancellationReasons), except for the errors that reject the whole request."""
    old: dict[str, Any] | None = None
    try:
        kind, op = next(iter(entry.items()))
        if kind not in _OPERATIONS:
            raise ValueError("Unsupported transaction operation")
        name = op["TableName"]
        table = backend.get_table(name)
        key = _key(table, op["Item"]) if kind == "Put" else op["Key"]
        identity = (str(name), str(dict(sorted(key.items()))))
        if identity in touched:
            raise MultipleTransactionsException()
        touched.add(identity)
        hash_key, range_key = backend.get_keys_value(table, key)
        current = table.get_item(hash_key, range_key)
        condition = op.get("ConditionExpression")
        names = op.get("ExpressionAttributeNames")
        values = op.get("ExpressionAttributeValues")
        if condition is not None and not get_filter_expression(condition, names, values).expr(
            current
        ):
            if op.get("ReturnValuesOnConditionCheckFailure") == "ALL_OLD" and current:
                old = current.to_json()["Attributes"]
            raise ConditionalCheckFailed(item=old)
        if kind == "ConditionCheck":
            return (None, None, None)
        before.append((table, hash_key, range_key, copy.deepcopy(current)))
        written = {
            "condition_expression": condition,
            "expression_attribute_names": names,
            "expression_attribute_values": values,
        }
        if kind == "Put":
            backend.put_item(name, op["Item"], **written)
        elif kind == "Delete":
            backend.delete_item(name, key, **written)
        else:
            backend.update_item(name, key, update_expression=op["UpdateExpression"], **written)
        return (None, None, None)
    except (MultipleTransactionsException, MockValidationException):
        raise
    except ConditionalCheckFailed as failed:
        return ("ConditionalCheckFailed", str(failed.message), old)
    except Exception as error:
        return (type(error).__name__, str(error), old)


def _key(table: Table, item: dict[str, Any]) -> dict[str, Any]:
    return {name: item[name] for name in (table.hash_key_attr, table.range_key_attr) if name}


def _put_back(before: list[_Before]) -> None:
    for table, hash_key, range_key, item in reversed(before):
        if item is None:
            table.delete_item(hash_key, range_key)
        elif range_key is not None:
            table.items[hash_key][range_key] = item
        else:
            table.items[hash_key] = item
