"""Company names: normalisation and the fail-closed "is this the same company" check.

A member must never be matched with their employer, its group companies and
aliases, or a company they blocked, however either side spells the name. So
the comparison errs towards "maybe the same": any doubt ("ambiguous") is
treated by the matcher exactly like "same", and suppresses the match.

Spelling tricks are undone before comparing (``skeleton.py``: NFKC, invisible
characters, look-alike letters of other scripts, transliteration); legal forms
are removed also when glued to the name ("AcmeSpA", "Acme.S.p.A."); names that
share a distinctive word ("ACME Italia S.r.l." / "ACME Sverige AB") may be
sister companies and are ambiguous.
"""

from __future__ import annotations

import dataclasses
import functools
import re
from collections.abc import Iterable, Iterator
from typing import Any, Literal

from rapidfuzz import fuzz

from services.matcher.skeleton import fold_name, look_alike
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
# Legal forms also recognised glued to the end of a name ("AcmeSpA", "ACMESRL",
# "Acme.S.p.A." -> "acmespa"). Only forms that rarely end a real word: "co",
# "as", "sa" or "oy" would cut "Tesco", "Texas", "Alsa", "Savoy".
_GLUED_FORMS = tuple(
    sorted(
        _wordset(
            "spa sapa srl srls snc scarl scrl scpa",
            "ab hb kb publ abpubl aktiebolag aktiebolaget",
            "ltd limited plc llc inc gmbh",
        ),
        key=len,
        reverse=True,
    )
)
# A glued form is cut only if this much name is left: "Saab" stays "saab".
_MIN_STEM = 3
# Words that name the shape of a group, not which group it is.
_GROUP_WORDS = _wordset(
    "group gruppo groupe gruppe gruppen koncern koncernen holding holdings",
    "the and och e di del della",
)
# Words that many unrelated companies share: two names sharing only these are
# not thereby sister companies. Places, sectors and the shape of a business.
_GENERIC_WORDS = _GROUP_WORDS | _wordset(
    "italia italiana italiane italiano italiani italy italian sverige svenska svensk sweden",
    "swedish nordic nordica nordiska norden scandinavia scandinavian europe europa european",
    "international internazionale global world milano roma torino napoli stockholm goteborg",
    "malmo nord sud north south east west new first",
    "services service servizi consulting consulenza consultants solutions soluzioni systems",
    "sistemi technologies technology tech industries industria industrie industriale",
    "bank banca banco banken sparbank credito cassa risparmio popolare assicurazioni",
    "insurance forsakring forsakringar finance finanziaria capital invest investment",
    "investments management partners fastigheter real estate energy energia power",
    "green electric digital data software network networks media communications telecom",
    "pharma farmaceutici medical health care logistics logistica trading foods food",
    "alimentari motors motor auto automotive cars car engineering ingegneria design studio",
    "fashion moda hotels hotel resorts retail store stores shop construction costruzioni",
    "bygg byggnads impianti automation electronics elettronica chemicals chimica",
    "fabbrica officine meccaniche manifatture company societa aktiebolag",
    "fratelli flli brothers crociere cruises coop cooperativa cooperative soc agricola",
    "consorzio",
)
_PUNCT = re.compile(r"[^\w\s]|_")
_JOINERS = re.compile(r"[.'`´]")


def normalize_company(name: str) -> str:
    """A comparison key: folded, punctuation, legal forms and group words removed.

    >>> normalize_company("ACME Italia S.p.A.")
    'acme italia'
    >>> normalize_company("АCME S.p.A.")  # a Cyrillic A
    'acme'
    """
    key = _normalize_once(name)
    # A key must normalise to itself, or a stored key and a freshly normalised
    # spelling could disagree. An ASCII key does; other text may not at once:
    # transliteration looks at neighbours (it spaces a character it cannot
    # transliterate off a Latin letter, but not across an apostrophe removed
    # after it), so such a key is normalised again until it stays.
    for _ in range(_MAX_PASSES):
        if key.isascii():
            return key
        again = _normalize_once(key)
        if again == key:
            return key
        key = again
    return key


_MAX_PASSES = 4


def _normalize_once(name: str) -> str:
    text = fold_name(name)
    # Dots and apostrophes join ("S.p.A." -> "spa", "L'Oréal" -> "loreal");
    # everything else separates words.
    text = _JOINERS.sub("", text)
    text = _PUNCT.sub(" ", text)
    tokens = text.split()
    # Removing a word can bring initials together ("A Oy B" -> "a b" -> "ab"),
    # so repeat until nothing changes. Each pass that changes anything drops a
    # token, so this ends.
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
    # "s p a" (from "S. p. A.") -> "spa"; "h m" (from "H & M") -> "hm". Only
    # ASCII letters: transliteration separates a character it cannot
    # transliterate with a space, which a join would undo, unstably.
    out: list[str] = []
    run: list[str] = []
    for token in [*tokens, ""]:
        if len(token) == 1 and token.isascii() and token.isalpha():
            run.append(token)
            continue
        if run:
            out.append("".join(run))
            run = []
        if token:
            out.append(token)
    return out


