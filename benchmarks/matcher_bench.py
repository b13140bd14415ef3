"""One posting against 100k and 1M synthetic members: the matcher's index
against a brute-force rapidfuzz WRatio scan of every member's titles.

    .venv/bin/python -m benchmarks.matcher_bench                 # 100k and 1M
    .venv/bin/python -m benchmarks.matcher_bench --sizes 100000  # quicker
    .venv/bin/python -m benchmarks.matcher_bench --sizes 100000 --esco ../shared/data/esco-1.0.8

Reports, per size: index build time, memory per member (RSS growth while
building, divided by the members), p50/p99 per posting of ``MemberIndex.match``
with the service's cap (``Weights.posting_cap``) and without it, the median of
the WRatio scan, and the ratio; and p50/p99 of a posting whose title the
process has never seen ("first sight": the title is resolved, and linked when
the taxonomy does not know it, inside the timing), over titles in ad wording.
With ``--esco DIR`` the index uses the taxonomy extended with that ESCO
export, as a matcher does after ``taxonomy import-esco``. Single process, single thread (numpy and
rapidfuzz as called here use one core). Figures go to docs/performance.md.
"""

from __future__ import annotations

import argparse
import dataclasses
import gc
import os
import random
import statistics
import time
from collections.abc import Iterator, Sequence
from pathlib import Path

from rapidfuzz import fuzz, process

from services.matcher.index import MemberIndex
from services.matcher.titles import TitleMatcher
from services.matcher.weights import DEFAULT_WEIGHTS
from shared.events import JobPosting, MemberChanged

# What members of this community write, with the neighbours and false friends.
TITLES = [
    *["Executive Assistant", "Assistente di Direzione", "Ledningsassistent", "EA"],
    *["Personal Assistant", "Assistente personale", "VD-assistent", "Segretaria di direzione"],
    *["Management Assistant", "Office Manager", "Kontorschef", "Segretaria"],
    *["Receptionist", "Administrative Assistant", "Team Assistant", "Assistente amministrativa"],
    *["Legal Secretary", "Segretaria legale", "Medical Secretary", "Event Coordinator"],
    *["Assistente di laboratorio", "Executive Producer", "Personlig assistent", "Chef"],
    *["Chief Happiness Officer", "Project Coordinator", "HR Assistant", "Office Coordinator"],
]
TITLE_WEIGHTS = [
    10,
    8,
    6,
    3,
    5,
    3,
    2,
    4,
    3,
    4,
    2,
    4,
    3,
    3,
    2,
    2,
    1,
    1,
    1,
    1,
    1,
    1,
    1,
    1,
    1,
    1,
    1,
    1,
]
PLACES = [
    ("Milano", "Lombardia", "IT", 14),
    ("Roma", "Lazio", "IT", 10),
    ("Torino", "Piemonte", "IT", 5),
    ("Bologna", "Emilia-Romagna", "IT", 4),
    ("Firenze", "Toscana", "IT", 3),
    ("Napoli", "Campania", "IT", 3),
    ("Bergamo", "Lombardia", "IT", 2),
    ("Brescia", "Lombardia", "IT", 2),
    ("Verona", "Veneto", "IT", 2),
    ("Padova", "Veneto", "IT", 2),
    ("Genova", "Liguria", "IT", 2),
    ("Bari", "Puglia", "IT", 1),
    ("Stockholm", "Stockholms län", "SE", 12),
    ("Göteborg", "Västra Götaland", "SE", 6),
    ("Malmö", "Skåne", "SE", 4),
    ("Uppsala", "Uppsala län", "SE", 2),
    ("Solna", "Stockholms län", "SE", 2),
    ("Lund", "Skåne", "SE", 1),
    ("Västerås", "Västmanland", "SE", 1),
    ("Linköping", "Östergötland", "SE", 1),
]
SKILLS = [
    *["MS Office", "Excel", "PowerPoint", "SAP", "Travel management", "Calendar management"],
    *["Board meetings", "Minutes", "Event planning", "Budgeting", "Salesforce", "Google Workspace"],
    *["Expense reports", "Visma", "Fortnox", "Contract management", "Stakeholder management"],
    *["Bookkeeping", "Onboarding", "Translation", "Diary management", "Project management"],
]
SENIORITY = [None, "junior", "mid", "senior", "lead"]


