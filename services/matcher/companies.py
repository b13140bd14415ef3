"""Company names: normalisation and the fail-closed "is this the same company" check.

A member must never be matched with their employer, its group companies and
aliases, or a company they blocked, however either side spells the name. So
the comparison errs towards "maybe the same": any doubt ("ambiguous") is
treated by the matcher exactly like "same", and suppresses the match.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Literal

from rapidfuzz import fuzz

from services.matcher.titles import fold
from services.matcher.weights import DEFAULT_WEIGHTS, Weights

Verdict = Literal["same", "ambiguous", "different"]


def _wordset(*lines: str) -> frozenset[str]:
    return frozenset(word for line in lines for word in line.split())


# Legal forms and their spellings once dots are gone ("S.p.A." -> "spa",
# "S. p. A." -> "s p a" -> "spa" by joining single letters). Stripping too much
# only makes more names compare equal, which is the safe direction.
_LEGAL_FORMS = _wordset(
    "spa sapa srl srls sas snc scarl scrl scpa onlus",  # Italy
    "ab publ hb kb ek aktiebolag aktiebolaget oy oyj as asa aps",  # the Nordics
    "ltd limited plc llc llp lp inc incorporated corp corporation co company",  # English
    "gmbh ag kg kgaa ohg ug mbh bv nv sa sarl sl se",  # German, Dutch, French, Spanish
)
# Words that name the shape of a group, not which group it is.
_GROUP_WORDS = _wordset(
    "group gruppo groupe gruppe gruppen koncern koncernen holding holdings",
    "the and och e di del della",
)
_PUNCT = re.compile(r"[^\w\s]|_")


def normalize_company(name: str) -> str:
    """A comparison key: folded, punctuation, legal forms and group words removed.

    >>> normalize_company("ACME Italia S.p.A.")
    'acme italia'
    """
    text = fold(name)
    # Dots and apostrophes join ("S.p.A." -> "spa", "L'Oréal" -> "loreal");
    # everything else separates words.
    text = re.sub(r"[.'`´]", "", text)
    text = _PUNCT.sub(" ", text)
    tokens = text.split()
    # Removing a word can bring initials together ("A Oy B" -> "a b" -> "ab"),
    # so repeat until nothing changes: a key must normalise to itself, or a
    # stored key and a freshly normalised spelling could disagree. Each pass
    # that changes anything drops a token, so this ends.
    while True:
        joined = _join_initials(tokens)
        kept = [t for t in joined if t not in _LEGAL_FORMS and t not in _GROUP_WORDS]
        # A name made only of such words ("AB", "The Company") is kept whole
        # rather than reduced to nothing, which would compare with nothing.
        step = kept or joined
        if step == tokens:
            return " ".join(tokens)
        tokens = step


def _join_initials(tokens: list[str]) -> list[str]:
    # "s p a" (from "S. p. A.") -> "spa"; "h m" (from "H & M") -> "hm".
    out: list[str] = []
    run: list[str] = []
    for token in [*tokens, ""]:
        if len(token) == 1 and token.isalpha():
            run.append(token)
            continue
        if run:
            out.append("".join(run))
            run = []
        if token:
            out.append(token)
    return out


def compare_company(a: str, b: str, weights: Weights = DEFAULT_WEIGHTS) -> Verdict:
    """Compare two normalised company keys."""
    if not a or not b:
        return "different"
    if a == b:
        return "same"
    ca, cb = a.replace(" ", ""), b.replace(" ", "")
    if ca == cb or fuzz.ratio(a, b) >= weights.company_same:
        return "same"
    if (
        fuzz.ratio(ca, cb) >= weights.company_ambiguous
        or fuzz.token_set_ratio(a, b) >= weights.company_ambiguous
    ):
        return "ambiguous"
    short, long = sorted((ca, cb), key=len)
    if len(short) >= weights.company_partial_min_chars and short in long:
        return "ambiguous"
    return "different"


def compare_company_keys(
    keys: Iterable[str], others: Iterable[str], weights: Weights = DEFAULT_WEIGHTS
) -> Verdict:
    """The most cautious verdict over all pairs of two lists of normalised keys."""
    others = list(others)
    verdict: Verdict = "different"
    for a in keys:
        for b in others:
            pair = compare_company(a, b, weights)
            if pair == "same":
                return "same"
            if pair == "ambiguous":
                verdict = "ambiguous"
    return verdict


def company_keys(names: Iterable[str]) -> tuple[str, ...]:
    return tuple(dict.fromkeys(k for k in (normalize_company(n) for n in names) if k))


def same_company(
    member_employer_names: Iterable[str],
    blocked: Iterable[str],
    posting_company_names: Iterable[str],
    weights: Weights = DEFAULT_WEIGHTS,
) -> Verdict:
    """Whether a posting's company is the member's employer or a blocked company.

    Fail-closed: a posting that names no company is "ambiguous" for a member
    who has an employer or blocked companies, since we cannot rule them out.
    """
    mine = company_keys([*member_employer_names, *blocked])
    theirs = company_keys(posting_company_names)
    if not mine:
        return "different"
    if not theirs:
        return "ambiguous"
    return compare_company_keys(mine, theirs, weights)
