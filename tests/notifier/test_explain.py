"""Why a job fits, rendered from the matcher's structured explanation."""

from __future__ import annotations

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from services.notifier.catalogs import translations
from services.notifier.explain import explain, language_name, role_name
from services.notifier.wording import LANGUAGES

FULL = {
    "title": {
        "posting_role": "executive-assistant",
        "member_role": "executive-assistant",
        "score": 92,
    },
    "languages": {"required": ["it", "en"], "nice_matched": ["sv"]},
    "place": {"kind": "same_city", "city": "Milano"},
    "skills": ["SAP"],
    "seniority": {"posting": "senior", "member": "senior"},
}


def test_full_explanation_in_english():
    assert explain(FULL, "en") == [
        "It is the role you are looking for: Executive Assistant.",
        "It is in Milano, where you want to work.",
        "You speak the languages it asks for: Italian and English.",
        "An advantage: Swedish.",
        "It asks for skills you have: SAP.",
        "The level of experience it asks for matches yours.",
    ]


def test_full_explanation_in_italian_and_swedish():
    italian = explain(FULL, "it")
    assert "È il ruolo che cerchi: Assistente di direzione." in italian
    assert "Parli le lingue richieste: italiano e inglese." in italian
    assert "Titolo preferenziale: svedese." in italian
    swedish = explain(FULL, "sv")
    assert "Det är rollen du söker: Ledningsassistent." in swedish
    assert "Du talar språken som krävs: italienska och engelska." in swedish
    assert "Meriterande: svenska." in swedish
    assert "Meriterande: franska." in explain({"languages": {"nice_matched": ["fr"]}}, "sv")


def test_close_roles_name_both():
    part = {"title": {"posting_role": "personal-assistant", "member_role": "executive-assistant"}}
    assert explain(part, "en") == [
        "The role, Personal Assistant, is close to what you are looking for (Executive Assistant)."
    ]


@pytest.mark.parametrize(
    ("place", "sentence"),
    [
        ({"kind": "same_region", "city": "Bergamo"}, "It is in your area (Bergamo)."),
        ({"kind": "same_region"}, "It is in your area."),
        ({"kind": "remote", "city": "ignored"}, "You can work fully remotely."),
        (
            {"kind": "hybrid", "city": "Torino"},
            "You can work partly from home; the office is in Torino.",
        ),
        ({"kind": "hybrid"}, "You can work partly from home."),
    ],
)
def test_place_kinds(place, sentence):
    assert explain({"place": place}, "en") == [sentence]


def test_unknown_keys_and_values_are_ignored():
    assert explain({"astrology": {"sign": "leo"}, "place": {"kind": "on_the_moon"}}, "en") == []


@pytest.mark.parametrize(
    "broken",
    [
        {"title": "executive-assistant"},
        {"title": None},
        {"languages": ["it"]},
        {"languages": {"required": "it"}},
        {"place": "Milano"},
        {"skills": "SAP"},
        {"skills": [1, None, {"x": 1}]},
        {"seniority": ["senior"]},
        {"title": {"posting_role": 42}},
    ],
)
def test_malformed_parts_are_dropped_not_raised(broken):
    assert explain({**broken, "place": {"kind": "remote"}}, "en") == [
        "You can work fully remotely."
    ]


def test_not_a_mapping_at_all():
    assert explain(None, "en") == []
    assert explain(["title"], "it") == []


def test_unknown_role_ids_have_no_name_rather_than_an_english_one():
    assert role_name("chief_happiness-officer", "it") == ""
    assert role_name("esco:3343.9", "sv") == ""
    assert role_name(None, "en") == ""


@pytest.mark.parametrize("language", LANGUAGES)
def test_a_role_without_a_name_is_explained_without_naming_it(language):
    _ = translations(language).gettext
    exact = {"posting_role": "esco:2422.1", "member_role": "esco:2422.1"}
    close = {"posting_role": "esco:2422.1", "member_role": "executive-assistant"}
    alone = {"posting_role": "esco:2422.1"}
    assert explain({"title": exact}, language) == [_("It is the role you are looking for.")]
    assert explain({"title": close}, language) == [
        _("The role is close to what you are looking for.")
    ]
    assert explain({"title": alone}, language) == []


@given(role_id=st.text(min_size=1, max_size=40))
def test_an_unknown_role_id_never_reaches_the_member(role_id):
    # Whatever id the matcher sends, the member reads a catalog name or none:
    # the sentence is exactly the nameless one, the id is not in it.
    from services.notifier.wording import ROLE_NAMES

    assume(role_id.strip() and role_id.strip().lower() not in ROLE_NAMES["en"])
    for language in LANGUAGES:
        part = {"title": {"posting_role": role_id, "member_role": "secretary"}}
        expected = translations(language).gettext("The role is close to what you are looking for.")
        assert explain(part, language) == [expected]


def test_language_names_via_babel():
    assert language_name("sv", "it") == "svedese"
    assert language_name("it", "sv") == "italienska"
    assert language_name("pt-BR", "en") == "Portuguese"
    assert language_name("xx", "en") == ""
    assert language_name("../..", "en") == ""


def test_unknown_languages_are_left_out():
    assert explain({"languages": {"required": ["xx", "en"]}}, "en") == [
        "You speak the languages it asks for: English."
    ]


def test_seniority_without_a_verdict_says_nothing():
    assert explain({"seniority": {"posting": "senior", "member": "junior"}}, "en") == []
    assert explain({"seniority": {"fit": "close"}}, "en") == [
        "The level of experience it asks for is close to yours."
    ]


def test_company_supplied_skills_are_one_line_each():
    [sentence] = explain({"skills": ["SAP\r\nBcc: x@y", "Excel\x00"]}, "en")
    assert sentence == "It asks for skills you have: SAP Bcc: x@y and Excel."


JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner, max_size=4)
    ),
    max_leaves=20,
)


@given(
    explanation=st.dictionaries(
        st.sampled_from(["title", "languages", "place", "skills", "seniority", "other"]), JSON
    ),
    language=st.sampled_from(LANGUAGES),
)
def test_any_json_renders_without_raising(explanation, language):
    for sentence in explain(explanation, language):
        assert isinstance(sentence, str)
        assert "\n" not in sentence
