"""What a member's "not for me" does to their later matches (declines.py), and
the taxonomy suggestions operators get from the reasons."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from services.matcher.declines import (
    REASONS,
    Decline,
    RoleDeclines,
    adjust_all,
    adjusted,
    decline_of,
    suggestions,
)
from services.matcher.scoring import Match, prepare_posting
from services.matcher.weights import DEFAULT_WEIGHTS
from shared.events import JobPosting

W = DEFAULT_WEIGHTS


def posting(posting_id: str = "p-1", company_id: str = "c-acme", **fields: object) -> JobPosting:
    base: dict[str, object] = {
        "posting_id": posting_id,
        "company_id": company_id,
        "revision": 1,
        "title": "Assistente di Direzione",
        "city": "Milano",
        "region": "Lombardia",
        "country": "IT",
        "seniority": "senior",
    }
    base.update(fields)
    return JobPosting(**base)  # type: ignore[arg-type]


def declined(reason: str, **fields: object) -> Decline:
    p = posting(**fields)  # type: ignore[arg-type]
    return decline_of(p.posting_id, p.company_id, reason, prepare_posting(p))


def after(match: Match, p: JobPosting, *said: Decline) -> Match | None:
    return adjusted(match, p.posting_id, p.company_id, prepare_posting(p), said, W)


GOOD = Match(0.9, {})


def test_a_decline_records_what_the_posting_was_not_who_declined():
    d = declined("role", title="Executive Assistant to the CEO", city="Roma")
    assert d.roles == ("executive-assistant",)
    assert d.title_key == "executive assistant"
    assert d.place == "roma"
    assert d.reason == "role"
    assert declined("nonsense").reason == "none"


def test_the_declined_posting_is_never_told_again_whatever_the_reason():
    p = posting("p-1")
    for reason in REASONS:
        assert after(GOOD, p, declined(reason, posting_id="p-1")) is None


def test_a_company_decline_rules_out_that_company_only():
    said = declined("company", posting_id="p-1", company_id="c-acme")
    assert after(GOOD, posting("p-2", "c-acme"), said) is None
    assert after(GOOD, posting("p-3", "c-other"), said) == GOOD


def test_a_role_decline_rules_out_the_same_title_and_lowers_the_same_role():
    said = declined("role", posting_id="p-1", title="Segretaria di direzione")
    assert after(GOOD, posting("p-2", title="Segretaria di Direzione (m/f)"), said) is None
    # Another title of the same role: a hint, not a ban.
    lowered = after(GOOD, posting("p-3", title="Executive Assistant"), said)
    assert lowered is not None and lowered.score == round(GOOD.score - W.decline_penalty, 4)
    assert after(GOOD, posting("p-4", title="Receptionist"), said) == GOOD


def test_place_and_level_declines_lower_and_a_pattern_rules_out():
    place = [declined("place", posting_id=f"p-{i}", city="Milano") for i in range(3)]
    one = after(GOOD, posting("p-9"), place[0])
    assert one is not None and one.score == round(0.9 - W.decline_penalty, 4)
    assert after(GOOD, posting("p-9"), *place) is None  # three: a pattern
    assert after(GOOD, posting("p-9", city="Torino"), *place) == GOOD
    level = declined("level", posting_id="p-1", seniority="junior")
    assert after(GOOD, posting("p-9", seniority="senior"), level) == GOOD
    lowered = after(GOOD, posting("p-9", seniority="junior"), level)
    assert lowered is not None and lowered.score < GOOD.score


def test_timing_other_and_none_teach_nothing_beyond_the_posting():
    for reason in ("timing", "other", "none"):
        assert after(GOOD, posting("p-2"), declined(reason, posting_id="p-1")) == GOOD


reasons = st.sampled_from(REASONS)
titles = st.sampled_from(
    ["Assistente di Direzione", "Executive Assistant", "Receptionist", "Office Manager", "Chef"]
)
cities = st.sampled_from(["Milano", "Roma", "Stockholm", ""])
levels = st.sampled_from([None, "junior", "senior"])
declines_st = st.lists(
    st.builds(
        declined,
        reasons,
        posting_id=st.sampled_from(["p-1", "p-2", "p-3"]),
        company_id=st.sampled_from(["c-1", "c-2"]),
        title=titles,
        city=cities,
        seniority=levels,
    ),
    max_size=6,
)


@given(
    declines_st,
    st.floats(min_value=W.threshold, max_value=1.0),
    titles,
    cities,
    levels,
    st.sampled_from(["c-1", "c-2"]),
)
def test_declines_only_ever_lower_a_fit_and_never_below_the_threshold(
    said, value, title, city, seniority, company
):
    p = posting("p-new", company, title=title, city=city, seniority=seniority)
    result = after(Match(value, {"k": 1}), p, *said)
    if result is not None:
        assert W.threshold <= result.score <= value
        assert result.explanation == {"k": 1}


@given(declines_st)
def test_adjusting_many_members_keeps_them_best_first(said):
    p = posting("p-new", "c-1")
    matches = [("m-a", Match(0.95, {})), ("m-b", Match(0.7, {})), ("m-c", Match(0.8, {}))]
    by_member = {"m-a": said, "m-c": said[:1]}
    out = adjust_all(matches, p.posting_id, p.company_id, prepare_posting(p), by_member, W)
    scores = [m.score for _, m in out]
    assert scores == sorted(scores, reverse=True)
    assert ("m-b", Match(0.7, {})) in out  # no declines: unchanged


def test_suggestions_need_several_members_and_name_no_one():
    rows = [
        RoleDeclines("assistant executive chef", ("executive-assistant",), 3),
        RoleDeclines("chief happiness officer", (), 2),
        RoleDeclines("segretaria", ("secretary",), 1),
    ]
    out = suggestions(rows, min_members=2)
    assert [(s["change"], s["title"], s["members"]) for s in out] == [
        ("review_title", "assistant executive chef", 3),
        ("add_title", "chief happiness officer", 2),
    ]
    assert suggestions(rows, min_members=1)[-1]["title"] == "segretaria"
    assert all(set(s) == {"change", "title", "roles", "members", "note"} for s in out)
