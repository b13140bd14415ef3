"""Resolution scans only the taxonomy keys that can align with a title
(``TitleMatcher._candidates``): it must never leave out one that does."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from services.matcher.titles import default_matcher, normalize_title, tokens_aligned

MATCHER = default_matcher()
KEYS = MATCHER._keys
LETTERS = "abcdeilmnorstvx"


@st.composite
def near_keys(draw: st.DrawFn) -> str:
    """A taxonomy key with typos, joined or split words, or a word more or less."""
    key = draw(st.sampled_from(KEYS))
    for _ in range(draw(st.integers(0, 3))):
        if not key:
            break
        i = draw(st.integers(0, len(key) - 1))
        edit = draw(st.sampled_from(["drop", "swap", "replace", "insert", "space", "join"]))
        if edit == "drop":
            key = key[:i] + key[i + 1 :]
        elif edit == "swap" and i + 1 < len(key):
            key = key[:i] + key[i + 1] + key[i] + key[i + 2 :]
        elif edit == "replace":
            key = key[:i] + draw(st.sampled_from(LETTERS)) + key[i + 1 :]
        elif edit == "insert":
            key = key[:i] + draw(st.sampled_from(LETTERS)) + key[i:]
        elif edit == "space":
            key = key[:i] + " " + key[i:]
        else:
            key = key.replace(" ", "", 1)
    if draw(st.booleans()):
        key = f"{key} {draw(st.sampled_from(KEYS))}"
    return normalize_title(key)


@settings(max_examples=300, deadline=None)
@given(near_keys())
def test_every_key_that_aligns_with_a_title_is_a_candidate(query: str):
    if not query:
        return
    candidates = set(MATCHER._candidates(query))
    for index, key in enumerate(KEYS):
        if tokens_aligned(query, key):
            assert index in candidates, (query, key)


def test_candidates_are_few():
    # The point of the filter: a title is compared with a small share of keys.
    sizes = [len(MATCHER._candidates(k)) for k in KEYS]
    assert sum(sizes) / len(sizes) < len(KEYS) / 4
