"""The frozen corpus of known-bad company spellings (data/hostile_company_spellings.tsv).

Every line is asserted on its own, through the matcher's own rule
(``same_company``) and through the scorer, so a spelling that slips through
is named in the failure.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import pytest

from services.matcher.companies import same_company
from services.matcher.scoring import Exclusion, score_member
from tests.matcher.factories import member, posting

CORPUS = Path(__file__).resolve().parent / "data" / "hostile_company_spellings.tsv"


@dataclass(frozen=True)
class Case:
    employers: tuple[str, ...]
    company: str
    expect: str
    why: str


def _field(text: str) -> str:
    # A JSON string body: \\uXXXX escapes (surrogate pairs included) become characters.
    decoded = json.loads('"' + text.replace('"', '\\"') + '"')
    assert isinstance(decoded, str)
    return decoded


def read_corpus(path: Path = CORPUS) -> list[Case]:
    cases = []
    for line in path.read_text("utf-8").splitlines():
        if not line.strip() or line.startswith("#"):
            continue
        mine, theirs, expect, why = line.split("\t")
        assert expect in {"same", "suppressed", "different"}, line
        employers = tuple(_field(name) for name in mine.split(" | "))
        cases.append(Case(employers, _field(theirs), expect, why))
    return cases


CASES = read_corpus()
SUPPRESSED = [c for c in CASES if c.expect != "different"]


def _ids(cases: list[Case]) -> list[str]:
    return [f"{n}:{c.why}" for n, c in enumerate(cases, start=1)]


def test_the_corpus_covers_the_reported_spellings_and_more():
    assert len(CASES) >= 90
    assert {c.expect for c in CASES} == {"same", "suppressed", "different"}


@pytest.mark.parametrize("case", CASES, ids=_ids(CASES))
def test_known_bad_spelling(case: Case):
    verdict = same_company(case.employers, [], [case.company])
    if case.expect == "same":
        assert verdict == "same"
    elif case.expect == "suppressed":
        assert verdict in {"same", "ambiguous"}
    else:
        assert verdict == "different"


@pytest.mark.parametrize("case", SUPPRESSED, ids=_ids(SUPPRESSED))
def test_no_match_with_own_employer_or_blocked_company(case: Case):
    as_employer = score_member(
        posting(company_names=(case.company,)), member(employer_names=case.employers)
    )
    as_blocked = score_member(
        posting(company_names=(case.company,)), member(blocked_companies=case.employers)
    )
    assert isinstance(as_employer, Exclusion)
    assert isinstance(as_blocked, Exclusion)
