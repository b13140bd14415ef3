"""How often the company rule suppresses clearly different companies.

    .venv/bin/python -m services.matcher.company_evaluation \
        tests/matcher/data/company_names_it_se.txt [--half tune|holdout|both|all]

The file lists real companies of Italy and Sweden (``IT<TAB>name``), every
one a different company. Every pair within a half is compared with the
matcher's own rule; any verdict but "different" is a false suppression (a
member of one would not hear of the other's openings). The names are split
in two halves by a hash of the name: tune on ``tune``, report ``holdout``.
"""

from __future__ import annotations

import argparse
import hashlib
import itertools
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from services.matcher.companies import decide_company, normalize_company

HALVES = ("tune", "holdout")


@dataclass(frozen=True, slots=True)
class Company:
    country: str
    name: str

    @property
    def half(self) -> str:
        # A stable split that does not depend on the file's order.
        return HALVES[hashlib.sha256(self.name.encode()).digest()[0] % 2]


@dataclass(frozen=True, slots=True)
class Suppressed:
    a: str
    b: str
    verdict: str
    rule: str


@dataclass(frozen=True, slots=True)
class Report:
    companies: int
    pairs: int
    same: int
    ambiguous: int
    suppressed: tuple[Suppressed, ...]

    @property
    def rate(self) -> float:
        return (self.same + self.ambiguous) / self.pairs if self.pairs else 0.0

    def by_rule(self) -> Counter[str]:
        return Counter(s.rule for s in self.suppressed)


def read_companies(path: Path) -> list[Company]:
    companies = []
    for line in path.read_text("utf-8").splitlines():
        if not line.strip() or line.startswith("#"):
            continue
        country, name = line.split("\t")
        companies.append(Company(country.strip(), name.strip()))
    return companies


def evaluate(companies: Iterable[Company]) -> Report:
    """Compare every pair: how many are "same", "ambiguous", and which."""
    keyed = [(c.name, normalize_company(c.name)) for c in companies]
    counts: Counter[str] = Counter()
    suppressed = []
    pairs = 0
    for (a, ka), (b, kb) in itertools.combinations(keyed, 2):
        pairs += 1
        verdict, rule = decide_company(ka, kb)
        counts[verdict] += 1
        if verdict != "different":
            suppressed.append(Suppressed(a, b, verdict, rule))
    return Report(len(keyed), pairs, counts["same"], counts["ambiguous"], tuple(suppressed))


def half(companies: Iterable[Company], which: str) -> list[Company]:
    return [c for c in companies if c.half == which]


def format_report(title: str, report: Report) -> str:
    lines = [
        f"### {title}: {report.companies} companies, {report.pairs} pairs",
        "",
        f"- suppressed: {report.same + report.ambiguous} pairs ({report.rate:.3%}): "
        f"{report.same} same, {report.ambiguous} ambiguous",
    ]
    for rule, n in report.by_rule().most_common():
        lines.append(f"  - by rule `{rule}`: {n}")
    if report.suppressed:
        lines += ["", "| company | company | verdict | rule |", "|---|---|---|---|"]
        for s in report.suppressed:
            lines.append(f"| {s.a} | {s.b} | {s.verdict} | {s.rule} |")
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("names", type=Path, help="IT<TAB>name / SE<TAB>name lines")
    parser.add_argument(
        "--half", choices=[*HALVES, "both", "all"], default="both",
        help="one half, each half (both), or every pair of the whole list (all)",
    )  # fmt: skip
    args = parser.parse_args(argv)
    companies = read_companies(args.names)
    if args.half == "all":
        print(format_report("All companies", evaluate(companies)))
        return 0
    for which in HALVES if args.half == "both" else (args.half,):
        print(format_report(f"Half `{which}`", evaluate(half(companies, which))))
        print()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
