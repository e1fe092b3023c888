"""The API's OpenAPI 3.1 document, served at GET /openapi.json. The document itself is
chalicelib/openapi.json (packaged with the Lambda); tests/unit/test_openapi.py keeps it equal
to the route table, and schemathesis (tests/e2e/test_openapi_conformance.py) checks the
running service against it."""

import functools
import json
from pathlib import Path
from typing import Any

PATH = Path(__file__).with_name("openapi.json")


@functools.cache
def document() -> dict[str, Any]:
    return json.loads(PATH.read_text(encoding="utf-8"))
