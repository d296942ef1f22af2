"""The API reference page, ``docs/api.md``, rendered from the OpenAPI document (``openapi.json``).

The page is generated, never edited by hand: what it says comes from the document (its introduction,
tags, operations and schemas), so a fact missing from the page is added to ``billing.http.openapi`` or
to a model's field description, then both are regenerated::

    python -m billing.http.openapi --write
    python -m billing.http.apidoc --write

``--check`` exits 1 when the committed page is not what the committed document renders (a test does
the same). The rendering is deterministic: routes in the document's order, schemas by name.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from billing.http.openapi import DOCUMENT_PATH, generated_file_main, pretty_json

PAGE_PATH = Path(__file__).resolve().parents[3] / "docs" / "api.md"
METHODS = ("get", "put", "post", "patch", "delete", "head", "options", "trace")
REGENERATE = "python -m billing.http.openapi --write && python -m billing.http.apidoc --write"

Schema = Mapping[str, Any]


def _cell(text: object) -> str:
    """Text that stays inside one Markdown table cell."""
    return " ".join(str(text).split()).replace("|", "\\|")


def _table(head: tuple[str, ...], rows: Iterable[tuple[object, ...]]) -> list[str]:
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    lines += ["| " + " | ".join(_cell(cell) or " " for cell in row) + " |" for row in rows]
    return lines


def _code(value: Any) -> str:
    """A JSON value written inline: strings as they are, everything else as JSON."""
    return f"`{value}`" if isinstance(value, str) else f"`{json.dumps(value, ensure_ascii=False)}`"


def _ref_name(ref: str) -> str:
    return ref.rsplit("/", 1)[-1]


def schema_anchor(name: str) -> str:
    return f"schema-{name.lower()}"


def _link(ref: str) -> str:
    name = _ref_name(ref)
    return f"[{name}](#{schema_anchor(name)})"


def _type(schema: Schema) -> str:
    """A schema's type in words: ``string (date-time) or null``, ``array of [Failure](#...)``."""
    if "$ref" in schema:
        return _link(schema["$ref"])
    for key in ("anyOf", "oneOf"):
        if key in schema:
            names = [_type(option) for option in schema[key]]
            return " or ".join(dict.fromkeys(names))
    kind = schema.get("type")
    if isinstance(kind, list):
        return " or ".join(str(k) for k in kind)
    if kind == "array":
        items = schema.get("items")
        return f"array of {_grouped(items)}" if isinstance(items, Mapping) else "array"
    if kind == "object":
        values = schema.get("additionalProperties")
        if not isinstance(values, Mapping):
            values = next(iter(schema.get("patternProperties", {}).values()), None)
        return f"map of names to {_grouped(values)}" if isinstance(values, Mapping) else "object"
    if kind is None:
        return "any"
    fmt = schema.get("format")
    return f"{kind} ({fmt})" if fmt else str(kind)


def _grouped(schema: Schema) -> str:
    """A type inside another one: a union in parentheses, so ``or null`` stays with the outer type."""
    text = _type(schema)
    return f"({text})" if " or " in text else text


def _range(low: Any, high: Any, unit: str) -> str | None:
    """``1 to 255 characters``, ``at least 1 item``, ``at most 50 entries`` (``unit``: singular/plural)."""
    singular, _, plural = unit.partition("/")
    words = f" {singular if (high if high is not None else low) == 1 else plural}" if unit else ""
    if low is not None and high is not None:
        return f"{low} to {high}{words}"
    if low is not None:
        return f"at least {low}{words}"
    if high is not None:
        return f"at most {high}{words}"
    return None


def _own_constraints(schema: Schema) -> list[str]:
    found: list[str] = []
    if "enum" in schema:
        found.append("one of " + ", ".join(_code(v) for v in schema["enum"]))
    if "const" in schema:
        found.append(f"always {_code(schema['const'])}")
    for low, high, unit in (
        ("minLength", "maxLength", "character/characters"),
        ("minimum", "maximum", ""),
        ("minItems", "maxItems", "item/items"),
        ("minProperties", "maxProperties", "entry/entries"),
    ):
        text = _range(schema.get(low), schema.get(high), unit)
        if text:
            found.append(text)
    if "exclusiveMinimum" in schema:
        found.append(f"> {schema['exclusiveMinimum']}")
    if "exclusiveMaximum" in schema:
        found.append(f"< {schema['exclusiveMaximum']}")
    if "pattern" in schema:
        found.append(f"pattern `{schema['pattern']}`")
    names = schema.get("propertyNames")
    if isinstance(names, Mapping) and (inner := _constraints(names)):
        found.append("names: " + ", ".join(inner))
    for pattern, values in schema.get("patternProperties", {}).items():
        found.append(f"names match `{pattern}`")
        if inner := _constraints(values):
            found.append("values: " + ", ".join(inner))
    items = schema.get("items")
    if isinstance(items, Mapping) and (inner := _constraints(items)):
        found.append("each item: " + ", ".join(inner))
    return found


