"""The JSON Schemas of what ingest accepts, and validation against them.

The same schemas are published (``/openapi.json``) and enforced, so the
document a company reads is the rule the service applies. Error messages are
built from the rule that failed, never from the submitted value: they can be
shown, logged or stored without carrying anyone's data.
"""

from __future__ import annotations

import re
import zoneinfo
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import fastjsonschema
import orjson
from jsonschema import Draft202012Validator, FormatChecker
from jsonschema.exceptions import ValidationError

from services.ingest.bounds import valid_through_error

# A yearly salary of a hundred million in any currency is not an assistant's.
MAX_SALARY = 100_000_000

LANGUAGE = {"type": "string", "pattern": "^[a-z]{2}$", "description": "ISO 639-1 code, e.g. it"}
COUNTRY = {"type": "string", "pattern": "^[A-Z]{2}$", "description": "ISO 3166-1 alpha-2, e.g. IT"}
SHORT_TEXT = {"type": "string", "minLength": 1, "maxLength": 200}
LANGUAGES = {"type": "array", "items": LANGUAGE, "maxItems": 12, "uniqueItems": True}
WORDS = {
    "type": "array",
    "items": {"type": "string", "minLength": 1, "maxLength": 80},
    "maxItems": 50,
}
REMOTE = {
    "enum": ["no", "hybrid", "remote"],
    "description": "no: on site; hybrid: partly remote; remote: fully remote",
}
SENIORITY = {"enum": ["junior", "mid", "senior", "executive"]}
EXTERNAL_ID = {
    "type": "string",
    "minLength": 1,
    "maxLength": 200,
    "pattern": "^[\\x21-\\x7e]+$",
    "description": "The company's own id for the opening (printable ASCII).",
}
HOUR_MINUTE = {"type": "string", "pattern": "^([01][0-9]|2[0-3]):[0-5][0-9]$"}

POSTING: dict[str, Any] = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "title": "Posting",
    "description": "An opening, close to schema.org JobPosting.",
    "type": "object",
    "additionalProperties": False,
    "required": ["external_id", "title", "location"],
    "properties": {
        "external_id": EXTERNAL_ID,
        "title": {"type": "string", "minLength": 2, "maxLength": 200},
        "description": {"type": "string", "maxLength": 20000},
        "employment_type": {
            "enum": ["FULL_TIME", "PART_TIME", "CONTRACTOR", "TEMPORARY", "INTERN", "OTHER"]
        },
        "location": {
            "type": "object",
            "additionalProperties": False,
            "required": ["country"],
            "properties": {
                "city": {"type": "string", "minLength": 1, "maxLength": 100},
                "region": {"type": "string", "minLength": 1, "maxLength": 100},
                "country": COUNTRY,
            },
        },
        "remote": REMOTE,
        "languages_required": LANGUAGES,
        "languages_nice": LANGUAGES,
        "skills": WORDS,
        "seniority": SENIORITY,
        "salary": {
            "type": "object",
            "additionalProperties": False,
            "required": ["currency", "period"],
            "properties": {
                "min": {"type": "number", "minimum": 0, "maximum": MAX_SALARY},
                "max": {"type": "number", "minimum": 0, "maximum": MAX_SALARY},
                "currency": {"type": "string", "pattern": "^[A-Z]{3}$"},
                "period": {"enum": ["HOUR", "MONTH", "YEAR"]},
            },
        },
        "valid_through": {"type": "string", "format": "date"},
        "language": {
            "type": "string",
            "pattern": "^[a-z]{2,3}$",
            "description": "The language the opening is written in (ISO 639, e.g. it, sv, en).",
        },
        "how_to_apply": {
            "type": "object",
            "additionalProperties": False,
            "properties": {
                "url": {"type": "string", "maxLength": 2000, "pattern": "^https?://[^\\s]+$"},
                "email": {"type": "string", "format": "email", "maxLength": 254},
                "instructions": {"type": "string", "maxLength": 2000},
            },
        },
    },
}

CLOSING: dict[str, Any] = {
    "title": "Closing",
    "type": "object",
    "additionalProperties": False,
    "required": ["external_id"],
    "properties": {"external_id": EXTERNAL_ID},
}

WEBHOOK_TYPES = ("job.created", "job.updated", "job.closed")

WEBHOOK: dict[str, Any] = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "title": "WebhookEvent",
    "type": "object",
    "additionalProperties": False,
    "required": ["type", "data"],
    "properties": {
        "type": {"enum": list(WEBHOOK_TYPES)},
        "timestamp": {"type": "string", "description": "When the company produced the event."},
        "data": {"type": "object"},
    },
}

