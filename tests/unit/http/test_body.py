"""One rule for every route's body: declared size, bounded read, media type, JSON."""

from __future__ import annotations

import io
from typing import Any

import pytest
from billing.errors import MalformedRequestError, PayloadTooLargeError, UnsupportedMediaTypeError
from billing.http.body import parse_json_object, read_bounded, require_json
from flask import Request
from werkzeug.test import EnvironBuilder


class CountingStream(io.BytesIO):
    """A body stream that remembers how many bytes were asked of it."""

    def __init__(self, data: bytes) -> None:
        super().__init__(data)
        self.taken = 0

    def read(self, size: int | None = -1) -> bytes:
        chunk = super().read(size)
        self.taken += len(chunk)
        return chunk


def request(body: bytes, *, declared: bool = True, **headers: Any) -> tuple[Request, CountingStream]:
    stream = CountingStream(body)
    environ = EnvironBuilder(method="POST", input_stream=stream, headers=headers).get_environ()
    if declared:
        environ["CONTENT_LENGTH"] = str(len(body))
    else:  # a chunked upload: no length, the server hands over a stream until it ends
        environ.pop("CONTENT_LENGTH", None)
        environ["wsgi.input_terminated"] = True
    return Request(environ), stream


def test_a_body_within_the_limit_is_read_whole() -> None:
    req, _ = request(b'{"a": 1}')
    assert read_bounded(req, 8) == b'{"a": 1}'


def test_a_declared_size_over_the_limit_is_refused_without_reading() -> None:
    req, stream = request(b"x" * 5000)
    with pytest.raises(PayloadTooLargeError):
        read_bounded(req, 4096)
    assert stream.taken == 0


def test_a_chunked_body_over_the_limit_is_refused_one_byte_past_it() -> None:
    req, stream = request(b"x" * 100_000, declared=False)
    with pytest.raises(PayloadTooLargeError):
        read_bounded(req, 4096)
    assert stream.taken == 4097


@pytest.mark.parametrize(
    "content_type",
    [
        "application/json",
        "application/json; charset=utf-8",
        "application/JSON; charset=UTF8",
        "application/vnd.erp+json",
    ],
)
def test_json_media_types_are_accepted(content_type: str) -> None:
    require_json(content_type)


@pytest.mark.parametrize(
    "content_type", [None, "", "text/plain", "application/x-www-form-urlencoded", "application/json; charset=latin-1"]
)
def test_anything_else_is_unsupported(content_type: str | None) -> None:
    with pytest.raises(UnsupportedMediaTypeError):
        require_json(content_type)


@pytest.mark.parametrize(
    ("raw", "why"),
    [
        (b"[]", "must be a JSON object"),
        (b"{", "not valid JSON"),
        (b"\xff", "not valid UTF-8"),
        (b'{"a": NaN}', "not valid JSON"),
        (b'{"a": "\\u0000"}', "NUL"),
        (b'{"a": "\\ud800"}', "surrogate"),
    ],
)
def test_bodies_that_are_not_a_storable_json_object_are_malformed(raw: bytes, why: str) -> None:
    with pytest.raises(MalformedRequestError, match=why):
        parse_json_object(raw)


def test_an_escaped_backslash_before_u0000_is_text_not_nul() -> None:
    assert parse_json_object(b'{"a": "\\\\u0000"}') == {"a": "\\u0000"}


def test_a_body_of_bare_containers_is_refused_before_it_is_decoded_and_memory_stays_flat() -> None:
    import tracemalloc

    limit = 4 * 1024 * 1024
    hostile = b'{"contacts": [' + b"{}," * (limit // 3 - 10) + b"{}]}"
    tracemalloc.start()
    try:
        with pytest.raises(PayloadTooLargeError, match="objects and arrays"):
            parse_json_object(hostile, limit=limit)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 1024 * 1024  # measured before: 255 MB of heap for 9 MB of "{},"


def test_realistic_contacts_fit_the_container_budget() -> None:
    import json

    contact = {
        "phone": "+55 11 99999-8888",
        "name": "Maria da Silva",
        "due_date": "2026-11-20",
        "amount": "1.234,56",
        "invoice_id": "NF-2026-000123",
        "variables": {"mensagem": "Obrigado", "codigo": 123},
    }
    body = json.dumps({"contacts": [contact] * 1000}).encode()
    assert len(parse_json_object(body, limit=len(body))["contacts"]) == 1000


@pytest.mark.parametrize(
    "shape",
    [
        b"[" + b"1.5," * 1_500_000 + b"1]",
        b"{" + b",".join(b'"k%d":1' % i for i in range(500_000)) + b"}",
    ],
    ids=["a list of short numbers", "an object of short keys"],
)
def test_a_body_of_dense_elements_is_refused_before_it_is_decoded(shape: bytes) -> None:
    import tracemalloc

    tracemalloc.start()
    try:
        with pytest.raises(PayloadTooLargeError, match="elements"):
            parse_json_object(shape, limit=6 * 1024 * 1024)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 1024 * 1024  # measured before: 80-98 MB of heap for 6 MB of either shape
