"""The OpenAPI document (chalicelib/openapi.json, served at GET /openapi.json) says what the
app does: every route and method of the route table and no other, each with its authorizer
as its security, and each with the success status its handler answers."""

import ast
import json

import pytest

from chalicelib import openapi
from tests.support.routes import ROOT, run_with_the_app

_SCRIPT = """
import json
from app import app
print(json.dumps([
    [method, path, entry.view_name, entry.authorizer.name if entry.authorizer else None]
    for path, methods in app.routes.items() for method, entry in methods.items()
]))
"""
# The authorizer of app.py each security scheme of the document stands for.
SCHEMES = {"users": "cognito", "external_key": "apiKey"}
# What each answer helper of chalicelib.web (or a plain return) gives on success.
HELPER_STATUS = {"created": 201, "accepted": 202, "no_content": 204, "redirect": 307}


@pytest.fixture(scope="module")
def route_table() -> list[tuple[str, str, str, str | None]]:
    done = run_with_the_app(_SCRIPT)
    assert done.returncode == 0, done.stderr
    return [tuple(row) for row in json.loads(done.stdout)]


def _operations() -> dict[tuple[str, str], dict]:
    return {
        (method.upper(), path): operation
        for path, item in openapi.document()["paths"].items()
        for method, operation in item.items()
        if method != "parameters"
    }


def _success_statuses(function: ast.FunctionDef) -> set[int]:
    """The success status of each `return` in a handler of app.py, from the helper it calls."""
    found = set()
    for node in ast.walk(function):
        if not isinstance(node, ast.Return) or node.value is None:
            continue
        call = node.value
        called = isinstance(call, ast.Call) and isinstance(call.func, ast.Name)
        name = call.func.id if called else ""
        found.add(HELPER_STATUS.get(name, 200))
    return found


def _handlers() -> dict[str, ast.FunctionDef]:
    tree = ast.parse((ROOT / "app.py").read_text())
    return {node.name: node for node in tree.body if isinstance(node, ast.FunctionDef)}


def test_the_document_is_openapi_3_1():
    document = openapi.document()
    assert document["openapi"].startswith("3.1.")
    from openapi_spec_validator import validate

    validate(document)


def test_every_route_and_method_of_the_app_is_in_the_document_and_nothing_else(route_table):
    assert set(_operations()) == {(method, path) for method, path, _, _ in route_table}


def test_each_operation_names_its_routes_authorizer_as_its_security(route_table):
    operations = _operations()
    for method, path, _, authorizer in route_table:
        expected = [{SCHEMES[authorizer]: []}] if authorizer else []
        assert operations[(method, path)]["security"] == expected, (method, path)


def test_each_operation_documents_the_success_status_its_handler_answers(route_table):
    operations, handlers = _operations(), _handlers()
    for method, path, view_name, _ in route_table:
        documented = {int(code) for code in operations[(method, path)]["responses"] if code < "300"}
        documented |= {307} & {int(code) for code in operations[(method, path)]["responses"]}
        assert documented == _success_statuses(handlers[view_name]), (method, path)


def test_protected_operations_document_401_and_json_bodies_document_400(route_table):
    operations = _operations()
    for method, path, _, authorizer in route_table:
        responses = operations[(method, path)]["responses"]
        if authorizer:
            assert "401" in responses, (method, path)
        if "requestBody" in operations[(method, path)]:
            assert "400" in responses, (method, path)
