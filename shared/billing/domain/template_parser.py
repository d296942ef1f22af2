"""Parsing of the template language into the node tree that ``templates`` renders.

A node is a plain ``str`` (literal text) or a tuple ``(VAR, key, path)`` /
``(IF, key, path, then_nodes, else_nodes)``; ``path`` holds the dotted tail (None for a simple name),
and ``#unless`` compiles to ``IF`` with its branches swapped.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from billing.errors import TemplateSyntaxError

_NAME = r"[A-Za-z_][A-Za-z0-9_]*"
_PATH_RE = re.compile(rf"{_NAME}(?:\.{_NAME})*\Z")
_BLOCK_RE = re.compile(r"([#/])\s*(\w*)\s*(.*)\Z", re.DOTALL)
_LEADING_WS_NL = re.compile(r"[ \t]*\r?\n")
_TRAILING_NL_WS = re.compile(r"(?:\A|\n)[ \t]*\Z")

VAR = 0
IF = 1

Node = str | tuple[Any, ...]


@dataclass(slots=True)
class _Tag:
    content: str
    pos: int
    standalone: bool = False


def _position(text: str, pos: int) -> tuple[int, int]:
    line = text.count("\n", 0, pos) + 1
    return line, pos - (text.rfind("\n", 0, pos) + 1) + 1


def _error(text: str, pos: int, message: str) -> TemplateSyntaxError:
    line, column = _position(text, pos)
    return TemplateSyntaxError(message, line=line, column=column)


def _tokenize(text: str) -> tuple[list[str], list[_Tag]]:
    """Split into literal chunks and tags; ``texts`` always has ``len(tags) + 1`` items."""
    texts: list[str] = []
    tags: list[_Tag] = []
    pos = 0
    while True:
        start = text.find("{{", pos)
        if start < 0:
            texts.append(text[pos:])
            return texts, tags
        end = text.find("}}", start + 2)
        if text.startswith("{{!--", start):
            close = text.find("--}}", start + 5)
            end = close + 2 if close >= 0 else -1
        if end < 0:
            raise _error(text, start, "unclosed tag: '{{' without '}}'")
        texts.append(text[pos:start])
        tags.append(_Tag(text[start + 2 : end], start))
        pos = end + 2


def _mark_standalone(texts: list[str], tags: list[_Tag]) -> None:
    """Handlebars' rule: a block/comment tag alone on its line removes that whole line."""
    last = len(tags) - 1
    for i, tag in enumerate(tags):
        first = tag.content.lstrip()[:1]
        if first not in ("#", "/", "!") and tag.content.strip() != "else":
            continue
        before, after = texts[i], texts[i + 1]
        left_ok = _TRAILING_NL_WS.search(before) is not None and (i == 0 or "\n" in before)
        right_ok = _LEADING_WS_NL.match(after) is not None or (i == last and not after.strip(" \t"))
        tag.standalone = left_ok and right_ok
    for i, tag in enumerate(tags):
        if tag.standalone:
            texts[i] = texts[i].rstrip(" \t")
            after = texts[i + 1]
            match = _LEADING_WS_NL.match(after)
            texts[i + 1] = after[match.end() :] if match else after.lstrip(" \t")


@dataclass(slots=True)
class _Frame:
    kind: str
    path: str
    pos: int
    then: list[Node]
    otherwise: list[Node] | None = None


def _var_node(kind: int, path: str) -> tuple[Any, ...]:
    head, *rest = path.split(".")
    return (kind, head, tuple(rest) if rest else None)


def _append(nodes: list[Node], node: Node) -> None:
    """Append, merging adjacent literal chunks so rendering has fewer nodes to visit."""
    if isinstance(node, str) and nodes and isinstance(nodes[-1], str):
        nodes[-1] += node
    else:
        nodes.append(node)


def parse(text: str) -> tuple[tuple[Node, ...], frozenset[str]]:
    """The node tree and every variable path of ``text``; TemplateSyntaxError when malformed."""
    texts, tags = _tokenize(text)
    _mark_standalone(texts, tags)
    root: list[Node] = []
    stack: list[_Frame] = []
    variables: set[str] = set()

    def current() -> list[Node]:
        if not stack:
            return root
        frame = stack[-1]
        return frame.then if frame.otherwise is None else frame.otherwise

    for i, tag in enumerate(tags):
        if texts[i]:
            _append(current(), texts[i])
        content = tag.content.strip()
        if content.startswith("!"):
            continue
        if not content:
            raise _error(text, tag.pos, "empty tag '{{}}'")
        if content == "else":
            if not stack:
                raise _error(text, tag.pos, "{{else}} outside an {{#if}} or {{#unless}} block")
            if stack[-1].otherwise is not None:
                raise _error(text, tag.pos, f"second {{{{else}}}} in the same {{{{#{stack[-1].kind}}}}} block")
            stack[-1].otherwise = []
            continue
        block = _BLOCK_RE.match(content)
        if block:
            sigil, name, arg = block.groups()
            if name not in ("if", "unless"):
                raise _error(text, tag.pos, f"unknown block '{{{{{sigil}{name}}}}}': use #if or #unless")
            if sigil == "#":
                if not _PATH_RE.match(arg):
                    raise _error(text, tag.pos, f"{{{{#{name}}}}} needs one variable name, got {arg!r}")
                variables.add(arg)
                stack.append(_Frame(name, arg, tag.pos, []))
                continue
            if arg:
                raise _error(text, tag.pos, f"{{{{/{name}}}}} takes no argument")
            if not stack:
                raise _error(text, tag.pos, f"{{{{/{name}}}}} without a matching {{{{#{name}}}}}")
            frame = stack.pop()
            if frame.kind != name:
                line, column = _position(text, frame.pos)
                raise _error(
                    text,
                    tag.pos,
                    f"{{{{/{name}}}}} closes {{{{#{frame.kind}}}}} opened at line {line}, column {column}",
                )
            then, otherwise = tuple(frame.then), tuple(frame.otherwise or ())
            if frame.kind == "unless":
                then, otherwise = otherwise, then
            _append(current(), (*_var_node(IF, frame.path), then, otherwise))
            continue
        if not _PATH_RE.match(content):
            raise _error(text, tag.pos, f"invalid variable name {content!r}")
        variables.add(content)
        _append(current(), _var_node(VAR, content))
    if stack:
        frame = stack[-1]
        raise _error(text, frame.pos, f"{{{{#{frame.kind} {frame.path}}}}} is never closed")
    if texts[-1]:
        _append(root, texts[-1])
    return tuple(root), frozenset(variables)
