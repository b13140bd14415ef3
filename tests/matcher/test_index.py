import hashlib
import random
from collections.abc import Iterator

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from services.matcher.index import MemberIndex, _ranked
from services.matcher.scoring import Match, prepare_posting
from shared.events import JobPosting, MemberChanged
from tests.matcher.factories import member, posting

TITLES = [
    "Executive Assistant",
    "Assistente di direzione",
    "Ledningsassistent",
    "Personal Assistant",
    "Segretaria",
    "Receptionist",
    "Office Manager",
    "Kontorschef",
    "Team Assistant",
    "Administrative Assistant",
    "Assistente di laboratorio",
    "Executive Producer",
    "Chief Happiness Officer",
    "Event Coordinator",
    "Personlig assistent",
    "Legal Secretary",
]
CITIES = [
    ("Milano", "Lombardia", "IT"),
    ("Bergamo", "Lombardia", "IT"),
    ("Roma", "Lazio", "IT"),
    ("Stockholm", "Stockholms län", "SE"),
    ("Göteborg", "Västra Götaland", "SE"),
]
COMPANIES = ["Globex SpA", "Initech S.r.l.", "Umbrella AB", "Hooli Ltd", "Acme S.p.A."]


def population(n: int, seed: int = 7) -> list[MemberChanged]:
    rng = random.Random(seed)
    out = []
    for i in range(n):
        city, region, country = rng.choice(CITIES)
        out.append(
            member(
                member_id=f"m-{i}",
                opted_in=rng.random() > 0.05,
                desired_roles=tuple(rng.sample(TITLES, rng.randint(1, 2))),
                languages=tuple(rng.sample(["it", "en", "sv", "de"], rng.randint(1, 3))),
                cities=(city,) if rng.random() > 0.2 else (),
                regions=(region,),
                country=country,
                remote=rng.choice(["no", "hybrid", "remote"]),
                employer_names=(rng.choice(COMPANIES),),
                blocked_companies=(rng.choice(COMPANIES),) if rng.random() > 0.7 else (),
                skills=tuple(rng.sample(["MS Office", "SAP", "Travel management", "Excel"], 2)),
            )
        )
    return out


def postings() -> Iterator[JobPosting]:
    for title in [*TITLES, "EA", "Segretaria di Direzione bilingue", "Chief Hapiness Officer"]:
        for city, region, country in CITIES:
            for remote in ("no", "hybrid", "remote"):
                yield posting(
                    title=title,
                    city=city,
                    region=region,
                    country=country,
                    remote=remote,
                    languages_required=("en",),
                    company_names=("Initech S.r.l.", "Initech Group"),
                )


def test_index_finds_exactly_what_scoring_every_member_finds():
    index = MemberIndex.build(population(400))
    for p in postings():
        fast = index.match(p)
        slow = index.explain(p)
        assert [m for m, _ in fast.matches] == [m for m, _ in slow.matches], p.title
        assert fast.candidates <= len(index)


def test_upsert_remove_and_opt_out():
    index = MemberIndex()
    index.upsert(member(member_id="a"))
    index.upsert(member(member_id="b", desired_roles=("Receptionist",)))
    assert len(index) == 2
    assert index.candidates(posting()) == {"a"}
    index.upsert(member(member_id="b"))  # changed preferences
    assert index.candidates(posting()) == {"a", "b"}
    index.upsert(member(member_id="a", opted_in=False))
    assert "a" not in index
    assert index.remove("b") is True
    assert index.remove("b") is False
    assert index.match(posting()).matches == []


def test_removals_are_compacted():
    index = MemberIndex.build(population(300))
    for i in range(0, 3000):
        index.upsert(member(member_id=f"m-{i % 300}", desired_roles=("Segretaria",)))
    assert len(index) == 300
    run = index.match(posting(title="Secretary", languages_required=()))
    assert all(isinstance(m, Match) for _, m in run.matches)
    assert len(index._members) < 3 * 300 + 1024  # garbage did not pile up


def test_unknown_titles_meet_only_near_identical_unknown_titles():
    index = MemberIndex.build(
        [
            member(member_id="a", desired_roles=("Chief Happiness Officer",)),
            member(member_id="b", desired_roles=("Chief Financial Officer",)),
            member(member_id="c", desired_roles=("Executive Assistant",)),
        ]
    )
    assert index.candidates(posting(title="Chief Hapiness Officer")) == {"a"}


