"""Request bodies, one rule for every route: the declared size, the media type, a bounded read, JSON.

Every route reads its body through ``read_bounded``: a ``Content-Length`` over the limit is refused
before anything is read, and a body that turns out longer (chunked, or lying about its length) is
refused after reading one byte past the limit, never buffered whole. JSON routes accept
``application/json`` and any ``application/*+json``, in UTF-8 (no charset, or a UTF-8 one).
"""

from __future__ import annotations

import json
import re
from typing import TYPE_CHECKING, Any

from billing.errors import MalformedRequestError, PayloadTooLargeError, UnsupportedMediaTypeError

if TYPE_CHECKING:
    from flask import Request

_READ_CHUNK = 1 << 16
# A \u0000 escape that is not itself an escaped backslash followed by "u0000".
_NUL_ESCAPE = re.compile(rb"(?<!\\)(?:\\\\)*\\u0000")
_SURROGATE_ESCAPE = re.compile(rb"\\u[dD][89a-fA-F]")


def reject_declared_size(request: Request, limit: int) -> None:
    """413 from the headers alone, before the body is read or the caller is authenticated."""
    length = request.content_length
    if length is not None and length > limit:
        raise PayloadTooLargeError(f"the body has {length} bytes; the limit is {limit}")


def read_bounded(request: Request, limit: int) -> bytes:
    """Read at most ``limit`` bytes; a body that is longer is refused without reading the rest."""
    reject_declared_size(request, limit)
    stream = request.stream
    chunks: list[bytes] = []
    size = 0
    while True:
        chunk = stream.read(min(_READ_CHUNK, limit + 1 - size))
        if not chunk:
            break
        chunks.append(chunk)
        size += len(chunk)
        if size > limit:
            raise PayloadTooLargeError(f"the body is over the limit of {limit} bytes")
    return b"".join(chunks)


def is_json_media_type(media: str) -> bool:
    return media == "application/json" or (media.startswith("application/") and media.endswith("+json"))


def require_json(content_type: str | None) -> None:
    """415 unless the ``Content-Type`` declares JSON in UTF-8."""
    media, *params = (content_type or "").split(";")
    media = media.strip().lower()
    if not is_json_media_type(media):
        raise UnsupportedMediaTypeError(f"send the body as application/json (got {media or 'none'})")
    for param in params:
        name, _, value = param.partition("=")
        charset = value.strip().strip('"')
        if name.strip().lower() == "charset" and charset.lower().replace("-", "") != "utf8":
            raise UnsupportedMediaTypeError(f"the body must be UTF-8 (got charset={charset})")


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON")


# A realistic contact costs one JSON object or array per ~230 bytes of body and one comma per ~50; bare
# "{}," decodes to ~28 times its size (9 MB of them: 255 MB of heap), a list of short numbers or an
# object of short keys to ~15 times. Bodies denser than these ratios of the limit are refused before
# decoding, which bounds what the decoder can build to a few times the limit.
BYTES_PER_CONTAINER = 50
BYTES_PER_ELEMENT = 20


def parse_json_object(data: bytes, *, limit: int | None = None) -> dict[str, Any]:
    """A JSON object from UTF-8 bytes, or 400 naming what is wrong (NUL and lone surrogates included,
    since PostgreSQL text can hold neither). With ``limit`` (the body limit), a body with more objects
    and arrays than ``limit // BYTES_PER_CONTAINER`` is refused (413) before it is decoded."""
    if limit is not None:
        containers = data.count(b"{") + data.count(b"[")
        budget = max(limit // BYTES_PER_CONTAINER, 1000)
        if containers > budget:
            raise PayloadTooLargeError(
                f"the body holds {containers} JSON objects and arrays; at most {budget} fit its size limit"
            )
        elements = data.count(b",")
        element_budget = max(limit // BYTES_PER_ELEMENT, 1000)
        if elements > element_budget:
            raise PayloadTooLargeError(
                f"the body holds {elements} JSON elements; at most {element_budget} fit its size limit"
            )
    if b"\\u0000" in data and _NUL_ESCAPE.search(data):
        raise MalformedRequestError("the body must not contain NUL characters (\\u0000)")
    try:
        value = json.loads(data.decode("utf-8"), parse_constant=_refuse_constant)
    except UnicodeDecodeError as exc:
        raise MalformedRequestError("the body is not valid UTF-8") from exc
    except (ValueError, RecursionError) as exc:
        raise MalformedRequestError(f"the body is not valid JSON: {exc}") from exc
    if not isinstance(value, dict):
        raise MalformedRequestError("the body must be a JSON object")
    if _SURROGATE_ESCAPE.search(data):
        try:
            json.dumps(value, ensure_ascii=False).encode("utf-8")
        except UnicodeEncodeError as exc:
            raise MalformedRequestError("the body contains an unpaired UTF-16 surrogate escape") from exc
    return value