SYLLABLES = [
    "ba",
    "be",
    "bi",
    "bo",
    "ca",
    "co",
    "da",
    "de",
    "di",
    "fa",
    "fe",
    "ga",
    "la",
    "le",
    "li",
    "lo",
    "ma",
    "me",
    "mi",
    "na",
    "ne",
    "no",
    "pa",
    "pe",
    "ra",
    "re",
    "ri",
    "ro",
    "sa",
    "se",
    "si",
    "so",
    "ta",
    "te",
    "ti",
    "to",
    "va",
    "ve",
    "vi",
]


def company_names(rng: random.Random, n: int) -> list[str]:
    """Distinct made-up names ("Rovilena S.p.A.", "Tasemo AB"): unlike
    numbered names, they do not all look alike to the company rule."""
    names: set[str] = set()
    while len(names) < n:
        stem = "".join(rng.choices(SYLLABLES, k=rng.randint(3, 4))).capitalize()
        names.add(f"{stem} {rng.choice(['S.p.A.', 'S.r.l.', 'AB', 'Group', 'Ltd'])}")
    return sorted(names)


def members(n: int, seed: int = 1) -> Iterator[MemberChanged]:
    rng = random.Random(seed)
    companies = company_names(rng, 5000)
    for i in range(n):
        city, region, country, _ = rng.choices(PLACES, weights=[p[3] for p in PLACES])[0]
        native = "it" if country == "IT" else "sv"
        languages = [native, "en"] if rng.random() < 0.8 else [native]
        if rng.random() < 0.15:
            languages.append(rng.choice(["de", "fr", "es", "it" if native == "sv" else "sv"]))
        yield MemberChanged(
            member_id=f"m-{i:07d}",
            revision=1,
            opted_in=True,
            desired_roles=tuple(
                dict.fromkeys(rng.choices(TITLES, weights=TITLE_WEIGHTS, k=rng.randint(1, 2)))
            ),
            skills=tuple(rng.sample(SKILLS, rng.randint(2, 5))),
            languages=tuple(languages),
            cities=(city,) if rng.random() < 0.85 else (),
            regions=(region,),
            country=country,
            remote=rng.choice(["no", "hybrid", "hybrid", "remote"]),
            seniority=rng.choice(SENIORITY),
            employer_names=(rng.choice(companies),),
            blocked_companies=(rng.choice(companies),) if rng.random() < 0.2 else (),
        )


def postings() -> list[JobPosting]:
    def posting(
        i: int, title: str, city: str, region: str, country: str, **kw: object
    ) -> JobPosting:
        fields: dict[str, object] = {
            "posting_id": f"p-{i}",
            "company_id": "c-1",
            "revision": 1,
            "title": title,
            "city": city,
            "region": region,
            "country": country,
            "languages_required": ("it",) if country == "IT" else ("sv",),
            "languages_nice": ("en",),
            "skills": ("MS Office", "Travel management", "Board meetings"),
            "seniority": "senior",
            "company_names": ("Sinfonica Tessuti S.p.A.", "Gruppo Sinfonica"),
        }
        fields.update(kw)
        return JobPosting(**fields)  # type: ignore[arg-type]

    return [
        posting(1, "Assistente di Direzione bilingue", "Milano", "Lombardia", "IT"),
        posting(2, "Executive Assistant to the CEO", "Stockholm", "Stockholms län", "SE"),
        posting(3, "Segretaria di direzione (m/f)", "Roma", "Lazio", "IT", remote="hybrid"),
        posting(4, "Ledningsassistent", "Göteborg", "Västra Götaland", "SE"),
        posting(5, "Office Manager", "Torino", "Piemonte", "IT", skills=("Excel",)),
        posting(6, "Receptionist", "Malmö", "Skåne", "SE", seniority=None),
        posting(7, "Personal Assistant", "", "", "IT", remote="remote"),
        posting(8, "Chief Happiness Officer", "Milano", "Lombardia", "IT"),
    ]


# Ad wording around a title, so every first-sight posting has a title never
# seen before (not the frozen evaluation titles: this is only a timing).
AD_WORDING = [
    "Cercasi {title} - sede di {city}",
    "{title} per prestigiosa realtà di {city}",
    "Vi söker nu en {title} till expansivt företag i {city}",
    "{title} sökes till vårt kontor i {city}",
    "{title} wanted for our {city} team",
    "{title} (m/f) - {city}, 80%",
]


