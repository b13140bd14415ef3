"""Free job titles: normalisation, resolution to taxonomy roles, and the title rule.

The rule, used by the matcher and by ``passaparola titles similarity`` alike:

1. Both titles resolve to roles: they match when some pair of their roles is
   close enough (``Weights.min_role_affinity``). This is what lets
   "Assistente di Direzione" meet "Executive Assistant" and "Ledningsassistent".
2. Neither resolves: they match only when nearly identical once normalised
   (``Weights.unknown_min``) and every word has a partner on the other side.
3. Only one resolves: no match. The taxonomy says what the known title means;
   an unknown title that close to it would have resolved.

Resolution compares a title with every taxonomy title by token-sorted
similarity (rapidfuzz), which absorbs word order and typos, and then demands
that every word on each side has a fuzzy partner on the other. That second
check is the head-noun/qualifier awareness: "assistente di laboratorio" is
close to "assistente di direzione" as a string, but "laboratorio" has no
partner, so it does not resolve there (it resolves to its own false-friend role).
"""

from __future__ import annotations

import dataclasses
import functools
import re
import unicodedata
from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Literal

from rapidfuzz import fuzz, process
from rapidfuzz.distance import OSA

from services.matcher.taxonomy import Taxonomy, default_taxonomy
from services.matcher.weights import DEFAULT_WEIGHTS, Weights

if TYPE_CHECKING:  # linker imports this module (fold), so it is imported when first used
    from services.matcher.linker import Linker

# --- normalisation ------------------------------------------------------------------------

_FOLD = str.maketrans({"ø": "o", "æ": "ae", "ß": "ss", "ł": "l", "đ": "d", "’": "'", "`": "'"})


def fold(text: str) -> str:
    """Lowercase and strip accents (å->a, è->e), so spelling on a phone keyboard
    without accents compares equal to the ad's."""
    text = unicodedata.normalize("NFKC", text).casefold().translate(_FOLD)
    decomposed = unicodedata.normalize("NFKD", text)
    return "".join(c for c in decomposed if not unicodedata.combining(c))


_GENDER_MARKER = re.compile(
    r"\(\s*(?:all genders|tutti i generi|alla kon)\s*\)"
    r"|\(?(?<![\w/])[mfwdhkx]\s*/\s*[mfwdhkx](?:\s*/\s*[mfwdhkx])?(?![\w/])\)?"
)
# "segretario/a", "impiegata/o", "direttore/trice": keep one form.
_GENDER_SUFFIX = re.compile(r"\b(\w+)\s*/\s*(?:a|o|e|essa|ssa|trice|rice)(?!\w)")

_EXEC = (
    r"(?:ceo|cfo|coo|cto|cio|cmo|md|vd|ad|dg|gm|vp|svp|evp|chief executive(?: officer)?"
    r"|managing directors?|general manager|vice presidents?|chairman|chairwoman|chair"
    r"|presidente?|founders?|co ?founders?|owners?|partners?|board(?: of directors)?"
    r"|c ?suite|c ?level|executives?|executive team|leadership team|management team"
    r"|amministratore delegato|amministratrice delegata|direttore generale"
    r"|direttrice generale|direzione generale|direzione|fondatore|fondatrice|titolare"
    r"|koncernchef|ledningsgruppen|ledningen"
    r"|verkstallande direktor|grundare|agare)"
)
# The executive must end the phrase: "assistant to the executive chef" is a
# kitchen job, not an executive assistant.
_EXECS = rf"{_EXEC}(?:\s+(?:and|&|e|och)\s+(?:the\s+)?{_EXEC})*(?!\s*\w)"

