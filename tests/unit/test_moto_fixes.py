"""The local stack's DynamoDB behaves as DynamoDB does under load: transactions are applied in
isolation and undone item by item, and concurrent requests never meet half-written tables."""

import gc
import os
import threading

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError
from moto import mock_aws
from moto.dynamodb.models.dynamo_type import Item
from moto.dynamodb.models.table import Table
from moto.server import ThreadedMotoServer

from devserver import moto_fixes

TABLE = "things"


@pytest.fixture
def fixed():
    undo = moto_fixes.apply()
    yield
    undo()


def _make_table(dynamodb) -> None:
    dynamodb.create_table(
        TableName=TABLE,
        BillingMode="PAY_PER_REQUEST",
        AttributeDefinitions=[
            {"AttributeName": "pk", "AttributeType": "S"},
            {"AttributeName": "sk", "AttributeType": "S"},
        ],
        KeySchema=[
            {"AttributeName": "pk", "KeyType": "HASH"},
            {"AttributeName": "sk", "KeyType": "RANGE"},
        ],
    )


def _key(pk: str, sk: str = "x") -> dict:
    return {"pk": {"S": pk}, "sk": {"S": sk}}


def _put(pk: str, **attrs: str) -> dict:
    return {
        "Put": {"TableName": TABLE, "Item": {**_key(pk), **{k: {"S": v} for k, v in attrs.items()}}}
    }


def _update(pk: str, value: str) -> dict:
    return {
        "Update": {
            "TableName": TABLE,
            "Key": _key(pk),
            "UpdateExpression": "SET v = :v",
            "ExpressionAttributeValues": {":v": {"S": value}},
        }
    }


def _delete(pk: str) -> dict:
    return {"Delete": {"TableName": TABLE, "Key": _key(pk)}}


def _failing_check(pk: str) -> dict:
    return {
        "ConditionCheck": {
            "TableName": TABLE,
            "Key": _key(pk),
            "ConditionExpression": "attribute_not_exists(pk)",
        }
    }


def _items(dynamodb) -> dict[str, dict]:
    items = dynamodb.scan(TableName=TABLE)["Items"]
    return {item["pk"]["S"]: item for item in items}


@pytest.fixture
def dynamodb(fixed):
    with mock_aws():
        client = boto3.client("dynamodb", region_name="us-east-1")
        _make_table(client)
        yield client


def test_a_cancelled_transaction_puts_back_exactly_the_items_it_changed(dynamodb):
    for pk in ("updated", "deleted", "checked"):
        dynamodb.put_item(TableName=TABLE, Item={**_key(pk), "v": {"S": "before"}})
    before = _items(dynamodb)
    with pytest.raises(ClientError) as raised:
        dynamodb.transact_write_items(
            TransactItems=[
                _update("updated", "after"),
                _delete("deleted"),
                _put("new", v="after"),
                _failing_check("checked"),
            ]
        )
    reasons = [reason["Code"] for reason in raised.value.response["CancellationReasons"]]
    assert reasons == ["None", "None", "None", "ConditionalCheckFailed"]
    assert _items(dynamodb) == before


def test_a_committed_transaction_applies_every_write(dynamodb):
    for pk in ("updated", "deleted"):
        dynamodb.put_item(TableName=TABLE, Item={**_key(pk), "v": {"S": "before"}})
    dynamodb.transact_write_items(
        TransactItems=[_update("updated", "after"), _delete("deleted"), _put("new", v="after")]
    )
    items = _items(dynamodb)
    assert sorted(items) == ["new", "updated"]
    assert items["updated"]["v"] == {"S": "after"}
    assert items["new"]["v"] == {"S": "after"}


def test_two_operations_on_one_item_reject_the_whole_transaction(dynamodb):
    dynamodb.put_item(TableName=TABLE, Item={**_key("a"), "v": {"S": "before"}})
    with pytest.raises(ClientError) as raised:
        dynamodb.transact_write_items(TransactItems=[_update("a", "one"), _update("a", "two")])
    assert raised.value.response["Error"]["Code"] == "ValidationException"
    assert _items(dynamodb)["a"]["v"] == {"S": "before"}


def test_a_transaction_copies_only_the_items_it_changes(dynamodb, monkeypatch):
    """moto copies every table a transaction touches, which made each write cost the whole
    table; copying a table now fails the test."""
    for n in range(50):
        dynamodb.put_item(TableName=TABLE, Item=_key(f"other-{n}"))

    def refuse(self, memo):
        raise AssertionError("a transaction copied the whole table")

    monkeypatch.setattr(Table, "__deepcopy__", refuse, raising=False)
    dynamodb.transact_write_items(TransactItems=[_put("new", v="1"), _update("other-3", "2")])
    assert _items(dynamodb)["other-3"]["v"] == {"S": "2"}


