import random
import time
from collections.abc import Iterator

from rapidfuzz import fuzz, process

from services.matcher.index import MemberIndex
from services.matcher.scoring import Match
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


def test_candidate_lookup_beats_a_full_title_scan():
    members = population(20_000, seed=3)
    index = MemberIndex.build(members)
    titles = [t for m in members for t in m.desired_roles]
    p = posting(title="Assistente di Direzione", languages_required=())
    started = time.perf_counter()
    for _ in range(5):
        found = index.candidates(p)
    lookup = (time.perf_counter() - started) / 5
    started = time.perf_counter()
    process.extract(p.title, titles, scorer=fuzz.WRatio, score_cutoff=80, limit=None)
    scan = time.perf_counter() - started
    assert 0 < len(found) < len(members)
    # generous: the lookup only unions a few posting lists
    assert lookup < scan, (lookup, scan)