# "Assistant to the CEO" is how many English ads say "executive assistant";
# Italian and Swedish ads say the same with "del/al" and "till".
_REWRITES: tuple[tuple[re.Pattern[str], str], ...] = (
    # ...but a secretary to a board is a company secretary, a governance job.
    (re.compile(r"\bsecretary\s+(?:to|of)\s+the\s+board(?: of directors)?\b"), "board secretary"),
    (
        re.compile(
            rf"\b(executive|personal|private)\s+(assistant|secretary)\s+(?:to|for)\s+"
            rf"(?:the\s+|our\s+)?(?:group\s+)?{_EXECS}\b"
        ),
        r"\1 \2",
    ),
    (
        re.compile(
            rf"\b(assistant|secretary)\s+(?:to|for)\s+(?:the\s+|our\s+)?(?:group\s+)?{_EXECS}\b"
        ),
        r"executive \1",
    ),
    (re.compile(rf"\b(ea|pa)\s+(?:to|for)\s+(?:the\s+|our\s+)?(?:group\s+)?{_EXECS}\b"), r"\1"),
    (
        re.compile(
            r"\b(assistente|segretari[oa]|segreteria)\s+(?:personale\s+)?"
            r"(?:del|della|dello|dell|al|alla|allo|all|ai|agli|per il|per la|per l|per)\s+"
            rf"{_EXECS}\b"
        ),
        r"\1 di direzione",
    ),
    (
        re.compile(rf"\b(assistent|sekreterare)\s+(?:till|at|for)\s+(?:var\s+)?{_EXECS}\b"),
        r"vd \1",
    ),
    # Whatever is left of "to the CEO", "al CEO", "till VD" after a title that
    # already says it is an executive's assistant.
    (
        re.compile(
            rf"\b(?:to|for|del|della|dell|al|alla|all|till|at)\s+(?:the\s+|our\s+)?{_EXECS}$"
        ),
        "",
    ),
)

_LANG = (
    r"(?:english|inglese|engelska|german|tedesco|tyska|french|francese|franska|spanish"
    r"|spagnolo|spanska|swedish|svedese|svenska|italian|italiano|italienska|nordic|nordisk)"
)
_QUALIFIERS = re.compile(
    r"(?<!\w)(?:"
    + "|".join(
        (
            r"bilingue|bilingual|trilingue|trilingual|multilingue|multilingual",
            r"tvasprakig|flersprakig",
            rf"(?:con|with|med)\s+(?:ottimo\s+|fluent\s+|fluente\s+|buon\s+|flytande\s+)?{_LANG}"
            r"(?:\s+fluente)?",
            rf"{_LANG}\s*(?:speaking|speaker|talande|madrelingua|fluente|fluent)",
            rf"madrelingua\s+{_LANG}",
            r"part\s*time|full\s*time|tempo\s+(?:pieno|parziale)",
            r"(?:a\s+)?tempo\s+(?:in)?determinato|contratto\s+a\s+(?:termine|progetto)",
            r"heltid|deltid|\w*vikariat|vikarie|visstid\w*|tillsvidare\w*|fast\s+anstallning",
            r"temporary|temp|permanent|fixed\s*term|freelance|interim|maternity\s+cover",
            r"(?:sostituzione|copertura)\s+maternita",
            r"urgent|urgente|immediate\s+start|da\s+subito|asap",
            r"stage|tirocinio|tirocinante|internship|intern|trainee|praktikant",
            r"senior|junior|jr|sr|entry\s*level|esperto|esperta|con\s+esperienza|erfaren",
            r"remote|remoto|da\s+remoto|smart\s+working|hybrid|ibrido|distans|on\s*site",
        )
    )
    + r")(?!\w)"
)

# Contract, level and language qualifiers, shared with ``title_terms``.
QUALIFIERS = _QUALIFIERS