def _constraints(schema: Schema) -> list[str]:
    """Every limit a value must keep, in words (a union names the branch a limit belongs to)."""
    options = schema.get("anyOf") or schema.get("oneOf")
    if not options:
        return _own_constraints(schema)
    found = _own_constraints(schema)
    branches = [o for o in options if o.get("type") != "null"]
    for branch in branches:
        inner = _constraints(branch)
        if inner and len(branches) > 1:
            found.append(f"{_type(branch)}: " + ", ".join(inner))
        else:
            found.extend(inner)
    return found


def _limits(schema: Schema) -> str:
    found = _constraints(schema)
    if schema.get("default") is not None:
        found.append(f"default {_code(schema['default'])}")
    return "; ".join(found)


def _resolve(spec: Mapping[str, Any], schema: Schema) -> Schema:
    if "$ref" in schema:
        resolved: Schema = spec["components"]["schemas"][_ref_name(schema["$ref"])]
        return resolved
    return schema


def _fields(schema: Schema) -> list[str]:
    required = set(schema.get("required", ()))
    rows = [
        (f"`{name}`", _type(field), "yes" if name in required else "no", _limits(field), field.get("description", ""))
        for name, field in schema.get("properties", {}).items()
    ]
    return _table(("field", "type", "required", "constraints", "description"), rows)


def _json_block(value: Any) -> list[str]:
    return ["```json", pretty_json(value), "```"]


def _examples(spec: Mapping[str, Any], media: Mapping[str, Any]) -> list[Any]:
    """A body's examples: the operation's own, else its schema's."""
    if "example" in media:
        return [media["example"]]
    if "examples" in media:
        return [item["value"] for item in media["examples"].values() if "value" in item]
    schema = _resolve(spec, media.get("schema", {}))
    return list(schema.get("examples", []))


def _security(spec: Mapping[str, Any], operation: Mapping[str, Any]) -> str:
    requirements = operation.get("security", spec.get("security", []))
    schemes = spec.get("components", {}).get("securitySchemes", {})
    ways = []
    for requirement in requirements:
        for name in requirement:
            scheme = schemes.get(name, {})
            if scheme.get("type") == "apiKey":
                ways.append(f"{scheme['in']} `{scheme['name']}`")
            else:
                ways.append(f"`{name}` ({scheme.get('type', 'unknown')})")
    return " or ".join(ways) if ways else "none"


def _body_cell(content: Mapping[str, Any]) -> str:
    parts = []
    for media_type, media in content.items():
        schema = media.get("schema")
        shape = _type(schema) if isinstance(schema, Mapping) else "the document"
        parts.append(shape if media_type == "application/json" else f"{shape} (`{media_type}`)")
    return "; ".join(parts) or "none"


