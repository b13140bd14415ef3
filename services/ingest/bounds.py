"""Bounds on what a client can send, checked before anything else reads it.

JSON as Python reads it accepts ``NaN``, ``Infinity``, ``1e999`` (a float
overflowing to infinity) and integers of any length (past 4300 digits
``int()`` raises): none of these is a salary, and PostgreSQL's jsonb refuses
the first three. They are refused while parsing, with a reason that names the
rule, never the value. Header values and path ids get lengths and a character
set; dates get a horizon.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from datetime import date
from typing import Any

import orjson

# Larger than any salary or count in a document we accept; small enough to be
# exact in a double and in jsonb.
MAX_DIGITS = 15
MAX_MAGNITUDE = 1e15
MAX_WEBHOOK_ID = 200  # Standard Webhooks ids are short ("msg_" + a ulid/uuid)
MAX_TIMESTAMP = 20
MAX_SIGNATURE = 2000  # a few "v1,<base64>" entries, for secrets in rotation
MAX_EXTERNAL_ID = 200
# What applicant tracking systems send for "no end date": taken as exactly that.
NO_END_DATE = "9999-12-31"
# The range of a valid_through. Far-future dates (2099-12-31) are what some
# companies send for "open until filled", and harmless; past 2100 they are a
# typo or a sentinel we do not know, and date arithmetic near year 9999
# overflows (the notifier adds days to it).
FIRST_DAY = date(2000, 1, 1)
LAST_DAY = date(2100, 12, 31)


class BodyError(ValueError):
    """A body that is not JSON we read; ``reason`` quotes none of it."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def _constant(_: str) -> Any:
    raise BodyError("The body holds NaN or Infinity, which are not JSON numbers.")


def _int(text: str) -> int:
    if len(text.lstrip("-")) > MAX_DIGITS:
        raise BodyError(f"The body holds a number of more than {MAX_DIGITS} digits.")
    return int(text)


def _float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value) or abs(value) >= MAX_MAGNITUDE:
        raise BodyError(f"The body holds a number of {MAX_DIGITS} or more digits.")
    return value


def parse_json(body: bytes) -> Any:
    """The body's JSON with every number finite and of sensible magnitude."""
    # orjson reads a valid document to the same values several times faster;
    # it accepts no more than the standard library (no NaN, no trailing
    # data, strict UTF-8, an integer past 64 bits read as a float). A
    # document it refuses, or that holds a number out of bounds, is read (or
    # refused, with its reason) by the checked parser below.
    try:
        document = orjson.loads(body)
    except orjson.JSONDecodeError:
        return _parse_checked(body)
    return document if _numbers_in_bounds(document) else _parse_checked(body)


_MAX_INT = 10**MAX_DIGITS  # the first integer of MAX_DIGITS + 1 digits


def _numbers_in_bounds(document: Any) -> bool:
    """Whether every number would pass ``_int`` and ``_float``."""
    pending = [document]
    while pending:
        value = pending.pop()
        kind = type(value)
        if kind is dict:
            pending.extend(value.values())
        elif kind is list:
            pending.extend(value)
        elif kind is int:
            if not -_MAX_INT < value < _MAX_INT:
                return False
        elif kind is float and not -MAX_MAGNITUDE < value < MAX_MAGNITUDE:
            return False
    return True


def _parse_checked(body: bytes) -> Any:
    try:
        return json.loads(body, parse_constant=_constant, parse_int=_int, parse_float=_float)
    except BodyError:
        raise
    # RecursionError: nested deeper than the parser goes ("[[[[..." fits well
    # inside the size limit), a 400 like any other unreadable body.
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError) as exc:
        where = (
            f" at line {exc.lineno}, column {exc.colno}"
            if isinstance(exc, json.JSONDecodeError)
            else ""
        )
        raise BodyError(f"The body is not valid JSON{where}.") from None
    except ValueError:  # anything else the number parsers refuse
        raise BodyError("The body holds a number we cannot read.") from None


def check_webhook_headers(headers: Mapping[str, str]) -> str | None:
    """Why the Standard Webhooks headers are out of bounds, or None. Missing
    ones are the signature check's to name."""
    limits = (
        ("webhook-id", MAX_WEBHOOK_ID),
        ("webhook-timestamp", MAX_TIMESTAMP),
        ("webhook-signature", MAX_SIGNATURE),
    )
    for name, limit in limits:
        value = headers.get(name)
        if value is None:
            continue
        if len(value) > limit:
            return f"{name} is longer than {limit} characters."
        # Space separates signatures in webhook-signature; nothing else may:
        # printable ASCII and space are exactly the ASCII isprintable() takes.
        if value and not (value.isascii() and value.isprintable()):
            return f"{name} holds characters other than printable ASCII."
    return None


def check_external_id(external_id: str) -> bool:
    """A member's platform id in a path: 1-200 printable characters (no NUL,
    no control character, no unpaired surrogate)."""
    return 1 <= len(external_id) <= MAX_EXTERNAL_ID and external_id.isprintable()


def valid_through_error(value: str) -> str | None:
    """Why a posting's valid_through is out of range, or None."""
    if value == NO_END_DATE:
        return None
    if not FIRST_DAY <= date.fromisoformat(value) <= LAST_DAY:
        return (
            f"must be a date from {FIRST_DAY} to {LAST_DAY}"
            f" (or {NO_END_DATE}, or left out, for no end date)"
        )
    return None


def drop_sentinels(data: dict[str, Any]) -> None:
    """A posting stored with ``valid_through`` 9999-12-31 would look like an
    opening valid for eight thousand years: it is stored without one."""
    if data.get("valid_through") == NO_END_DATE:
        del data["valid_through"]
