"""Whether one member fits one posting: hard rules first, then a score.

The hard rules run in a fixed order and the first that fails names the
exclusion; discretion comes first so that an own-employer posting is never
even scored. A fit carries a score in 0..1 and a structured explanation (role
ids, language codes, place kind, the posting's matched skills, seniority fit):
never prose and never the member's own words, since it travels in a
``match.found`` event and the notifier renders it in the member's language.

Every weight and threshold is in ``weights.Weights`` (re-exported here).
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Sequence
from typing import Any, Literal, Protocol

from rapidfuzz import fuzz

from services.matcher.companies import company_keys, compare_company_keys
from services.matcher.titles import (
    Resolution,
    TitleDecision,
    TitleMatcher,
    default_matcher,
    fold,
)
from services.matcher.weights import DEFAULT_WEIGHTS, Weights
from shared import member_companies

__all__ = [
    "DEFAULT_WEIGHTS",
    "Exclusion",
    "Match",
    "MemberLike",
    "PostingLike",
    "PreparedMember",
    "PreparedPosting",
    "Rule",
    "Weights",
    "prepare_member",
    "prepare_posting",
    "score",
    "score_member",
]

Rule = Literal[
    "not_opted_in",
    "own_employer",
    "blocked_company",
    "ambiguous_company",
    "language_missing",
    "title",
    "location",
    "below_threshold",
]
Remote = Literal["no", "hybrid", "remote"]


class PostingLike(Protocol):
    """The fields of ``shared.events.JobPosting`` the matcher reads."""

    @property
    def title(self) -> str: ...
    @property
    def city(self) -> str | None: ...
    @property
    def region(self) -> str | None: ...
    @property
    def country(self) -> str | None: ...
    @property
    def remote(self) -> Remote: ...
    @property
    def languages_required(self) -> Sequence[str]: ...
    @property
    def languages_nice(self) -> Sequence[str]: ...
    @property
    def skills(self) -> Sequence[str]: ...
    @property
    def seniority(self) -> str | None: ...
    @property
    def company_names(self) -> Sequence[str]: ...


class MemberLike(Protocol):
    """The fields of ``shared.events.MemberChanged`` the matcher reads."""

    @property
    def member_id(self) -> str: ...
    @property
    def opted_in(self) -> bool: ...
    @property
    def desired_roles(self) -> Sequence[str]: ...
    @property
    def skills(self) -> Sequence[str]: ...
    @property
    def languages(self) -> Sequence[str]: ...
    @property
    def cities(self) -> Sequence[str]: ...
    @property
    def regions(self) -> Sequence[str]: ...
    @property
    def country(self) -> str | None: ...
    @property
    def remote(self) -> Remote: ...
    @property
    def seniority(self) -> str | None: ...
    @property
    def employer_names(self) -> Sequence[str]: ...
    @property
    def blocked_companies(self) -> Sequence[str]: ...


# --- small normalisers ---------------------------------------------------------------------

_NON_WORD = re.compile(r"[^\w]+")


def place_key(name: str | None) -> str:
    """ "Milano", "milano ", "MILANO" -> "milano"; "Västra Götaland" -> "vastra gotaland"."""
    return " ".join(_NON_WORD.sub(" ", fold(name or "")).split())


def language_code(code: str) -> str:
    """ "it-IT", "IT", "sv_SE" -> "it", "sv"."""
    return fold(code).strip().replace("_", "-").split("-")[0]


def skill_key(skill: str) -> str:
    return " ".join(_NON_WORD.sub(" ", fold(skill)).split())


_SENIORITY: dict[str, int] = {
    **dict.fromkeys(
        (
            "intern",
            "internship",
            "trainee",
            "stage",
            "tirocinio",
            "praktikant",
            "entry",
            "entry level",
            "graduate",
            "neolaureato",
        ),
        0,
    ),
    **dict.fromkeys(("junior", "jr", "associate"), 1),
    **dict.fromkeys(
        ("mid", "mid level", "intermediate", "medior", "professional", "experienced"), 2
    ),
    **dict.fromkeys(("senior", "sr", "esperto", "esperta", "erfaren"), 3),
    **dict.fromkeys(("lead", "head", "principal", "executive", "manager", "chief"), 4),
}
SENIORITY_NAMES = ("entry", "junior", "mid", "senior", "lead")


def seniority_level(value: str | None) -> int | None:
    return _SENIORITY.get(place_key(value)) if value else None


# --- prepared views (what the index keeps per member) ----------------------------------------


@dataclasses.dataclass(frozen=True, slots=True)
class PreparedPosting:
    title: Resolution
    city: str
    region: str
    country: str
    remote: Remote
    required: frozenset[str]
    nice: tuple[str, ...]
    skills: tuple[tuple[str, str], ...]  # (as the company wrote it, key)
    seniority: int | None
    companies: tuple[str, ...]


@dataclasses.dataclass(frozen=True, slots=True)
class PreparedMember:
    member_id: str
    opted_in: bool
    titles: tuple[Resolution, ...]
    languages: frozenset[str]
    cities: frozenset[str]
    regions: frozenset[str]
    country: str
    remote: Remote
    skills: frozenset[str]
    seniority: int | None
    employers: tuple[str, ...]
    blocked: tuple[str, ...]

    def role_ids(self) -> frozenset[str]:
        return frozenset(r.role for t in self.titles for r in t.roles)

    def unknown_keys(self) -> frozenset[str]:
        return frozenset(t.key for t in self.titles if not t.known and t.key)


def prepare_posting(posting: PostingLike, matcher: TitleMatcher | None = None) -> PreparedPosting:
    matcher = matcher or default_matcher()
    return PreparedPosting(
        title=matcher.resolution(posting.title),
        city=place_key(posting.city),
        region=place_key(posting.region),
        country=place_key(posting.country),
        remote=posting.remote,
        required=frozenset(language_code(c) for c in posting.languages_required if c.strip()),
        nice=tuple(dict.fromkeys(language_code(c) for c in posting.languages_nice if c.strip())),
        skills=tuple((s, skill_key(s)) for s in posting.skills if skill_key(s)),
        seniority=seniority_level(posting.seniority),
        companies=company_keys(posting.company_names),
    )


def prepare_member(member: MemberLike, matcher: TitleMatcher | None = None) -> PreparedMember:
    member_companies.require_opened(member)  # never scored without the company rule
    matcher = matcher or default_matcher()
    return PreparedMember(
        member_id=member.member_id,
        opted_in=member.opted_in,
        titles=tuple(matcher.resolution(t) for t in member.desired_roles),
        languages=frozenset(language_code(c) for c in member.languages if c.strip()),
        cities=frozenset(k for k in map(place_key, member.cities) if k),
        regions=frozenset(k for k in map(place_key, member.regions) if k),
        country=place_key(member.country),
        remote=member.remote,
        skills=frozenset(k for k in map(skill_key, member.skills) if k),
        seniority=seniority_level(member.seniority),
        employers=company_keys(member.employer_names),
        blocked=company_keys(member.blocked_companies),
    )


# --- results ---------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True, slots=True)
class Exclusion:
    rule: Rule
    score: float | None = None  # set for below_threshold only


@dataclasses.dataclass(frozen=True, slots=True)
class Match:
    score: float  # 0..1
    explanation: dict[str, Any]


# --- the rules -------------------------------------------------------------------------------


def company_rule(
    posting: PreparedPosting, member: PreparedMember, weights: Weights = DEFAULT_WEIGHTS
) -> Rule | None:
    if not member.employers and not member.blocked:
        return None
    if not posting.companies:
        # A posting that names no company cannot be ruled out: fail closed.
        return "ambiguous_company"
    employer = compare_company_keys(member.employers, posting.companies, weights)
    if employer == "same":
        return "own_employer"
    blocked = compare_company_keys(member.blocked, posting.companies, weights)
    if blocked == "same":
        return "blocked_company"
    if "ambiguous" in (employer, blocked):
        return "ambiguous_company"
    return None


def countries_compatible(posting: PreparedPosting, member: PreparedMember) -> bool:
    return not posting.country or not member.country or posting.country == member.country


def place_fit(
    posting: PreparedPosting, member: PreparedMember, weights: Weights = DEFAULT_WEIGHTS
) -> tuple[dict[str, str], float] | None:
    """Where the job is for this member, or None when it is out of their reach.

    A fully remote posting reaches members open to remote work in the same
    country (or where either country is unknown). An on-site or hybrid posting
    reaches members who listed its city, or else its region.
    """
    if posting.remote == "remote":
        if member.remote == "remote" and countries_compatible(posting, member):
            return {"kind": "remote"}, weights.remote
        return None
    if posting.city and posting.city in member.cities:
        near, value = "same_city", weights.same_city
    elif posting.region and posting.region in member.regions:
        near, value = "same_region", weights.same_region
    else:
        return None
    if posting.remote == "hybrid":
        return {"kind": "hybrid", "near": near}, value
    return {"kind": near}, value


def title_fit(
    posting: PreparedPosting, member: PreparedMember, matcher: TitleMatcher
) -> TitleDecision:
    best = TitleDecision(0, False, "none")
    for title in member.titles:
        decision = matcher.decide(posting.title, title)
        if (decision.match, decision.score) > (best.match, best.score):
            best = decision
    return best


def matched_skills(
    posting: PreparedPosting, member: PreparedMember, weights: Weights = DEFAULT_WEIGHTS
) -> list[str]:
    out = []
    for written, key in posting.skills:
        if key in member.skills or any(
            fuzz.ratio(key, mine) >= weights.skill_min for mine in member.skills
        ):
            out.append(written)
    return out


def score(
    posting: PreparedPosting,
    member: PreparedMember,
    weights: Weights = DEFAULT_WEIGHTS,
    matcher: TitleMatcher | None = None,
) -> Match | Exclusion:
    """Apply the hard rules in order, then score. Pure: same inputs, same answer."""
    matcher = matcher or default_matcher()
    if not member.opted_in:
        return Exclusion("not_opted_in")
    company = company_rule(posting, member, weights)
    if company is not None:
        return Exclusion(company)
    if not posting.required <= member.languages:
        return Exclusion("language_missing")
    title = title_fit(posting, member, matcher)
    if not title.match:
        return Exclusion("title")
    place = place_fit(posting, member, weights)
    if place is None:
        return Exclusion("location")
    where, place_value = place

    # (weight, value) of each component that has information to give.
    parts: dict[str, tuple[float, float]] = {
        "title": (weights.title, title.score / 100.0),
        "place": (weights.place, place_value),
    }
    skills = matched_skills(posting, member, weights)
    if posting.skills:
        parts["skills"] = (weights.skills, len(skills) / len(posting.skills))
    nice = [c for c in posting.nice if c in member.languages]
    if posting.nice:
        parts["languages_nice"] = (weights.languages_nice, len(nice) / len(posting.nice))
    seniority: dict[str, str] | None = None
    if posting.seniority is not None and member.seniority is not None:
        gap = abs(posting.seniority - member.seniority)
        fit = "exact" if gap == 0 else "adjacent" if gap == 1 else "far"
        parts["seniority"] = (weights.seniority, {0: 1.0, 1: 0.5}.get(gap, 0.0))
        seniority = {
            "posting": SENIORITY_NAMES[posting.seniority],
            "member": SENIORITY_NAMES[member.seniority],
            "fit": fit,
        }
    total = sum(w for w, _ in parts.values())
    value = round(sum(w * v for w, v in parts.values()) / total, 4)
    if value < weights.threshold:
        return Exclusion("below_threshold", value)
    return Match(
        value,
        {
            "title": {
                "kind": title.kind,
                "posting_role": title.a_role,
                "member_role": title.b_role,
                "score": title.score,
            },
            "languages": {"required": sorted(posting.required), "nice": nice},
            "place": where,
            "skills": skills,
            "seniority": seniority,
            "components": {name: round(v, 4) for name, (_w, v) in parts.items()},
        },
    )


def score_member(
    posting: PostingLike,
    member: MemberLike,
    weights: Weights = DEFAULT_WEIGHTS,
    matcher: TitleMatcher | None = None,
) -> Match | Exclusion:
    """``score`` for event-shaped inputs (``JobPosting``, ``MemberChanged``)."""
    matcher = matcher or default_matcher()
    return score(
        prepare_posting(posting, matcher), prepare_member(member, matcher), weights, matcher
    )