@pytest.fixture
def server(fixed):
    moto = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    moto.start()
    host, port = moto.get_host_and_port()
    yield f"http://{host}:{port}"
    moto.stop()


def test_concurrent_transactions_and_writes_over_http_all_succeed_first_time(server):
    """Over HTTP moto serves requests on many threads; unserialised, a transaction copying a
    table while another request adds an item fails with a 500 (which botocore would retry).
    Retries are off here, so every such failure is seen."""

    def client():
        return boto3.client(
            "dynamodb",
            endpoint_url=server,
            region_name="us-east-1",
            aws_access_key_id="testing",
            aws_secret_access_key="testing",
            config=Config(retries={"total_max_attempts": 1}, max_pool_connections=20),
        )

    _make_table(client())
    errors: list[BaseException] = []

    def writer(worker: int) -> None:
        dynamodb = client()
        try:
            for n in range(60):
                dynamodb.transact_write_items(
                    TransactItems=[_put(f"{worker}-{n}", v="1"), _put(f"{worker}-{n}-log", v="1")]
                )
                dynamodb.put_item(TableName=TABLE, Item=_key(f"{worker}-{n}-single"))
        except BaseException as error:
            errors.append(error)

    threads = [threading.Thread(target=writer, args=(worker,)) for worker in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert len(_items(client())) == 6 * 60 * 3


def _live(kind: type) -> int:
    gc.collect()
    return sum(1 for thing in gc.get_objects() if type(thing) is kind)


def test_items_overwritten_or_deleted_are_not_kept_alive(dynamodb):
    # moto's models list every instance they make; a day of writes would all stay in memory.
    before = _live(Item)
    dynamodb.transact_write_items(TransactItems=[_put("kept", v="0")])
    for n in range(20):
        dynamodb.transact_write_items(TransactItems=[_update("kept", str(n))])
        dynamodb.put_item(TableName=TABLE, Item={**_key("gone"), "v": {"S": str(n)}})
        dynamodb.update_item(
            TableName=TABLE,
            Key=_key("kept"),
            UpdateExpression="SET w = :w",
            ExpressionAttributeValues={":w": {"S": str(n)}},
        )
    dynamodb.delete_item(TableName=TABLE, Key=_key("gone"))
    assert _items(dynamodb)["kept"]["w"] == {"S": "19"}
    assert _live(Item) - before == 1  # the one item the table holds


def test_without_the_fix_moto_keeps_every_item_it_ever_made():
    # The reason for the fix, pinned: if moto stops tracking instances, the fix can go.
    with mock_aws():
        client = boto3.client("dynamodb", region_name="us-east-1")
        _make_table(client)
        before = _live(Item)
        for n in range(10):
            client.put_item(TableName=TABLE, Item={**_key("same"), "v": {"S": str(n)}})
        assert _live(Item) - before >= 10


@pytest.fixture
def s3(tmp_path):
    undo = moto_fixes.apply(tmp_path / "objects")
    with mock_aws():
        client = boto3.client("s3", region_name="us-east-1")
        client.create_bucket(Bucket="bucket-x")
        yield client, tmp_path / "objects"
    undo()


def _stored(folder) -> bytes:
    """What the folder holds: one store file, whatever the bucket holds."""
    (store,) = folder.iterdir()
    return store.read_bytes()


def test_s3_keeps_every_objects_bytes_in_one_file_of_the_folder(s3):
    client, folder = s3
    bodies = [bytes([65 + n]) * (1000 + n) for n in range(3)]
    for n, body in enumerate(bodies):
        client.put_object(Bucket="bucket-x", Key=f"uploads/{n}", Body=body)
    assert all(body in _stored(folder) for body in bodies)
    got = client.get_object(Bucket="bucket-x", Key="uploads/1")["Body"].read()
    assert got == bodies[1]
    ranged = client.get_object(Bucket="bucket-x", Key="uploads/2", Range="bytes=0-9")
    assert ranged["Body"].read() == bodies[2][:10]
    listed = client.list_objects_v2(Bucket="bucket-x")["Contents"]
    assert [item["Size"] for item in listed] == [len(body) for body in bodies]


def test_s3_objects_copied_replaced_and_deleted_keep_only_what_the_bucket_holds(s3):
    client, folder = s3
    first, second = b"first-" * 1000, b"second" * 1000
    client.put_object(Bucket="bucket-x", Key="a", Body=first)
    client.copy_object(Bucket="bucket-x", Key="b", CopySource={"Bucket": "bucket-x", "Key": "a"})
    client.put_object(Bucket="bucket-x", Key="a", Body=second)
    assert client.get_object(Bucket="bucket-x", Key="b")["Body"].read() == first
    assert client.get_object(Bucket="bucket-x", Key="a")["Body"].read() == second
    client.delete_object(Bucket="bucket-x", Key="b")
    gc.collect()
    # The runs of the replaced and the deleted object are holes now: their bytes are gone.
    assert first not in _stored(folder)
    assert second in _stored(folder)


def test_an_object_written_in_parts_reads_back_whole(tmp_path):
    store = moto_fixes.ObjectStore(tmp_path)
    part = moto_fixes.ObjectFile(store)
    part.write(b"hello ")
    part.write(b"world")
    part.seek(0)
    assert part.read() == b"hello world"
    part.seek(6)
    part.write(b"W")
    part.truncate(7)
    part.seek(0)
    assert (part.read(3), part.read()) == (b"hel", b"lo W")
    assert part.seek(0, os.SEEK_END) == 7
    store.close()


def _indexed_table(dynamodb) -> None:
    dynamodb.create_table(
        TableName="indexed",
        BillingMode="PAY_PER_REQUEST",
        AttributeDefinitions=[
            {"AttributeName": name, "AttributeType": "S"} for name in ("pk", "sk", "g", "gs")
        ],
        KeySchema=[
            {"AttributeName": "pk", "KeyType": "HASH"},
            {"AttributeName": "sk", "KeyType": "RANGE"},
        ],
        GlobalSecondaryIndexes=[
            {
                "IndexName": "byG",
                "KeySchema": [
                    {"AttributeName": "g", "KeyType": "HASH"},
                    {"AttributeName": "gs", "KeyType": "RANGE"},
                ],
                "Projection": {"ProjectionType": "ALL"},
            }
        ],
    )
    for p in range(12):
        for s in range(5):
            item = {"pk": {"S": f"p{p}"}, "sk": {"S": f"s{(s * 7) % 5}"}, "n": {"N": str(s)}}
            if (p + s) % 3:  # some items are not in the index
                item |= {"g": {"S": f"g{p % 4}"}, "gs": {"S": f"{s:02d}#{p:02d}"}}
            dynamodb.put_item(TableName="indexed", Item=item)


QUERIES = [
    {"KeyConditionExpression": "pk = :p", "ExpressionAttributeValues": {":p": {"S": "p3"}}},
    {
        "KeyConditionExpression": "pk = :p AND sk > :s",
        "ExpressionAttributeValues": {":p": {"S": "p5"}, ":s": {"S": "s1"}},
        "ScanIndexForward": False,
        "Limit": 2,
    },
    {"KeyConditionExpression": "pk = :p", "ExpressionAttributeValues": {":p": {"S": "none"}}},
    {
        "IndexName": "byG",
        "KeyConditionExpression": "g = :g",
        "ExpressionAttributeValues": {":g": {"S": "g1"}},
        "ScanIndexForward": False,
        "Limit": 4,
    },
    {
        "IndexName": "byG",
        "KeyConditionExpression": "g = :g AND begins_with(gs, :b)",
        "FilterExpression": "n > :n",
        "ExpressionAttributeValues": {":g": {"S": "g2"}, ":b": {"S": "0"}, ":n": {"N": "1"}},
    },
]


def _answers(dynamodb) -> list[dict]:
    answers = []
    for query in QUERIES:
        answer = dynamodb.query(TableName="indexed", **query)
        answers.append({k: answer.get(k) for k in ("Items", "Count", "ScannedCount")})
    return answers


def test_queries_answer_as_moto_does_reading_one_partition_of_the_table():
    with mock_aws():
        plain = boto3.client("dynamodb", region_name="us-east-1")
        _indexed_table(plain)
        expected = _answers(plain)
    undo = moto_fixes.apply()
    try:
        with mock_aws():
            client = boto3.client("dynamodb", region_name="us-east-1")
            _indexed_table(client)
            assert _answers(client) == expected
            assert [a["Count"] for a in expected] == [5, 2, 0, 4, 6]  # each query finds some
    finally:
        undo()


def test_a_query_never_lists_and_sorts_the_whole_table(dynamodb, monkeypatch):
    _indexed_table(dynamodb)

    def whole_table(self):
        raise AssertionError("the query listed every item of the table")

    monkeypatch.setattr(Table, "all_items", whole_table)
    assert len(_answers(dynamodb)) == len(QUERIES)
    with pytest.raises(AssertionError, match="listed every item"):
        dynamodb.scan(TableName="indexed")  # a scan still does: the check can fail