# Alternatives inside one title: "Segretaria / Receptionist", "EA - Milano".
_SEGMENTS = re.compile(r"\s*(?:/|\||;|,|\+|&|\s[-–—]\s|\s(?:e|and|och|o|or|eller|oppure)\s)\s*")
_PUNCT = re.compile(r"[^\w\s]|_")
_STOPWORDS = frozenset(
    word
    for line in (
        # Italian articles and prepositions ("assistente di/alla direzione")
        "di del della dello dei degli delle dell d al alla allo ai agli alle all a e ed per",
        "il la lo le gli i l un una uno in con da su",
        # English
        "to the of for and an at with on",
        # Swedish ("pa", folded "på", is left out: it is also PA)
        "och till av med en ett",
    )
    for word in line.split()
)


def _clean(text: str) -> str:
    tokens = _PUNCT.sub(" ", text).split()
    return " ".join(t for t in tokens if t not in _STOPWORDS)


def _prepare(title: str) -> str:
    text = fold(title)
    text = _GENDER_MARKER.sub(" ", text)
    text = _GENDER_SUFFIX.sub(r"\1", text)
    text = text.replace("'", " ")
    # A hyphen inside a word separates words ("VD-assistent" -> "vd assistent");
    # the same compound written solid ("co-ordinator", "coordinator") still
    # meets it through the space-free comparison.
    text = re.sub(r"(?<=\w)-(?=\w)", " ", text)
    text = re.sub(r"\s+", " ", text).strip()
    for pattern, replacement in _REWRITES:
        text = pattern.sub(replacement, text).strip()
    text = _QUALIFIERS.sub(" ", text)
    # Brackets hold qualifiers or abbreviations: keep the words, drop the marks.
    return re.sub(r"[()\[\]{}]", " ", text)


def normalize_title(title: str) -> str:
    """The comparison key of a title: folded, qualifiers and stopwords removed.

    >>> normalize_title("Assistente di Direzione bilingue (m/f) - part time")
    'assistente direzione'
    """
    return _clean(_prepare(title))


def title_alternatives(title: str) -> tuple[str, ...]:
    """The whole title's key, then the key of each alternative inside it."""
    prepared = _prepare(title)
    whole = _clean(prepared)
    parts = [p for p in (_clean(s) for s in _SEGMENTS.split(prepared)) if p]
    if len(parts) <= 1:
        return (whole,) if whole else ()
    return (whole, *parts)


# --- comparing two keys -------------------------------------------------------------------


def _tokens_partner(a: str, b: str) -> bool:
    if a == b:
        return True
    longest = max(len(a), len(b))
    if min(len(a), len(b)) <= 3:
        # Abbreviations and short words must be exact: EA is not PA, VD is not HR.
        return False
    # Typos are one or two edits; a different word is more, even when it shares
    # a long ending ("dietistassistent" vs "direktionsassistent") or a stem
    # ("personal" vs "personlig", "direzione" vs "redazione").
    # Edits count a swap of two letters as one (optimal string alignment).
    # Typos rarely hit the first letters, while compounds differ exactly there
    # ("hrassistent" vs "vdassistent"), so the start must agree.
    edits = OSA.distance(a, b, score_cutoff=1 if longest < 8 else 2)
    if edits == 1:
        return a[0] == b[0]
    return edits == 2 and a[:3] == b[:3]


def tokens_aligned(a: str, b: str) -> bool:
    """Every word of each key has a partner in the other (within typo distance),
    or the keys are the same compound written with or without spaces."""
    ta, tb = a.split(), b.split()
    if not ta or not tb:
        return False
    if all(any(_tokens_partner(x, y) for y in tb) for x in ta) and all(
        any(_tokens_partner(y, x) for x in ta) for y in tb
    ):
        return True
    return len(ta) != len(tb) and OSA.distance(compact(a), compact(b), score_cutoff=1) <= 1


def compact(key: str) -> str:
    return key.replace(" ", "")


def initials(key: str) -> frozenset[str]:
    """The first letters of a key's words: two keys whose words all have
    partners (``_tokens_partner``) have the same."""
    return frozenset(word[0] for word in key.split())


def key_similarity(a: str, b: str) -> float:
    """The better of token-sorted similarity (word order) and similarity with
    spaces removed (compounds: "co ordinator", "ledningsassistent")."""
    return float(max(fuzz.token_sort_ratio(a, b), fuzz.ratio(compact(a), compact(b))))


