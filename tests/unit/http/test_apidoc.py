"""docs/api.md is what the OpenAPI document renders, and it documents every route, status and field."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from billing.http import apidoc
from billing.http.apidoc import PAGE_PATH, render_markdown, render_page, schema_anchor
from billing.http.openapi import DOCUMENT_PATH, render_document
from jsonschema import Draft202012Validator
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

SPEC: dict[str, Any] = json.loads(DOCUMENT_PATH.read_text(encoding="utf-8"))
PAGE = PAGE_PATH.read_text(encoding="utf-8")
HTTP_METHODS = {"get", "put", "post", "patch", "delete", "head", "options", "trace"}
OPERATIONS = [
    (path, method, operation)
    for path, item in SPEC["paths"].items()
    for method, operation in item.items()
    if method in HTTP_METHODS
]


def _section(anchor: str) -> str:
    """The page from an anchor to the next one."""
    start = PAGE.index(f'<a id="{anchor}"></a>')
    end = PAGE.find('<a id="', start + 1)
    return PAGE[start : end if end != -1 else len(PAGE)]


def test_the_committed_page_is_what_the_generator_renders() -> None:
    assert render_page() == PAGE, (
        "docs/api.md is stale: run `python -m billing.http.apidoc --write` (after `python -m billing.http.openapi "
        "--write` when a model changed)"
    )
    assert render_markdown(json.loads(render_document())) == PAGE, (
        "openapi.json is stale, so docs/api.md is too: run `python -m billing.http.openapi --write` then "
        "`python -m billing.http.apidoc --write`"
    )


def test_every_route_of_the_document_is_on_the_page() -> None:
    assert len(OPERATIONS) >= 12
    for path, method, operation in OPERATIONS:
        assert f"### `{method.upper()} {path}`" in PAGE, (method, path)
        assert f"| {method.upper()} | [`{path}`](#{operation['operationId']}) |" in PAGE, (method, path)


@pytest.mark.parametrize(("path", "method", "operation"), OPERATIONS, ids=[f"{m} {p}" for p, m, _ in OPERATIONS])
def test_each_route_section_has_its_parameters_body_fields_and_every_status(
    path: str, method: str, operation: dict[str, Any]
) -> None:
    section = _section(operation["operationId"])
    assert f"### `{method.upper()} {path}`" in section
    for parameter in operation.get("parameters", []):
        assert f"| `{parameter['name']}` | {parameter['in']} |" in section
    for media in operation.get("requestBody", {}).get("content", {}).values():
        name = media["schema"]["$ref"].rsplit("/", 1)[-1]
        for field in SPEC["components"]["schemas"][name]["properties"]:
            assert f"| `{field}` |" in section, field
    for status, answer in operation["responses"].items():
        assert f"| {status} | {answer['description'].split()[0]}" in section, status
    expected_auth = "none" if operation.get("security") == [] else "header `X-Billing-API-Key`"
    assert f"**Authentication:** {expected_auth}." in section


def test_every_schema_and_field_is_on_the_page() -> None:
    for name, schema in SPEC["components"]["schemas"].items():
        section = _section(schema_anchor(name))
        assert f"### {name}" in section
        for field, definition in schema.get("properties", {}).items():
            assert f"| `{field}` |" in section, (name, field)
            if definition.get("description"):
                assert definition["description"].split()[0] in section


def test_the_page_tells_an_integrator_what_the_api_expects_of_them() -> None:
    for needle in (
        "## Authentication",
        "`X-Billing-API-Key: <key>`",
        "## Errors",
        "application/problem+json",
        "## Rate limits",
        "read budget",
        "`Retry-After`",
        "`RateLimit-Limit`",
        "## Idempotency",
        "`Idempotency-Key`",
        "| queue status | meaning |",
        "| contact status | meaning |",
        "Example request body:",
        "Example answer (202):",
    ):
        assert needle in PAGE, needle


def _validator(schema: dict[str, Any]) -> Draft202012Validator:
    registry: Registry[Any] = Registry().with_resource(
        "urn:openapi", Resource.from_contents(SPEC, default_specification=DRAFT202012)
    )
    return Draft202012Validator(
        {"$ref": "urn:openapi" + schema["$ref"]} if "$ref" in schema else schema, registry=registry
    )


def _examples() -> list[tuple[str, dict[str, Any], Any]]:
    found = []
    for name, schema in SPEC["components"]["schemas"].items():
        for example in schema.get("examples", []):
            found.append((name, {"$ref": f"#/components/schemas/{name}"}, example))
    for _path, _method, operation in OPERATIONS:
        bodies = [operation.get("requestBody", {}), *operation["responses"].values()]
        for body in bodies:
            for media in body.get("content", {}).values():
                if "example" in media:
                    found.append((operation["operationId"], media["schema"], media["example"]))
    return found


def test_every_example_matches_its_schema() -> None:
    examples = _examples()
    assert len(examples) >= 15
    for where, schema, example in examples:
        errors = [error.message for error in _validator(schema).iter_errors(example)]
        assert not errors, (where, errors)


def test_the_renderer_is_generic_and_deterministic() -> None:
    spec: dict[str, Any] = {
        "openapi": "3.1.0",
        "info": {"title": "Tiny", "version": "2"},
        "paths": {
            "/b": {"post": {"operationId": "b", "security": [], "responses": {"204": {"description": "done"}}}},
            "/a": {"get": {"operationId": "a", "tags": ["x"], "responses": {"200": {"description": "ok"}}}},
        },
        "tags": [{"name": "x", "description": "the x routes"}],
    }
    page = render_markdown(spec)
    assert page == render_markdown(json.loads(json.dumps(spec)))
    assert page.startswith("# Tiny\n") and page.endswith("\n") and not page.endswith("\n\n")
    assert page.index("## x") < page.index("the x routes") < page.index("## Other routes") < page.index("### `POST /b`")
    assert "**Authentication:** none." in page
    assert "| GET | [`/a`](#a) |   |" in page


def test_check_and_write(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    target = tmp_path / "api.md"
    monkeypatch.setattr(apidoc, "PAGE_PATH", target)
    assert apidoc.main(["--check"]) == 1
    assert "is stale" in capsys.readouterr().err
    assert apidoc.main(["--write"]) == 0
    assert target.read_text(encoding="utf-8") == render_page()
    assert apidoc.main(["--check"]) == 0
    target.write_text(render_page() + "hand edit\n", encoding="utf-8")
    assert apidoc.main(["--check"]) == 1
