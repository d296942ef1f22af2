"""A small, safe template language for WhatsApp messages (Handlebars-like, no code execution).

Syntax: ``{{var}}``, ``{{a.b}}``, ``{{#if var}}...{{else}}...{{/if}}``, ``{{#unless var}}...{{/unless}}``,
``{{!comment}}``. A block or comment tag alone on its line takes its line (and newline) with it, so
conditionals on their own lines leave no blank lines behind. Values never reach ``eval`` and paths
only walk mappings, never object attributes.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from billing.domain.template_parser import IF, VAR, Node, parse
from billing.errors import TemplateRenderError, UnknownVariableError

MAX_MESSAGE_CHARS = 4096

_MISSING = object()


def _to_text(value: Any) -> str:
    if value is None:
        return ""
    if value is True:
        return "true"
    if value is False:
        return "false"
    if isinstance(value, list | tuple):
        return ", ".join(_to_text(v) for v in value)
    if isinstance(value, Mapping):
        return ""
    return str(value)


def _lookup(context: Mapping[str, Any], key: str, path: tuple[str, ...] | None) -> Any:
    value = context.get(key, _MISSING)
    if path is None:
        return value
    for part in path:
        if not isinstance(value, Mapping):
            return _MISSING
        value = value.get(part, _MISSING)
    return value


def _render_nodes(nodes: tuple[Any, ...], ctx: Mapping[str, Any], out: list[str]) -> None:
    append = out.append
    for node in nodes:
        if type(node) is str:
            append(node)
            continue
        kind, key, path = node[0], node[1], node[2]
        value = ctx.get(key) if path is None else _lookup(ctx, key, path)
        if kind == VAR:
            if type(value) is str:
                append(value)
            elif value is not _MISSING:
                append(_to_text(value))
        else:
            branch = node[3] if value is not _MISSING and value else node[4]
            if branch:
                _render_nodes(branch, ctx, out)


@dataclass(frozen=True, slots=True)
class CompiledTemplate:
    """The parsed form of a template; render it as often as needed without parsing again."""

    source: str
    nodes: tuple[Node, ...]
    variables: frozenset[str]
    min_length: int

    def render(self, context: Mapping[str, Any], *, strict: bool = False) -> str:
        """Render with ``context``; missing variables render empty unless ``strict``."""
        if strict:
            unknown = self.unknown_variables(context)
            if unknown:
                raise UnknownVariableError(unknown)
        out: list[str] = []
        _render_nodes(self.nodes, context, out)
        text = "".join(out)
        if len(text) > MAX_MESSAGE_CHARS:
            raise TemplateRenderError(f"message has {len(text)} characters; the limit is {MAX_MESSAGE_CHARS}")
        return text

    def unknown_variables(self, context: Mapping[str, Any]) -> list[str]:
        """Every referenced variable path that ``context`` cannot resolve, sorted."""
        unknown = []
        for name in sorted(self.variables):
            head, *rest = name.split(".")
            if _lookup(context, head, tuple(rest) if rest else None) is _MISSING:
                unknown.append(name)
        return unknown


def _min_length(nodes: tuple[Node, ...]) -> int:
    total = 0
    for node in nodes:
        if isinstance(node, str):
            total += len(node)
        elif node[0] == IF:
            total += min(_min_length(node[3]), _min_length(node[4]))
    return total


@lru_cache(maxsize=1024)
def compile_template(text: str) -> CompiledTemplate:
    """Parse ``text`` once (cached by text); raise TemplateSyntaxError with 1-based line/column."""
    nodes, variables = parse(text)
    return CompiledTemplate(text, nodes, variables, _min_length(nodes))
