"""The compiled schemas may only ever say "valid" where jsonschema says so too:
they short-cut validation of good documents, jsonschema stays the authority."""

from __future__ import annotations

import copy
from typing import Any

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from services.ingest.schemas import _VALIDATORS, CLOSING, MEMBER, POSTING, WEBHOOK, fast_valid
from tests.ingest.conftest import posting

MEMBER_DOC: dict[str, Any] = {
    "consent": {"opted_in": True, "at": "2026-11-01T09:30:00Z", "text_version": "2026-10"},
    "language": "sv",
    "timezone": "Europe/Stockholm",
    "email": "anna.berg@example.se",
    "name": "Anna Berg",
    "desired_roles": ["Ledningsassistent"],
    "skills": ["Excel"],
    "languages": ["sv", "en"],
    "locations": {"cities": ["Stockholm"], "regions": ["Stockholms län"], "country": "SE"},
    "remote": "hybrid",
    "seniority": "senior",
    "current_employer": None,
    "employer_group": "Acme Group",
    "blocked_companies": ["Globex AB"],
    "notifications": {"frequency": "daily", "quiet_hours": {"start": "22:00", "end": "07:00"}},
}
DOCUMENTS = [
    (POSTING, posting()),
    (CLOSING, {"external_id": "ea-1"}),
    (WEBHOOK, {"type": "job.created", "data": posting()}),
    (MEMBER, MEMBER_DOC),
]

# Values near the rules: codes of the wrong case or length, impossible dates,
# integers as floats and booleans, empty and oversized text, nulls.
tricky = st.one_of(
    st.sampled_from(
        [
            "it",
            "IT",
            "i",
            "ita",
            "SE",
            "se",
            "2027-02-31",
            "2027-01-31",
            "2026-13-01",
            "2026-11-01T09:30:00Z",
            "not a date",
            "a@b.c",
            "a@b",
            "@b.c",
            "a b@c.d",
            "",
            " ",
            "x" * 201,
            "22:00",
            "24:00",
            "7:00",
            "hybrid",
            "remote",
            "no",
            "FULL_TIME",
            "senior",
            "EUR",
            "YEAR",
            "https://example.com",
            "job.created",
            "job.exploded",
        ]
    ),
    st.integers(-3, 3) | st.sampled_from([45000, 10**12]),
    st.floats(allow_nan=False, allow_infinity=False) | st.sampled_from([1.0, 0.0, 45000.0]),
    st.booleans(),
    st.none(),
    st.lists(st.sampled_from(["it", "en", "it", "X", 1, None]), max_size=14),
    st.dictionaries(st.sampled_from(["min", "max", "city", "start", "end", "x"]), st.integers()),
    st.text(max_size=8),
)


def paths(doc: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    out = [prefix]
    if isinstance(doc, dict):
        for key, value in doc.items():
            out += paths(value, (*prefix, key))
    elif isinstance(doc, list):
        for i, value in enumerate(doc):
            out += paths(value, (*prefix, i))
    return out


@st.composite
def mutated(draw) -> tuple[dict[str, Any], Any]:
    schema, original = draw(st.sampled_from(DOCUMENTS))
    doc = copy.deepcopy(original)
    for _ in range(draw(st.integers(1, 3))):
        path = draw(st.sampled_from(paths(doc)))
        if not path:
            continue
        parent = doc
        for part in path[:-1]:
            parent = parent[part]
        action = draw(st.sampled_from(["set", "delete", "add"]))
        if action == "delete" and isinstance(parent, dict):
            del parent[path[-1]]
        elif action == "add" and isinstance(parent, dict):
            parent[draw(st.sampled_from(["extra", "min", "city", "email"]))] = draw(tricky)
        else:
            parent[path[-1]] = draw(tricky)
    return schema, doc


@pytest.mark.parametrize(("schema", "doc"), DOCUMENTS)
def test_the_good_documents_take_the_short_cut(schema, doc):
    assert fast_valid(schema, doc)
    assert not list(_VALIDATORS[id(schema)].iter_errors(doc))


@settings(max_examples=1500, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(mutated())
@example((POSTING, {**posting(), "valid_through": "2027-02-31"}))
@example((MEMBER, {**MEMBER_DOC, "email": "a b@c.d"}))  # a space: our email rule refuses it
@example((MEMBER, {**MEMBER_DOC, "consent": {**MEMBER_DOC["consent"], "at": "yesterday"}}))
@example((POSTING, {**posting(), "salary": {"min": True, "max": 2, "currency": "EUR"}}))
def test_the_short_cut_never_accepts_what_jsonschema_refuses(case):
    schema, doc = case
    if fast_valid(schema, doc):
        assert not list(_VALIDATORS[id(schema)].iter_errors(doc))