MEMBER: dict[str, Any] = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "title": "MemberProfile",
    "type": "object",
    "additionalProperties": False,
    "required": ["consent", "language", "email", "name"],
    "properties": {
        "consent": {
            "type": "object",
            "additionalProperties": False,
            "required": ["opted_in", "at", "text_version"],
            "properties": {
                "opted_in": {"type": "boolean"},
                "at": {"type": "string", "format": "date-time"},
                "text_version": {"type": "string", "minLength": 1, "maxLength": 50},
            },
        },
        "language": {"enum": ["it", "sv", "en"]},
        "timezone": {"type": "string", "minLength": 1, "maxLength": 64},
        "email": {"type": "string", "format": "email", "maxLength": 254},
        "name": SHORT_TEXT,
        "desired_roles": {"type": "array", "items": SHORT_TEXT, "maxItems": 10},
        "skills": WORDS,
        "languages": LANGUAGES,
        "locations": {
            "type": "object",
            "additionalProperties": False,
            "properties": {
                "cities": {"type": "array", "items": SHORT_TEXT, "maxItems": 20},
                "regions": {"type": "array", "items": SHORT_TEXT, "maxItems": 20},
                "country": COUNTRY,
            },
        },
        "remote": REMOTE,
        "seniority": SENIORITY,
        "current_employer": {"type": ["string", "null"], "maxLength": 200},
        "employer_group": {"type": ["string", "null"], "maxLength": 200},
        "blocked_companies": {"type": "array", "items": SHORT_TEXT, "maxItems": 50},
        "notifications": {
            "type": "object",
            "additionalProperties": False,
            "properties": {
                "frequency": {"enum": ["instant", "daily", "weekly"]},
                "quiet_hours": {
                    "type": "object",
                    "additionalProperties": False,
                    "required": ["start", "end"],
                    "properties": {"start": HOUR_MINUTE, "end": HOUR_MINUTE},
                },
            },
        },
    },
}


@dataclass(frozen=True)
class FieldError:
    field: str
    message: str

    def to_json(self) -> dict[str, str]:
        return {"field": self.field, "message": self.message}


_FORMATS = FormatChecker()


def _is_email(value: object) -> bool:
    if not isinstance(value, str):
        return True
    local, at, domain = value.rpartition("@")
    return bool(at and local and "." in domain and not any(c.isspace() for c in value))


_FORMATS.checks("email")(_is_email)

_VALIDATORS = {
    id(schema): Draft202012Validator(schema, format_checker=_FORMATS)
    for schema in (POSTING, CLOSING, WEBHOOK, MEMBER)
}


def _format(name: str) -> Any:
    return lambda value: _FORMATS.conforms(value, name)


# The same schemas compiled to Python code: about ten times faster on a valid
# document, which is nearly every one. They only ever say "valid"; anything
# they refuse (or trip over) is judged again by jsonschema above, which names
# the fields and stays the one authority. Formats are jsonschema's own checks,
# so "2027-02-31" is no date here either; the keywords used are the draft-07
# subset both read alike, and a property test compares the two.
_FAST = {
    id(schema): fastjsonschema.compile(
        {k: v for k, v in schema.items() if k != "$schema"},
        formats={name: _format(name) for name in ("date", "date-time", "email")},
        use_default=False,
    )
    for schema in (POSTING, CLOSING, WEBHOOK, MEMBER)
}


def fast_valid(schema: dict[str, Any], data: Any) -> bool:
    """True only when the compiled schema accepts ``data``."""
    try:
        _FAST[id(schema)](data)
    except Exception:  # refused, or a document it cannot judge: ask jsonschema
        return False
    return True


def _field(parts: list[str | int]) -> str:
    text = ""
    for part in parts:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else part)
    return text or "(body)"


def _describe(error: ValidationError) -> list[tuple[str, str]]:
    """(relative field, message) pairs, from the failed rule only."""
    rule = str(error.validator)
    expected: Any = error.validator_value
    schema: Any = error.schema
    instance: Any = error.instance
    if rule == "additionalProperties":
        known = set(schema.get("properties", {}))
        extra = sorted(set(instance) - known) if isinstance(instance, dict) else []
        # A field name is the client's text: named only when it looks like one.
        return [
            (name if _FIELD_NAME.match(name) else "(name not shown)", "unknown field")
            for name in extra
        ]
    if rule == "required":
        missing = [name for name in expected if name not in instance]
        return [(name, "is required") for name in missing]
    if rule == "type":
        kinds = expected if isinstance(expected, str) else " or ".join(expected)
        return [("", f"must be of type {kinds}")]
    if rule == "enum":
        return [("", "must be one of: " + ", ".join(map(str, expected)))]
    if rule == "pattern":
        return [("", f"has the wrong format (expected {schema.get('description') or expected})")]
    messages = {
        "minLength": f"must be at least {expected} character(s)",
        "maxLength": f"must be at most {expected} characters",
        "maxItems": f"must have at most {expected} items",
        "uniqueItems": "must not repeat items",
        "minimum": f"must be at least {expected}",
        "maximum": f"must be at most {expected}",
        "format": f"must be a valid {expected}",
    }
    return [("", messages.get(rule, f"violates rule {rule}"))]


