"""The other side of fail-closed: clearly different real companies stay different.

Measured on real Italian and Swedish companies (data/company_names_it_se.txt);
figures and the command are in docs/matching.md, "Company identity".
"""

from __future__ import annotations

from pathlib import Path

import pytest

from services.matcher.company_evaluation import (
    HALVES,
    Company,
    evaluate,
    format_report,
    half,
    main,
    read_companies,
)

NAMES = Path(__file__).resolve().parent / "data" / "company_names_it_se.txt"

# Measured: 2 (tune) and 4 (holdout, never looked at while tuning) of 21736
# pairs per half are suppressed, all "ambiguous" (shared brand words such as
# AB Volvo / Volvo Cars, a short name inside a long one). The bound, 10 pairs
# per half (0.046%), leaves room for a few more such collisions but fails on
# a rule that suppresses broadly: the untuned rules, which counted generic
# words ("International", "Crociere") as names, already suppressed 12.
MAX_SUPPRESSED_PER_HALF = 10


@pytest.fixture(scope="module")
def companies() -> list[Company]:
    return read_companies(NAMES)


def test_the_list_is_large_and_covers_both_countries(companies):
    assert len(companies) >= 400
    assert len({c.name for c in companies}) == len(companies)
    by_country = {country: sum(c.country == country for c in companies) for country in ("IT", "SE")}
    assert min(by_country.values()) >= 200, by_country
    sizes = [len(half(companies, which)) for which in HALVES]
    assert min(sizes) >= 150, sizes  # both halves big enough to measure on


@pytest.mark.parametrize("which", HALVES)
def test_clearly_different_companies_are_rarely_suppressed_and_never_the_same(companies, which):
    report = evaluate(half(companies, which))
    assert report.pairs >= 150 * 149 // 2
    assert report.same == 0, report.suppressed
    assert report.same + report.ambiguous <= MAX_SUPPRESSED_PER_HALF, report.suppressed


def test_the_report_names_the_suppressed_pairs_and_their_rule():
    names = ["Azimut Holding S.p.A.", "Azimut Benetti S.p.A.", "Volvo AB", "Saab AB"]
    report = evaluate(Company("XX", name) for name in names)
    assert (report.pairs, report.same, report.ambiguous) == (6, 0, 1)
    row = "| Azimut Holding S.p.A. | Azimut Benetti S.p.A. | ambiguous | shared_distinctive_word |"
    assert row in format_report("sample", report)


def test_the_command_reports_each_half(capsys):
    assert main([str(NAMES)]) == 0
    out = capsys.readouterr().out
    assert "### Half `tune`" in out and "### Half `holdout`" in out