def _operation(spec: Mapping[str, Any], path: str, method: str, operation: Mapping[str, Any]) -> list[str]:
    out = [f'<a id="{operation["operationId"]}"></a>', "", f"### `{method.upper()} {path}`", ""]
    if operation.get("summary"):
        out += [operation["summary"].rstrip(".") + ".", ""]
    if operation.get("description"):
        out += [operation["description"], ""]
    out += [f"**Authentication:** {_security(spec, operation)}.", ""]
    parameters = operation.get("parameters", [])
    if parameters:
        rows = [
            (
                f"`{p['name']}`",
                p["in"],
                _type(p.get("schema", {})),
                "yes" if p.get("required") else "no",
                _limits(p.get("schema", {})),
                p.get("description", ""),
            )
            for p in parameters
        ]
        out += ["**Parameters**", "", *_table(("name", "in", "type", "required", "constraints", "description"), rows)]
        out.append("")
    body = operation.get("requestBody")
    if body:
        for media_type, media in body.get("content", {}).items():
            need = "required" if body.get("required") else "optional"
            shape = _type(media.get("schema", {}))
            out += [f"**Request body** (`{media_type}`, {need}): {shape}", ""]
            out += [*_fields(_resolve(spec, media.get("schema", {}))), ""]
            for example in _examples(spec, media):
                out += ["Example request body:", "", *_json_block(example), ""]
    responses = sorted(operation.get("responses", {}).items(), key=lambda item: item[0])
    answers = [
        (status, answer.get("description", ""), _body_cell(answer.get("content", {}))) for status, answer in responses
    ]
    out += ["**Responses**", "", *_table(("status", "meaning", "body"), answers), ""]
    headers: dict[str, tuple[list[str], str]] = {}
    for status, answer in responses:
        for name, header in answer.get("headers", {}).items():
            headers.setdefault(name, ([], header.get("description", "")))[0].append(status)
    if headers:
        rows_h = [(f"`{name}`", ", ".join(statuses), text) for name, (statuses, text) in headers.items()]
        out += ["**Response headers**", "", *_table(("header", "in answers", "description"), rows_h), ""]
    for status, answer in responses:
        if not status.startswith("2"):
            continue
        for media in answer.get("content", {}).values():
            for example in _examples(spec, media):
                out += [f"Example answer ({status}):", "", *_json_block(example), ""]
    return out


def _operations(spec: Mapping[str, Any]) -> list[tuple[str, str, Mapping[str, Any]]]:
    return [
        (path, method, item[method])
        for path, item in spec.get("paths", {}).items()
        for method in METHODS
        if method in item
    ]


def render_markdown(spec: Mapping[str, Any]) -> str:
    """The reference page of an OpenAPI 3.1 document, as GitHub Markdown."""
    info = spec.get("info", {})
    out = [
        f"# {info.get('title', 'API')}",
        "",
        "<!-- Generated from openapi.json by `python -m billing.http.apidoc --write`: do not edit by hand. -->",
        "",
        f"API version {info.get('version', '?')} (OpenAPI {spec.get('openapi', '?')}). This page is generated "
        "from [`openapi.json`](../openapi.json), which the send function also serves at "
        "`GET /api/v1/billing/openapi.json`; to change it, change the models or `shared/billing/http/openapi.py` "
        f"and run `{REGENERATE}`.",
        "",
    ]
    if info.get("description"):
        out += [info["description"], ""]
    operations = _operations(spec)
    out += ["## Routes", ""]
    rows = [
        (method.upper(), f"[`{path}`](#{operation['operationId']})", operation.get("summary", ""))
        for path, method, operation in operations
    ]
    out += [*_table(("method", "path", "summary"), rows), ""]
    groups = [
        (tag["name"], tag.get("x-displayName", tag["name"]), tag.get("description", "")) for tag in spec.get("tags", [])
    ]
    declared = {name for name, _, _ in groups}

    def group(operation: Mapping[str, Any]) -> str:
        first = (operation.get("tags") or [""])[0]
        return first if first in declared else ""

    groups.append(("", "Other routes", ""))
    for name, title, description in groups:
        members = [(path, method, operation) for path, method, operation in operations if group(operation) == name]
        if not members:
            continue
        out += [f"## {title}", ""]
        if description:
            out += [description, ""]
        for path, method, operation in members:
            out += _operation(spec, path, method, operation)
    schemas = spec.get("components", {}).get("schemas", {})
    if schemas:
        out += [
            "## Schemas",
            "",
            "Every body, field by field. `required`: a request must send the field; an answer always has it "
            "(possibly `null` when its type allows).",
            "",
        ]
        for name in sorted(schemas):
            schema = schemas[name]
            out += [f'<a id="{schema_anchor(name)}"></a>', "", f"### {name}", ""]
            if schema.get("description"):
                out += [schema["description"], ""]
            if schema.get("properties"):
                out += [*_fields(schema), ""]
            else:
                out += [f"Type: {_type(schema)}.", ""]
    return "\n".join(out).rstrip() + "\n"


def render_page() -> str:
    """The page the committed OpenAPI document renders."""
    return render_markdown(json.loads(DOCUMENT_PATH.read_text(encoding="utf-8")))


def main(argv: list[str] | None = None) -> int:
    return generated_file_main(
        argv, module="billing.http.apidoc", description=__doc__, path=PAGE_PATH, render=render_page, hint=REGENERATE
    )


if __name__ == "__main__":
    raise SystemExit(main())