def first_sight_postings(jobs: Sequence[JobPosting], count: int) -> list[JobPosting]:
    out: list[JobPosting] = []
    cities = [p[0] for p in PLACES]
    for i in range(count):
        job = jobs[i % len(jobs)]
        wording = AD_WORDING[i % len(AD_WORDING)]
        title = wording.format(title=job.title, city=cities[(i // len(jobs)) % len(cities)])
        out.append(dataclasses.replace(job, posting_id=f"p-first-{i}", title=title))
    assert len({p.title for p in out}) == len(out), "first-sight titles must differ"
    return out


def rss_bytes() -> int:
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def percentile(values: Sequence[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def run(
    size: int, repeats: int, scans: int, matcher: TitleMatcher | None = None
) -> dict[str, float]:
    gc.collect()
    before = rss_bytes()
    started = time.perf_counter()
    index = MemberIndex(matcher)
    titles: list[str] = []
    for member in members(size):
        index.upsert(member)
        titles.extend(member.desired_roles)
    build_s = time.perf_counter() - started
    gc.collect()
    per_member = (rss_bytes() - before) / size
    jobs = postings()
    for job in jobs:  # warm the title caches, as a running service has them
        index.match(job, limit=DEFAULT_WEIGHTS.posting_cap)
    capped: list[float] = []
    full: list[float] = []
    matched: list[int] = []
    for _ in range(repeats):
        for job in jobs:
            t = time.perf_counter()
            index.match(job, limit=DEFAULT_WEIGHTS.posting_cap)
            capped.append(time.perf_counter() - t)
    for job in jobs:
        t = time.perf_counter()
        matched.append(len(index.match(job).matches))
        full.append(time.perf_counter() - t)
    first: list[float] = []
    for job in first_sight_postings(jobs, len(jobs) * repeats):
        t = time.perf_counter()
        index.match(job, limit=DEFAULT_WEIGHTS.posting_cap)
        first.append(time.perf_counter() - t)
    scan: list[float] = []
    for job in jobs[:scans]:
        t = time.perf_counter()
        process.extract(job.title, titles, scorer=fuzz.WRatio, score_cutoff=85, limit=None)
        scan.append(time.perf_counter() - t)
    p50 = percentile(capped, 0.5)
    return {
        "members": size,
        "titles": len(titles),
        "build_s": build_s,
        "bytes_per_member": per_member,
        "p50_ms": p50 * 1000,
        "p99_ms": percentile(capped, 0.99) * 1000,
        "uncapped_p50_ms": percentile(full, 0.5) * 1000,
        "uncapped_max_ms": max(full) * 1000,
        "first_p50_ms": percentile(first, 0.5) * 1000,
        "first_p99_ms": percentile(first, 0.99) * 1000,
        "matches_median": statistics.median(matched),
        "scan_ms": statistics.median(scan) * 1000,
        "ratio": statistics.median(scan) / p50,
    }


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[100_000, 1_000_000])
    parser.add_argument("--repeats", type=int, default=25, help="runs of each posting")
    parser.add_argument("--scans", type=int, default=3, help="postings timed with the scan")
    parser.add_argument("--esco", type=Path, help="an ESCO export to extend the taxonomy with")
    args = parser.parse_args(argv)
    matcher = None
    if args.esco is not None:
        from services.matcher import esco

        started = time.perf_counter()
        matcher = TitleMatcher(esco.load_taxonomy(args.esco))
        matcher.build_linker()  # as the service does while loading
        print(f"ESCO taxonomy: {len(matcher.taxonomy):,} roles, built in "
              f"{time.perf_counter() - started:.0f} s")  # fmt: skip
    print(
        "| members | titles | build | memory/member | p50 | p99 | first sight p50 / p99 "
        "| p50 uncapped (max) | matches (median) | WRatio scan | scan / p50 |"
    )
    print("|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for size in args.sizes:
        r = run(size, args.repeats, args.scans, matcher)
        print(
            f"| {r['members']:,} | {r['titles']:,} | {r['build_s']:.0f} s "
            f"| {r['bytes_per_member']:.0f} B | {r['p50_ms']:.2f} ms | {r['p99_ms']:.2f} ms "
            f"| {r['first_p50_ms']:.1f} / {r['first_p99_ms']:.1f} ms "
            f"| {r['uncapped_p50_ms']:.1f} ms ({r['uncapped_max_ms']:.0f} ms) "
            f"| {r['matches_median']:,.0f} | {r['scan_ms']:.0f} ms | {r['ratio']:.0f}x |",
            flush=True,
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