def validate(schema: dict[str, Any], data: Any, prefix: str = "") -> list[FieldError]:
    if fast_valid(schema, data):
        return []
    errors: list[FieldError] = []
    base: list[str | int] = [prefix] if prefix else []
    found = _VALIDATORS[id(schema)].iter_errors(data)
    for error in sorted(found, key=lambda e: [str(p) for p in e.path]):
        where = base + list(error.absolute_path)
        for relative, message in _describe(error):
            errors.append(FieldError(_field([*where, relative] if relative else where), message))
    return errors


_FIELD_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,63}$")
_UNSTORABLE = re.compile("[\x00\ud800-\udfff]")


def _surely_storable(data: Any) -> bool:
    """True when ``data`` certainly holds neither NUL nor a lone surrogate:
    orjson refuses lone surrogates and writes NUL as an escape, and one pass
    in C is far cheaper than the walk below (whose field names are only
    needed when something is found). False means: walk and see."""
    try:
        return b"\\u0000" not in orjson.dumps(data)
    except TypeError:
        return False


def unstorable(data: Any, path: list[str | int] | None = None) -> list[FieldError]:
    """Text PostgreSQL cannot store: NUL, and unpaired surrogates (valid in
    JSON's \\u escapes, not in UTF-8). Refused with the field, not a 500."""
    if _surely_storable(data):
        return []
    return _unstorable_at(data, path or [])


def _unstorable_at(data: Any, path: list[str | int]) -> list[FieldError]:
    if isinstance(data, str):
        if _UNSTORABLE.search(data):
            return [FieldError(_field(path), "contains NUL or an unpaired surrogate")]
        return []
    found: list[FieldError] = []
    items = (
        data.items()
        if isinstance(data, dict)
        else enumerate(data)
        if isinstance(data, list)
        else ()
    )
    for key, value in items:
        if isinstance(key, str) and _UNSTORABLE.search(key):
            found.append(FieldError(_field(path), "has a field name with NUL or a surrogate"))
            continue
        found.extend(_unstorable_at(value, [*path, key]))
    return found


def check_posting(data: Any, prefix: str = "data") -> list[FieldError]:
    errors = validate(POSTING, data, prefix) or unstorable(data, [prefix])
    if errors:
        return errors
    salary = data.get("salary") or {}
    if "min" in salary and "max" in salary and salary["min"] > salary["max"]:
        errors.append(FieldError(f"{prefix}.salary", "min must not exceed max"))
    horizon = "valid_through" in data and valid_through_error(data["valid_through"])
    if horizon:
        errors.append(FieldError(f"{prefix}.valid_through", horizon))
    return errors


def check_member(data: Any) -> list[FieldError]:
    """Every problem of a profile at once: the date and zone checks run
    beside the schema's (a CSV import reports all of a row's errors in one
    pass), on whichever of those fields is a string."""
    errors = validate(MEMBER, data) or unstorable(data)
    if not isinstance(data, dict):
        return errors
    reported = {e.field for e in errors}
    consent = data.get("consent")
    at_text = consent.get("at") if isinstance(consent, dict) else None
    if isinstance(at_text, str) and "consent.at" not in reported:
        try:
            at = datetime.fromisoformat(at_text)
        except ValueError:
            errors.append(FieldError("consent.at", "must be an ISO 8601 date and time"))
        else:
            if at.tzinfo is None:
                errors.append(FieldError("consent.at", "must include a UTC offset, e.g. +01:00"))
            elif not 2000 <= at.year <= 2100:
                errors.append(FieldError("consent.at", "must be a date between 2000 and 2100"))
    zone = data.get("timezone")
    if isinstance(zone, str) and "timezone" not in reported:
        try:
            zoneinfo.ZoneInfo(zone)
        except (zoneinfo.ZoneInfoNotFoundError, ValueError):
            errors.append(FieldError("timezone", "must be an IANA time zone, e.g. Europe/Rome"))
    return errors