def _stems(word: str) -> frozenset[str]:
    """``word`` and what is left of it without glued legal forms at its end."""
    stems = {word}
    while True:
        for form in _GLUED_FORMS:
            if word.endswith(form) and len(word) - len(form) >= _MIN_STEM:
                word = word[: -len(form)]
                stems.add(word)
                break
        else:
            return frozenset(stems)


@dataclasses.dataclass(frozen=True, slots=True)
class _Features:
    compact: str  # the key without spaces
    look: str  # its look-alike skeleton
    stems: frozenset[str]  # skeletons of the compact key without glued legal forms
    core: str  # the key without generic words and spaces (or the compact key, if nothing is left)
    distinctive: frozenset[str]  # skeletons of its distinctive words and their stems


@functools.lru_cache(maxsize=8192)  # bounded: keys repeat across members and postings
def _features(key: str) -> _Features:
    compact = key.replace(" ", "")
    words = key.split()
    core = [w for w in words if w not in _GENERIC_WORDS]
    distinctive = {
        look_alike(stem)
        for word in core
        for stem in _stems(word)
        if stem not in _GENERIC_WORDS and len(stem) >= 2
    }
    return _Features(
        compact=compact,
        look=look_alike(compact),
        stems=frozenset(look_alike(s) for s in _stems(compact)),
        core="".join(core) or compact,
        distinctive=frozenset(distinctive),
    )


def compare_company(a: str, b: str, weights: Weights = DEFAULT_WEIGHTS) -> Verdict:
    """Compare two normalised company keys."""
    return decide_company(a, b, weights)[0]


def decide_company(a: str, b: str, weights: Weights = DEFAULT_WEIGHTS) -> tuple[Verdict, str]:
    """The verdict on two normalised keys and the name of the rule that gave it.

    The rule names carry no part of either name, so they can be counted.
    """
    if not a or not b:
        return "different", "empty"
    if a == b:
        return "same", "equal"
    fa, fb = _features(a), _features(b)
    if fa.compact == fb.compact:
        return "same", "equal_without_spaces"
    if fa.stems & fb.stems:
        return "same", "equal_look_alike_or_glued_form"
    if max(fuzz.ratio(a, b), fuzz.ratio(fa.look, fb.look)) >= weights.company_same:
        return "same", "near_equal"
    if fa.distinctive & fb.distinctive:
        # Sister companies ("ACME Italia" / "ACME Sverige") or one group's names.
        return "ambiguous", "shared_distinctive_word"
    # Generic words left out: "Lube Industries" and "NIBE Industrier" are alike
    # only in what many companies are called.
    if fuzz.ratio(fa.core, fb.core) >= weights.company_ambiguous:
        return "ambiguous", "similar"
    # One name inside the other ("acme" in "acmeitalia"), on the plain letters:
    # skeletons spell "m" as "rn", which would find "terna" in "systemair".
    short, long = sorted((fa.core, fb.core), key=len)
    if len(short) >= weights.company_partial_min_chars and short in long:
        return "ambiguous", "name_inside_name"
    return "different", "different"


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


# --- the operator's tool: ``passaparola companies same`` ----------------------------------------

LINE_FORMAT = "member's employer names, separated by ' | '<TAB>posting company name"


def same_company_lines(lines: Iterable[bytes]) -> Iterator[dict[str, Any]]:
    """``employer | other name<TAB>posting company`` lines -> ``{"verdict": ...}``.

    Exactly the matcher's rule (``same_company``, employers only). Blank lines
    are skipped; a bad line yields ``{"line": n, "error": ...}`` in its place,
    naming what is wrong but never echoing the names (they may be a member's).
    """
    for number, raw in enumerate(lines, start=1):
        try:
            line = raw.decode("utf-8").rstrip("\r\n")
        except UnicodeDecodeError:
            yield {"line": number, "error": "not UTF-8"}
            continue
        if not line.strip():
            continue
        fields = line.split("\t")
        if len(fields) != 2:
            yield {"line": number, "error": f"expected: {LINE_FORMAT}"}
            continue
        employers, company = fields
        yield {"verdict": same_company(employers.split(" | "), [], [company])}