def compare_keys(a: str, b: str) -> tuple[float, bool]:
    """Similarity of two normalised keys, and whether their words align."""
    if not a or not b:
        return 0.0, False
    return key_similarity(a, b), tokens_aligned(a, b)


def sorted_tokens(key: str) -> str:
    """A key's words in sorted order: ``fuzz.ratio`` of two such forms is
    ``fuzz.token_sort_ratio`` of the keys, without sorting every choice again
    on every scan (several times faster over an ESCO-sized taxonomy)."""
    return " ".join(sorted(key.split()))


def similar_keys(
    key: str, sorted_keys: Sequence[str], compact_keys: Sequence[str], cutoff: float
) -> dict[int, float]:
    """Indexes of the keys whose ``key_similarity`` with ``key`` reaches
    ``cutoff``, given the keys' ``sorted_tokens`` and ``compact`` forms.

    Two rapidfuzz scans in C, one per half of the max, so the result is exact.
    """
    found: dict[int, float] = {}
    scans = (
        (sorted_tokens(key), sorted_keys),
        (compact(key), compact_keys),
    )
    for query, choices in scans:
        for _choice, score, index in process.extract(
            query, choices, scorer=fuzz.ratio, score_cutoff=cutoff, limit=None
        ):
            found[index] = max(found.get(index, 0.0), float(score))
    return found


# --- resolution -----------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True, slots=True)
class ResolvedRole:
    role: str
    score: float  # 0..100
    via: str  # the taxonomy title's key it resolved through


@dataclasses.dataclass(frozen=True, slots=True)
class Resolution:
    key: str  # the whole title's key; "" for an empty title
    roles: tuple[ResolvedRole, ...]  # best first; empty when unknown

    @property
    def known(self) -> bool:
        return bool(self.roles)

    def role_ids(self) -> tuple[str, ...]:
        return tuple(r.role for r in self.roles)


@dataclasses.dataclass(frozen=True, slots=True)
class TitleDecision:
    score: int  # 0..100
    match: bool
    kind: Literal["role", "fuzzy", "none"]
    a_role: str | None = None
    b_role: str | None = None


