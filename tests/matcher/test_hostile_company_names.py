"""Generated hostile spellings of a company are never "different" from it."""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from services.matcher.companies import normalize_company, same_company
from services.matcher.scoring import Exclusion, score_member
from tests.matcher.factories import member, posting
from tests.matcher.hostile_names import base_names, spelling

SETTINGS = settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@SETTINGS
@given(st.data(), base_names)
def test_a_hostile_spelling_is_never_another_company(data, name_words):
    plain = " ".join(name_words)
    hostile = data.draw(spelling(name_words))
    assert same_company([plain], [], [hostile]) != "different", (plain, hostile)
    assert same_company([hostile], [], [plain]) != "different", (hostile, plain)


@SETTINGS
@given(st.data(), base_names)
def test_two_hostile_spellings_are_never_different_companies(data, name_words):
    a = data.draw(spelling(name_words))
    b = data.draw(spelling(name_words))
    assert same_company([a], [], [b]) != "different", (a, b)


@SETTINGS
@given(st.data(), base_names, st.sampled_from(["employer", "blocked"]))
def test_no_match_with_own_employer_or_blocked_company_however_spelled(data, name_words, where):
    mine = data.draw(spelling(name_words))
    theirs = data.draw(spelling(name_words))
    employers, blocked = ((mine,), ()) if where == "employer" else ((), (mine,))
    result = score_member(
        posting(company_names=(theirs,)),
        member(employer_names=employers, blocked_companies=blocked),
    )
    assert isinstance(result, Exclusion), (mine, theirs)
    assert result.rule in {"own_employer", "blocked_company", "ambiguous_company"}


@SETTINGS
@given(st.data(), base_names)
def test_a_hostile_spelling_normalises_to_a_stable_key(data, name_words):
    key = normalize_company(data.draw(spelling(name_words)))
    assert normalize_company(key) == key
