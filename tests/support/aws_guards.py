"""Guards on boto3 clients for tests: no Scan may ever be issued, and Query costs are counted."""

from dataclasses import dataclass
from typing import Any


class ScanForbidden(AssertionError):
    pass


def forbid_scans(client: Any) -> None:
    def refuse(**_: Any) -> None:
        raise ScanForbidden("the code issued a DynamoDB Scan; every read must be a Query")

    client.meta.events.register("before-call.dynamodb.Scan", refuse)


@dataclass
class QueryCosts:
    queries: int = 0
    scanned: int = 0

    def on_query(self, parsed: dict[str, Any], **_: Any) -> None:
        self.queries += 1
        self.scanned += int(parsed.get("ScannedCount", 0))


def query_costs(client: Any) -> QueryCosts:
    costs = QueryCosts()
    client.meta.events.register("after-call.dynamodb.Query", costs.on_query)
    return costs
