"""Webhook bodies are read by orjson when they can hold no number out of
bounds; the answer must be the checked parser's, value for value, and what
either refuses is refused with the checked parser's reason."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from services.ingest.bounds import BodyError, _parse_checked, parse_json

NUMBERS = st.one_of(
    st.integers(-(10**16), 10**16),
    st.sampled_from([10**14, 10**15 - 1, 10**15, -(10**15), 2**63, 2**64, 10**30]),
    st.floats(allow_nan=False, allow_infinity=False),
    st.sampled_from([0.0, -0.0, 1e15, 999999999999999.9, 1e-7, 1e300]),
)
SCALARS = st.one_of(st.none(), st.booleans(), NUMBERS, st.text(max_size=20))
VALUES = st.recursive(
    SCALARS,
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=20,
)


def outcome(parse: Any, body: bytes) -> tuple[str, str]:
    """What a parser makes of a body, in a form that tells 1 from 1.0 and
    0.0 from -0.0 (repr), or its refusal's reason."""
    try:
        return ("value", repr(parse(body)))
    except BodyError as exc:
        return ("refused", exc.reason)


def same(body: bytes) -> None:
    assert outcome(parse_json, body) == outcome(_parse_checked, body)


@given(VALUES, st.sampled_from([None, 2]), st.sampled_from([(",", ":"), (", ", ": ")]))
def test_documents_read_the_same(value, indent, separators):
    same(json.dumps(value, indent=indent, separators=separators, ensure_ascii=False).encode())
    same(json.dumps(value, ensure_ascii=True).encode())


@given(st.binary(max_size=40))
@example(b'{"a": 1, "a": 2}')
@example(b'"\\ud800"')
@example(b'"\\ud83d\\ude00"')
@example(b"\xef\xbb\xbf{}")
@example(b'{"n": NaN}')
@example(b"[1e400]")
@example(b"[999999999999999.99999]")
@example(b"[123456789012345678901234567890]")
@example(b"[" * 5000 + b"]" * 5000)
@example(b'{"a": 1} x')
@example('{"é": "ü"}'.encode("utf-16"))
def test_any_bytes_read_or_refused_the_same(body):
    same(body)


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (b'{"salary": 1000000000000000}', "The body holds a number of more than 15 digits."),
        (b'{"salary": 1e15}', "The body holds a number of 15 or more digits."),
        (b'{"salary": NaN}', "The body holds NaN or Infinity, which are not JSON numbers."),
        (b'{"salary": 1,}', "The body is not valid JSON at line 1, column 14."),
    ],
)
def test_refusals_keep_their_reasons(body, reason):
    with pytest.raises(BodyError) as refused:
        parse_json(body)
    assert refused.value.reason == reason
