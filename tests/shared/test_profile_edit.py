"""The rules of a member's profile edit, shared by the notifier's form and
ingest's consumer: bounded, NFC, no control or direction-changing characters."""

from __future__ import annotations

import unicodedata

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from shared.profile_edit import (
    MAX_CITIES,
    MAX_TEXT,
    EditError,
    ProfileEdit,
    clean_list,
    clean_text,
)

GOOD = {
    "desired_roles": ["Executive Assistant"],
    "cities": ["Milano", "Torino"],
    "remote": "hybrid",
    "languages": ["it", "en"],
    "blocked_companies": ["Acme S.p.A."],
}


def test_a_good_edit_round_trips():
    edit = ProfileEdit.from_json(GOOD)
    assert ProfileEdit.from_json(edit.to_json()) == edit
    assert edit.cities == ("Milano", "Torino")


def test_text_is_nfc_with_spaces_collapsed_and_duplicates_dropped():
    decomposed = unicodedata.normalize("NFD", "Forlì")
    assert clean_list("cities", [f"  {decomposed} ", "FORLÌ", "", "Cesena\t"], 10) == (
        "Forlì",
        "Cesena",
    )


@pytest.mark.parametrize("bad", ["Acme\x00", "Acme\x1b[31m", "Acme\u202eSpA", "a\nb"])
def test_control_and_direction_characters_are_refused(bad):
    with pytest.raises(EditError) as caught:
        clean_text("blocked_companies", bad)
    assert caught.value.problem == "control"
    assert bad not in str(caught.value)  # the value never reaches a log or a reason


def test_bounds():
    with pytest.raises(EditError, match="too_long"):
        clean_text("cities", "x" * (MAX_TEXT + 1))
    with pytest.raises(EditError, match="cities: too_many"):
        ProfileEdit.from_json({**GOOD, "cities": [f"c{i}" for i in range(MAX_CITIES + 1)]})
    with pytest.raises(EditError, match="remote: choice"):
        ProfileEdit.from_json({**GOOD, "remote": "sometimes"})
    with pytest.raises(EditError, match="languages: choice"):
        ProfileEdit.from_json({**GOOD, "languages": ["ITA"]})
    with pytest.raises(EditError, match="desired_roles: choice"):
        ProfileEdit.from_json({**GOOD, "desired_roles": "Executive Assistant"})


JSONISH = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=30),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner),
    max_leaves=12,
)


# Slow on a loaded machine: no deadline, and no health check on generation time.
@settings(deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.dictionaries(
        st.sampled_from([*GOOD, "other"]),
        JSONISH | st.lists(st.text(max_size=120), max_size=25),
    )
)
def test_anything_is_an_edit_or_a_named_error(data):
    try:
        edit = ProfileEdit.from_json(data)
    except EditError as exc:  # any other exception fails the test
        failed: str | None = exc.field
    else:
        failed = None
    if failed is not None:
        assert failed in GOOD
        return
    for value in (*edit.desired_roles, *edit.cities, *edit.blocked_companies):
        assert value == unicodedata.normalize("NFC", value)
        assert 0 < len(value) <= MAX_TEXT
        assert value == value.strip()