class TitleMatcher:
    """Resolves titles against one taxonomy and applies the title rule."""

    def __init__(self, taxonomy: Taxonomy | None = None, weights: Weights = DEFAULT_WEIGHTS):
        self.taxonomy = taxonomy or default_taxonomy()
        self.weights = weights
        key_roles: dict[str, set[str]] = {}
        for role in self.taxonomy.roles.values():
            for _lang, title in role.all_titles():
                key = normalize_title(title)
                if key:
                    key_roles.setdefault(key, set()).add(role.id)
        self._key_roles = {k: frozenset(v) for k, v in key_roles.items()}
        self._keys = sorted(self._key_roles)
        self._sorted = [sorted_tokens(k) for k in self._keys]
        self._compact = [compact(k) for k in self._keys]
        # Filed for ``_candidates``: by the first letters of their words, and
        # by the length of their space-free form.
        self._by_initials: dict[frozenset[str], list[int]] = {}
        self._by_length: dict[int, tuple[list[int], list[str]]] = {}
        for index, key in enumerate(self._keys):
            self._by_initials.setdefault(initials(key), []).append(index)
            at, forms = self._by_length.setdefault(len(self._compact[index]), ([], []))
            at.append(index)
            forms.append(self._compact[index])
        self.resolution = functools.lru_cache(maxsize=200_000)(self._resolution)
        self._linker: Linker | None = None
        self._imported = any(r.source != "project" for r in self.taxonomy.roles.values())

    @property
    def linker(self) -> Linker:
        """The taxonomy's titles as a linker index (each role a concept), built
        on first use: most titles resolve without it."""
        if self._linker is None:
            from services.matcher.linker import Concept, Linker

            self._linker = Linker(
                [
                    Concept(role.id, tuple(role.all_titles()))
                    for role in self.taxonomy.roles.values()
                ]
            )
        return self._linker

    def build_linker(self) -> None:
        """Build the linker now rather than on the first unknown title: it takes
        seconds with an ESCO import, so a service builds it while loading
        (off its event loop), never inside a message."""
        linker = self.linker
        if self._imported:
            # the loose link to imported occupations reads their documents
            linker.build_documents()

    @property
    def linker_built(self) -> bool:
        return self._linker is not None

    def ambiguous_keys(self) -> dict[str, frozenset[str]]:
        """Taxonomy titles that normalise to the same key in several roles."""
        return {k: v for k, v in self._key_roles.items() if len(v) > 1}

    def resolve(self, title: str) -> tuple[ResolvedRole, ...]:
        return self.resolution(title).roles

    def _resolution(self, title: str) -> Resolution:
        alternatives = title_alternatives(title)
        if not alternatives:
            return Resolution("", ())
        whole, *parts = alternatives
        # The whole title first; then its alternatives ("Office Manager &
        # Executive Assistant" is both); then the whole with trailing qualifiers.
        found = self._margin(self._full(whole))
        for part in [] if found else parts:
            for role, hit in self._resolve_key(part).items():
                if role not in found or hit.score > found[role].score:
                    found[role] = hit
        if not found:
            found = self._margin(self._qualified(whole))
        if not found:
            found = self._linked(title)
        elif self._imported_only(found):
            found = self._with_profile(title, found)
        ordered = sorted(found.values(), key=lambda r: (-r.score, r.role))
        return Resolution(whole, tuple(ordered))

    def _linked(self, title: str) -> dict[str, ResolvedRole]:
        # The title as terms (lemmas, compound parts, head noun, without the ad's
        # wording) against every role's titles: "Vi söker nu en
        # ledningsassistent till expansivt företag i Malmö", "Assistenti di
        # direzione", "Skolreceptionist".
        from services.matcher.title_terms import analyze

        if analyze(title).generic:
            return {}
        # The head noun must be there: a "sales manager" is no sales assistant,
        # however much else they share.
        links = self.linker.link(title, top=5, require_head=True)
        if not links or links[0].score < self.weights.link_min:
            return self._with_profile(title, {})
        floor = links[0].score - self.weights.link_margin
        found = {
            link.uri: ResolvedRole(link.uri, self._linked_score(link.score), "link")
            for link in links
            if link.score >= floor
        }
        return self._with_profile(title, found) if self._imported_only(found) else found

    def _linked_score(self, link_score: float) -> float:
        """A linked role's score on the resolution scale: ``resolve_min`` for a
        link score of 0, 100 for 1.

        Whatever the route (resolved, qualified, linked, profile), a role a
        title resolves to scores at least ``resolve_min``, so ``decide``'s
        score of a fit is at least ``min_role_affinity * resolve_min`` and the
        matcher's title component agrees with the fit: a role reached only by
        the linker once kept its link score (0.3-0.6) and fell below the
        match threshold although ``titles similarity`` said fit. The link
        score still orders the linked roles among themselves."""
        share = min(max(link_score, 0.0), 1.0)
        return round(self.weights.resolve_min + (100.0 - self.weights.resolve_min) * share, 1)

    def _imported_only(self, found: Mapping[str, ResolvedRole]) -> bool:
        return self._imported and all(
            self.taxonomy.roles[role].source != "project" for role in found
        )

    def _with_profile(self, title: str, found: dict[str, ResolvedRole]) -> dict[str, ResolvedRole]:
        """``found`` and the title's link profile: the imported occupations
        near the top of the full ranking (``Weights.link_profile_*``).

        Two unseen labels of one imported occupation ("sottufficiale",
        "sergente maggiore") seldom both rank it first, but nearly always both
        rank it near the top: the rule (``decide``) matches two titles whose
        roles share one, so profiles that share an occupation fit. A title
        resolved to a project role gets no profile (the project's rules keep
        specialised roles apart from the general one), nor one whose best is a
        project role. A title already placed (``found``) widens only to
        occupations naming its head noun (or its translation) in some title:
        a "marketing manager" is no kind of marketing assistant, however close
        the rest. So does a title headed by a rank (manager, assistant,
        direttore, chef...); any other title placed nowhere is read by its
        whole profile: an unseen label's head is often a word its occupation's
        labels never use ("fönstersättare" for "posatore di finestre")."""
        from services.matcher.title_terms import RANKS, analyze

        if not self._imported:
            return found
        links = self.linker.link(title, top=self.weights.link_profile_top)
        if not links or links[0].score < self.weights.link_profile_min:
            return found
        if self.taxonomy.roles[links[0].uri].source == "project":
            return found
        floor = links[0].score - self.weights.link_profile_margin
        needs_head = bool(found) or analyze(title).head in RANKS
        out = dict(found)
        for link in links:
            if link.score < floor or link.uri in out:
                continue
            if self.taxonomy.roles[link.uri].source == "project":
                continue
            if not needs_head or self.linker.names_head(title, link.uri):
                out[link.uri] = ResolvedRole(link.uri, self._linked_score(link.score), "profile")
        return out

    def _resolve_key(self, key: str) -> dict[str, ResolvedRole]:
        return self._margin(self._full(key) or self._qualified(key))

    def _margin(self, hits: dict[str, ResolvedRole]) -> dict[str, ResolvedRole]:
        if not hits:
            return {}
        best = max(h.score for h in hits.values())
        floor = best - self.weights.resolve_margin
        return {r: h for r, h in hits.items() if h.score >= floor}

    def _candidates(self, key: str) -> list[int]:
        """Indexes of the taxonomy keys that can align with ``key``
        (``tokens_aligned``), in order: those whose words start with the same
        set of letters (a word's partner starts like it), and those whose
        space-free form is within one edit of the key's (the same compound with
        or without spaces). Resolution scans these, not every key: with an
        ESCO import that is tens of thousands fewer comparisons per title, and
        the same result."""
        found = set(self._by_initials.get(initials(key), ()))
        joined = compact(key)
        for length in (len(joined) - 1, len(joined), len(joined) + 1):
            at, forms = self._by_length.get(length, ((), ()))
            for _form, _edits, i in process.extract(
                joined, forms, scorer=OSA.distance, score_cutoff=1, limit=None
            ):
                found.add(at[i])
        return sorted(found)

    def _full(self, key: str) -> dict[str, ResolvedRole]:
        exact = self._key_roles.get(key)
        if exact:
            return {r: ResolvedRole(r, 100.0, key) for r in exact}
        out: dict[str, ResolvedRole] = {}
        candidates = self._candidates(key)
        hits = similar_keys(
            key,
            [self._sorted[i] for i in candidates],
            [self._compact[i] for i in candidates],
            self.weights.resolve_min,
        )
        for local, score in hits.items():
            choice = self._keys[candidates[local]]
            if not tokens_aligned(key, choice):
                continue
            for role in self._key_roles[choice]:
                if role not in out or score > out[role].score:
                    out[role] = ResolvedRole(role, float(score), choice)
        return out

    def _qualified(self, key: str) -> dict[str, ResolvedRole]:
        # A known title of two or more words followed by one or two more words:
        # "assistente direzione commerciale", "executive assistant finance". Only
        # trailing words: in English a leading word changes the job ("lab
        # assistant"), and a single known word is too weak ("chef kundtjanst"
        # is a Swedish manager, not a cook).
        tokens = key.split()
        out: dict[str, ResolvedRole] = {}
        for extra in (1, 2):
            head = tokens[: len(tokens) - extra]
            if len(head) < 2:
                continue
            for role, hit in self._in_order(" ".join(head)).items():
                score = hit.score * self.weights.qualified_factor
                if score >= self.weights.resolve_min and (
                    role not in out or score > out[role].score
                ):
                    out[role] = ResolvedRole(role, score, hit.via)
        families = {self.taxonomy.roles[r].family for r in out}
        return out if len(families) == 1 else {}

    def _in_order(self, key: str) -> dict[str, ResolvedRole]:
        # Like _full but word order counts: with trailing words present, a
        # reordered head is a different phrase ("assistant [to the] executive
        # chef" is not "executive assistant" + "chef").
        exact = self._key_roles.get(key)
        if exact:
            return {r: ResolvedRole(r, 100.0, key) for r in exact}
        out: dict[str, ResolvedRole] = {}
        choices = [self._keys[i] for i in self._candidates(key)]
        for choice, score, _ in process.extract(
            key, choices, scorer=fuzz.ratio, score_cutoff=self.weights.resolve_min, limit=None
        ):
            if tokens_aligned(key, choice):
                for role in self._key_roles[choice]:
                    if role not in out or score > out[role].score:
                        out[role] = ResolvedRole(role, float(score), choice)
        return out

    # --- the rule -----------------------------------------------------------------------

    def decide(self, a: Resolution, b: Resolution) -> TitleDecision:
        if a.known and b.known:
            best: tuple[bool, float, str, str] | None = None
            for x in a.roles:
                for y in b.roles:
                    affinity = self.taxonomy.affinity(x.role, y.role)
                    candidate = (
                        affinity >= self.weights.min_role_affinity,
                        affinity * min(x.score, y.score),
                        x.role,
                        y.role,
                    )
                    if best is None or candidate[:2] > best[:2]:
                        best = candidate
            assert best is not None
            ok, score, ra, rb = best
            return TitleDecision(round(score), ok, "role", ra, rb)
        score, aligned = compare_keys(a.key, b.key)
        if a.known or b.known:
            return TitleDecision(round(score), False, "none")
        ok = aligned and score >= self.weights.unknown_min
        return TitleDecision(round(score), ok, "fuzzy" if ok else "none")

    def compare(self, a: str, b: str) -> TitleDecision:
        return self.decide(self.resolution(a), self.resolution(b))

    def best(self, posting_title: str, member_titles: Iterable[str]) -> TitleDecision:
        """The best decision between a posting's title and any of a member's titles."""
        posting = self.resolution(posting_title)
        best = TitleDecision(0, False, "none")
        for title in member_titles:
            decision = self.decide(posting, self.resolution(title))
            if (decision.match, decision.score) > (best.match, best.score):
                best = decision
        return best


@functools.cache
def default_matcher() -> TitleMatcher:
    return TitleMatcher()


def resolve_title(title: str, matcher: TitleMatcher | None = None) -> tuple[ResolvedRole, ...]:
    """Roles a free title resolves to, best first; empty when it is unknown."""
    return (matcher or default_matcher()).resolve(title)


def title_similarity(a: str, b: str, matcher: TitleMatcher | None = None) -> tuple[int, bool]:
    """Score 0..100 and the matcher's own match decision for two titles."""
    decision = (matcher or default_matcher()).compare(a, b)
    return decision.score, decision.match


def unknown_matches(
    key: str,
    keys: Sequence[str],
    sorted_keys: Sequence[str],
    compact_keys: Sequence[str],
    weights: Weights = DEFAULT_WEIGHTS,
) -> list[str]:
    """Those of ``keys`` (unknown titles' keys, with ``sorted_keys`` and
    ``compact_keys`` their ``sorted_tokens`` and space-free forms) that an
    unknown ``key`` matches by rule 2."""
    hits = similar_keys(key, sorted_keys, compact_keys, weights.unknown_min)
    return [keys[i] for i in sorted(hits) if tokens_aligned(key, keys[i])]