def test_candidates_are_a_small_part_of_the_members():
    # What makes the index fast (measured in benchmarks/matcher_bench.py):
    # a posting reads a few posting lists, not every member.
    members = population(20_000, seed=3)
    index = MemberIndex.build(members)
    p = posting(title="Assistente di Direzione", languages_required=())
    found = index.candidates(p)
    assert found == {m for m, _ in index.explain(p).matches} | {
        m for m, _ in index.explain(p).exclusions if m in found
    }
    assert 0 < len(found) < len(members) / 4


@pytest.mark.parametrize("limit", [1, 3, 10, 40])
def test_a_capped_run_is_the_head_of_the_full_ranking(limit):
    # The capped run sorts only the best scores (with their ties), then the
    # rest when the company rule excluded too many of them: the result must
    # be exactly the head of the full ranking, whichever way it got there.
    index = MemberIndex.build(population(2_000, seed=11))
    for p in postings():
        full = dict(index.match(p).matches)
        best = sorted((m.score for m in full.values()), reverse=True)[:limit]
        capped = index.match(p, limit=limit).matches
        # Equal scores may come in another order (the capped run breaks ties
        # by index order, the full one by member id), so compare scores.
        assert [m.score for _, m in capped] == best, p.title
        assert all(full[member_id] == m for member_id, m in capped)


@settings(max_examples=200, deadline=None)
@given(
    st.lists(st.sampled_from([0.55, 0.6, 0.7, 0.7, 0.8, 0.9, 1.0]), max_size=300),
    st.integers(1, 60),
)
def test_ranking_the_head_first_gives_the_full_sort(scores, limit):
    slots = np.arange(len(scores), dtype=np.uint32)[::-1].copy()  # any order of slots
    values = np.array(scores, dtype=float)
    expected = np.lexsort((slots, -values)).tolist()
    assert list(_ranked(slots, values, limit)) == expected


@pytest.mark.parametrize("limit", [1, 2, 5])
def test_a_capped_run_reads_past_the_head_when_the_best_are_excluded(limit):
    # Most members work at Initech, the posting's company: the best-scored
    # candidates are nearly all excluded, so the ranking must go beyond the
    # sorted head to fill the cap.
    staff = [
        member(member_id=f"i-{i}", employer_names=("Initech S.r.l.",), skills=("SAP", "Excel"))
        for i in range(200)
    ]
    outsiders = [
        member(member_id=f"o-{i}", employer_names=("Hooli Ltd",), skills=()) for i in range(10)
    ]
    index = MemberIndex.build([*staff, *outsiders])
    p = posting(skills=("SAP", "Excel"), company_names=("Initech S.r.l.",))
    full = index.match(p)
    assert {m for m, _ in full.matches} == {f"o-{i}" for i in range(10)}
    capped = index.match(p, limit=limit)
    best = sorted((m.score for _, m in full.matches), reverse=True)[:limit]
    assert [m.score for _, m in capped.matches] == best
    assert {m for m, _ in capped.matches} <= {f"o-{i}" for i in range(10)}


def test_skills_beyond_the_first_64_keys_still_count():
    # The first 64 skill keys get a bit per member; later ones are read from
    # their lists. Both must score exactly as the scorer does.
    # Skill names unlike each other (hex digests), so only one member has each.
    names = [hashlib.sha256(str(i).encode()).hexdigest()[:16] for i in range(80)]
    members = [member(member_id=f"s-{i}", skills=(names[i], "Excel")) for i in range(80)]
    index = MemberIndex.build(members)
    for i in (3, 70, 79):
        p = posting(skills=(names[i], "Excel"))
        (best, *others) = index.match(p, limit=5).matches
        assert best[0] == f"s-{i}"
        assert best == index.explain(p).matches[0]
        assert best[1].explanation["skills"] == [names[i], "Excel"]
        assert all(m.score < best[1].score for _, m in others)


def test_a_language_nobody_speaks_keeps_the_vectorised_pass():
    # Before: a nice-to-have language no member spoke sent the posting down
    # the exact path (the full scorer on every candidate: seconds at 1M).
    index = MemberIndex.build(population(300))
    for nice, required in ((("fi",), ("it",)), ((), ("fi",)), (("fi", "sv"), ())):
        p = posting(languages_nice=nice, languages_required=required)
        assert index._vector_pass(prepare_posting(p, index.matcher)) is not None
        fast = [m for m, _ in index.match(p).matches]
        assert fast == [m for m, _ in index.explain(p).matches]
        assert bool(fast) == ("fi" not in required)
