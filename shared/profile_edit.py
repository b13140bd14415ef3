"""A member's own edit of their matching profile, from the preference page.

The notifier checks the form with it and seals the result into
``profile.edited``; ingest, which owns the profile, checks the opened seal
again with the same rules before applying it (a sealed payload is trusted for
who wrote it, not for its shape). Pure: no I/O.

Bounds are tighter than the member API's: a person ticks a few roles and
types a few cities, and every value is shown back on a page and compared by
the matcher.
"""

from __future__ import annotations

import dataclasses
import re
import unicodedata
from collections.abc import Iterable, Mapping
from typing import Any, Literal, get_args

Remote = Literal["no", "hybrid", "remote"]
REMOTE: tuple[Remote, ...] = get_args(Remote)
Field = Literal["desired_roles", "cities", "remote", "languages", "blocked_companies"]
Problem = Literal["too_many", "too_long", "control", "choice"]

MAX_ROLES = 10
MAX_CITIES = 10
MAX_LANGUAGES = 12
MAX_BLOCKED = 20
MAX_TEXT = 100

_LANGUAGE_CODE = re.compile(r"[a-z]{2}")
# Line and paragraph separators, bidi overrides and isolates: they can make a
# shown company name read differently from what is stored.
_INVISIBLE = frozenset("\u2028\u2029\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")


class EditError(ValueError):
    """One field of an edit is not acceptable. Holds the field and a code,
    never the value (it reaches logs and dead-letter reasons)."""

    def __init__(self, field: Field, problem: Problem) -> None:
        super().__init__(f"{field}: {problem}")
        self.field: Field = field
        self.problem: Problem = problem


@dataclasses.dataclass(frozen=True, slots=True)
class ProfileEdit:
    desired_roles: tuple[str, ...]
    cities: tuple[str, ...]
    remote: Remote
    languages: tuple[str, ...]
    blocked_companies: tuple[str, ...]

    def to_json(self) -> dict[str, Any]:
        return {
            "desired_roles": list(self.desired_roles),
            "cities": list(self.cities),
            "remote": self.remote,
            "languages": list(self.languages),
            "blocked_companies": list(self.blocked_companies),
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> ProfileEdit:
        """The edit, checked; ``EditError`` on the first field that fails."""

        def texts(field: Field) -> list[str]:
            value = data.get(field, [])
            if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
                raise EditError(field, "choice")
            return value

        remote = data.get("remote")
        for known in REMOTE:  # narrows the type, and refuses anything else
            if remote == known:
                break
        else:
            raise EditError("remote", "choice")
        return cls(
            desired_roles=clean_list("desired_roles", texts("desired_roles"), MAX_ROLES),
            cities=clean_list("cities", texts("cities"), MAX_CITIES),
            remote=known,
            languages=clean_languages(texts("languages")),
            blocked_companies=clean_list(
                "blocked_companies", texts("blocked_companies"), MAX_BLOCKED
            ),
        )


def clean_text(field: Field, value: str) -> str:
    """One value as a person meant it: NFC, spaces collapsed, no control or
    direction-changing characters, at most ``MAX_TEXT`` characters."""
    text = unicodedata.normalize("NFC", value)
    if any((unicodedata.category(c) == "Cc" and c not in "\t") or c in _INVISIBLE for c in text):
        raise EditError(field, "control")
    text = " ".join(text.split())
    if len(text) > MAX_TEXT:
        raise EditError(field, "too_long")
    return text


def clean_list(field: Field, values: Iterable[str], limit: int) -> tuple[str, ...]:
    """Cleaned, empty ones dropped, duplicates (ignoring case) dropped, in order."""
    seen: set[str] = set()
    kept: list[str] = []
    for value in values:
        text = clean_text(field, value)
        if text and text.casefold() not in seen:
            seen.add(text.casefold())
            kept.append(text)
    if len(kept) > limit:
        raise EditError(field, "too_many")
    return tuple(kept)


def clean_languages(codes: Iterable[str]) -> tuple[str, ...]:
    kept: list[str] = []
    for code in codes:
        if not _LANGUAGE_CODE.fullmatch(code):
            raise EditError("languages", "choice")
        if code not in kept:
            kept.append(code)
    if len(kept) > MAX_LANGUAGES:
        raise EditError("languages", "too_many")
    return tuple(kept)


def split_lines(text: str) -> list[str]:
    """A textarea's lines (any line break a browser sends)."""
    return text.splitlines()
