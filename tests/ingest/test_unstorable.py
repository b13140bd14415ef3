"""Text PostgreSQL cannot store (NUL, lone surrogates) is found wherever it
hides, and named by its field: the quick check in C that clears ordinary
documents may never clear one the field-by-field walk would refuse."""

from __future__ import annotations

from typing import Any

from hypothesis import example, given
from hypothesis import strategies as st

from services.ingest.schemas import _unstorable_at, unstorable

# Text rich in what matters here: NUL, both halves of a surrogate pair,
# backslashes and "u0000" spelled out (a quick check fooled by its own escaping
# would clear or refuse the wrong ones), and anything else Unicode holds.
text = st.text(
    alphabet=st.one_of(
        st.sampled_from(["\x00", "\ud800", "\udfff", "\\", "u", "0", "\u00e8"]),
        st.characters(),
    ),
    max_size=12,
)
documents = st.recursive(
    st.one_of(st.none(), st.booleans(), st.integers(), st.floats(allow_nan=False), text),
    lambda children: st.one_of(
        st.lists(children, max_size=4), st.dictionaries(text, children, max_size=4)
    ),
    max_leaves=12,
)


@given(documents)
@example({"title": "\\u0000"})  # the characters, not a NUL
@example({"title": "a\x00b"})
@example({"skills": ["ok", "\ud800"]})
@example({"\x00": "key"})
@example(2**70)  # past what orjson writes: the walk decides
def test_the_quick_check_agrees_with_the_walk(document: Any) -> None:
    assert unstorable(document, ["data"]) == _unstorable_at(document, ["data"])


def test_the_field_is_named() -> None:
    found = unstorable({"location": {"city": "Mi\x00lano"}, "skills": ["a", "\udc00"]}, ["data"])
    assert [(e.field, e.message) for e in found] == [
        ("data.location.city", "contains NUL or an unpaired surrogate"),
        ("data.skills[1]", "contains NUL or an unpaired surrogate"),
    ]


def test_an_ordinary_posting_is_storable() -> None:
    assert unstorable({"title": "Assistente di direzione", "skills": ["SAP Concur"]}) == []
