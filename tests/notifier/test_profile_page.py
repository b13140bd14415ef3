"""The preference page's profile part: the roles it offers are the matcher's
roles, named in the member's language; what it shows ticked; what it reads
back from any posted form (a named error, never an exception of another kind)."""

from __future__ import annotations

import functools
import unicodedata

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from multidict import MultiDict

from services.matcher.titles import TitleMatcher
from services.notifier.profile_page import OFFERED_ROLES, edit_from_form, view
from services.notifier.wording import LANGUAGES, ROLE_NAMES
from shared.profile_edit import MAX_ROLES, EditError, ProfileEdit


@pytest.mark.parametrize("language", LANGUAGES)
def test_a_ticked_role_is_stored_under_a_name_the_matcher_resolves_to_it(language):
    matcher = TitleMatcher()
    for role_id in OFFERED_ROLES:
        edit = edit_from_form(MultiDict([("role", role_id), ("remote", "no")]))
        (stored,) = edit.desired_roles
        assert matcher.resolve(stored)[0].role == role_id
        # The page names it in the member's language, and shows it ticked.
        shown = {c.value: c for c in view({"desired_roles": [stored]}, language).roles}
        assert shown[role_id].label == ROLE_NAMES[language][role_id]
        assert shown[role_id].checked


def test_the_page_shows_the_profile_as_stored():
    profile = {
        "desired_roles": ["Assistente di direzione", "Assistente del CEO"],
        "cities": ["Milano", "Monza"],
        "remote": "hybrid",
        "languages": ["it", "ja"],
        "blocked_companies": ["Acme SpA"],
    }
    shown = view(profile, "it")
    assert [c.value for c in shown.roles if c.checked] == ["executive-assistant"]
    # Free text from the platform is kept, ticked, in its own words.
    assert [(c.value, c.checked) for c in shown.kept_roles] == [("Assistente del CEO", True)]
    assert shown.cities == "Milano\nMonza"
    assert shown.remote == "hybrid"
    ticked = {c.value: c.label for c in shown.languages if c.checked}
    assert ticked == {"it": "italiano", "ja": "giapponese"}
    assert shown.blocked == "Acme SpA"


def test_no_form_without_a_copy_of_the_profile():
    # A member not updated since the notifier keeps the profile: the page
    # cannot show what saving would replace.
    assert not view({}, "en").known
    assert view({"remote": "no"}, "en").known


def test_the_form_is_read_back():
    form = MultiDict(
        [
            ("role", "executive-assistant"),
            ("role", "chief-of-staff"),
            ("role_keep", "Assistente del CEO"),
            ("cities", "Milano\r\nMonza\r\n\r\n"),
            ("remote", "remote"),
            ("spoken", "it"),
            ("spoken", "sv"),
            ("blocked", "Acme SpA\nFerretti & Bianchi"),
        ]
    )
    edit = edit_from_form(form)
    assert edit.desired_roles == ("Executive Assistant", "Chief of Staff", "Assistente del CEO")
    assert edit.cities == ("Milano", "Monza")
    assert edit.remote == "remote"
    assert edit.languages == ("it", "sv")
    assert edit.blocked_companies == ("Acme SpA", "Ferretti & Bianchi")


@pytest.mark.parametrize(
    ("pairs", "field"),
    [
        ([("role", "chef"), ("remote", "no")], "desired_roles"),  # not offered
        ([("remote", "no"), ("remote", "remote")], "remote"),
        ([("remote", "no"), ("spoken", "<script>")], "languages"),
        ([("remote", "no"), ("cities", "\n".join(f"c{i}" for i in range(11)))], "cities"),
        ([("remote", "no"), ("blocked", "Acme\u202e")], "blocked_companies"),
        ([], "remote"),
    ],
)
def test_a_bad_form_names_its_field(pairs, field):
    with pytest.raises(EditError) as caught:
        edit_from_form(MultiDict(pairs))
    assert caught.value.field == field


nfc = functools.partial(unicodedata.normalize, "NFC")
FIELDS = {"desired_roles", "cities", "remote", "languages", "blocked_companies"}
NAMES = st.sampled_from(["role", "role_keep", "cities", "remote", "spoken", "blocked", "x"])


# Slow on a loaded machine: no deadline, and no health check on generation time.
@settings(deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.tuples(NAMES, st.text(max_size=200)), max_size=30))
def test_any_form_is_an_edit_or_a_named_error(pairs):
    outcome: object
    try:
        outcome = edit_from_form(MultiDict(pairs))
    except EditError as exc:  # any other exception fails the test
        outcome = exc.field
    if isinstance(outcome, str):
        assert outcome in FIELDS
    else:
        assert isinstance(outcome, ProfileEdit)
        assert len(outcome.desired_roles) <= MAX_ROLES
        offered = {ROLE_NAMES["en"][r] for r in OFFERED_ROLES}
        kept = {" ".join(nfc(v).split()) for k, v in pairs if k == "role_keep"}
        assert set(outcome.desired_roles) <= offered | kept
