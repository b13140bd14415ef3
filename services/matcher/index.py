"""An in-memory index of opted-in members, so a posting touches only plausible fits.

Each member is resolved once, when upserted (titles to role ids, places,
languages, company names), and filed under posting lists keyed by
``(title, place)``: the title is a role id, or the key of a title the
taxonomy does not know; the place is a city, a region, or "open to remote"
(per country). Matching a posting then

1. expands its roles to the compatible ones (``Taxonomy.compatible``),
2. unions the posting lists for those roles at the posting's place: C-speed
   set updates over ``array('I')`` slot numbers, no per-member Python work,
3. scores only those candidates with ``scoring.score``, the same function a
   brute-force pass over every member would use.

The lists only ever over-approximate (step 3 re-checks every rule), so the
index can never produce a match the scorer would not, and a test proves it
finds every match the scorer would. Removal is lazy: a removed member's slot
is emptied and its list entries skipped until enough garbage accumulates to
rebuild.
"""

from __future__ import annotations

import dataclasses
from array import array
from collections.abc import Iterable, Iterator
from typing import Any

import numpy as np
from rapidfuzz import fuzz, process

from services.matcher.scoring import (
    Exclusion,
    Match,
    MemberLike,
    PostingLike,
    PreparedMember,
    PreparedPosting,
    prepare_member,
    prepare_posting,
    score,
)
from services.matcher.titles import (
    TitleMatcher,
    compact,
    default_matcher,
    key_similarity,
    sorted_tokens,
    unknown_matches,
)
from services.matcher.weights import DEFAULT_WEIGHTS, Weights

_ANY_COUNTRY = "*"
_LANGUAGE_BITS = 64
_SKILL_BITS = 64
# Seniority fit by the gap in levels (0, 1, 2 or more), as scoring.score has it.
_SENIORITY_FIT = np.array([1.0, 0.5, 0.0])


@dataclasses.dataclass(frozen=True, slots=True)
class MatchRun:
    matches: list[tuple[str, Match]]  # best first
    exclusions: list[tuple[str, Exclusion]]  # candidates that failed a rule
    candidates: int


def _title_tokens(member: PreparedMember) -> set[str]:
    return {f"role:{r}" for r in member.role_ids()} | {f"key:{k}" for k in member.unknown_keys()}


def _place_tokens(member: PreparedMember) -> set[str]:
    places = {f"city:{c}" for c in member.cities} | {f"region:{r}" for r in member.regions}
    if member.remote == "remote":
        places |= {f"remote:{member.country}", f"remote:{_ANY_COUNTRY}"}
    return places


def _ranked(slots: Any, scores: Any, limit: int | None) -> Iterator[int]:
    """Positions of the candidates, best score first, ties by slot.

    With a limit, only the head is sorted: every candidate scoring at least
    the score of the ``2 * limit``-th best (ties included, so the order is
    exactly the full sort's), then the rest only if the caller reads past it
    (the company rule can exclude many of the best)."""
    if limit is None or len(scores) <= 4 * limit:
        yield from np.lexsort((slots, -scores)).tolist()
        return
    k = 2 * limit
    kth = np.partition(scores, len(scores) - k)[len(scores) - k]
    for part in (np.flatnonzero(scores >= kth), np.flatnonzero(scores < kth)):
        yield from part[np.lexsort((slots[part], -scores[part]))].tolist()


class MemberIndex:
    def __init__(self, matcher: TitleMatcher | None = None, weights: Weights = DEFAULT_WEIGHTS):
        self.matcher = matcher or default_matcher()
        self.weights = weights
        self._reset()

    def _reset(self) -> None:
        self._members: list[PreparedMember | None] = []
        self._slot: dict[str, int] = {}
        self._lists: dict[tuple[str, str], array[int]] = {}
        # Per list entry, the member's resolution score for the list's role
        # (what the title rule takes the minimum of); 100 for unknown keys.
        self._title_scores: dict[tuple[str, str], array[float]] = {}
        # Columns per slot, for the vectorised pass: alive, language bits,
        # seniority (-1: none); skill key -> slots.
        self._alive = array("B")
        self._lang = array("Q")
        self._seniority = array("b")
        self._language_bit: dict[str, int] = {}
        self._skills: dict[str, array[int]] = {}
        # The first 64 skill keys also have a bit per slot: a posting's skills
        # are then a mask test on the candidates, not a pass over whole lists.
        self._skill_bit: dict[str, int] = {}
        self._skill_bits = array("Q")
        self._skill_keys: list[str] | None = []
        # unknown title key -> how many live members use it; its sorted list is
        # what rapidfuzz scans for a posting whose title is unknown too.
        self._unknown: dict[str, int] = {}
        self._unknown_list: tuple[list[str], list[str], list[str]] | None = ([], [], [])
        self._garbage = 0

    @classmethod
    def build(
        cls,
        members: Iterable[MemberLike],
        matcher: TitleMatcher | None = None,
        weights: Weights = DEFAULT_WEIGHTS,
    ) -> MemberIndex:
        index = cls(matcher, weights)
        for member in members:
            index.upsert(member)
        return index

    def __len__(self) -> int:
        return len(self._slot)

    def __contains__(self, member_id: object) -> bool:
        return member_id in self._slot

    def get(self, member_id: str) -> PreparedMember | None:
        slot = self._slot.get(member_id)
        return None if slot is None else self._members[slot]

    def members(self) -> Iterator[PreparedMember]:
        return (m for m in self._members if m is not None)

    # --- updates -------------------------------------------------------------------------

    def upsert(self, member: MemberLike, prepared: PreparedMember | None = None) -> None:
        """Add or replace a member; a member who opted out is removed.
        ``prepared``: the member already resolved with this index's matcher."""
        self.remove(member.member_id)
        if member.opted_in:
            self._add(prepare_member(member, self.matcher) if prepared is None else prepared)

    def _add(self, member: PreparedMember) -> None:
        slot = len(self._members)
        self._members.append(member)
        self._slot[member.member_id] = slot
        places = _place_tokens(member)
        role_scores: dict[str, float] = {}
        for resolution in member.titles:
            for hit in resolution.roles:
                token = f"role:{hit.role}"
                role_scores[token] = max(role_scores.get(token, 0.0), hit.score)
        for title in _title_tokens(member):
            value = role_scores.get(title, 100.0)
            for place in places:
                self._lists.setdefault((title, place), array("I")).append(slot)
                self._title_scores.setdefault((title, place), array("d")).append(value)
        self._alive.append(1)
        self._lang.append(self._language_mask(member.languages, grow=True) or 0)
        self._seniority.append(-1 if member.seniority is None else member.seniority)
        bits = 0
        for skill in member.skills:
            if skill not in self._skills:
                self._skill_keys = None
                if len(self._skill_bit) < _SKILL_BITS:
                    self._skill_bit[skill] = len(self._skill_bit)
            self._skills.setdefault(skill, array("I")).append(slot)
            bit = self._skill_bit.get(skill)
            if bit is not None:
                bits |= 1 << bit
        self._skill_bits.append(bits)
        for key in member.unknown_keys():
            if key not in self._unknown:
                self._unknown_list = None
            self._unknown[key] = self._unknown.get(key, 0) + 1

    def remove(self, member_id: str) -> bool:
        slot = self._slot.pop(member_id, None)
        if slot is None:
            return False
        member = self._members[slot]
        self._members[slot] = None
        self._alive[slot] = 0
        assert member is not None
        for key in member.unknown_keys():
            self._unknown[key] -= 1
            if not self._unknown[key]:
                del self._unknown[key]
                self._unknown_list = None
        self._garbage += 1
        if self._garbage > max(1024, len(self._slot)):
            self._rebuild()
        return True

    def _rebuild(self) -> None:
        live = [m for m in self._members if m is not None]
        self._reset()
        for member in live:
            self._add(member)

    def _language_mask(self, codes: Iterable[str], *, grow: bool = False) -> int | None:
        """Bits of the language codes. A code no member speaks gets bit 63,
        which no member has; None when a code has no bit although members may
        speak it (more than 63 distinct codes: the vectorised pass steps aside)."""
        mask = 0
        full = len(self._language_bit) >= _LANGUAGE_BITS - 1
        for code in codes:
            bit = self._language_bit.get(code)
            if bit is None:
                if grow and not full:
                    bit = self._language_bit[code] = len(self._language_bit)
                elif grow:
                    continue  # bit 63 stays free; such postings take the exact path
                elif full:
                    return None  # some member may speak it, and it has no bit
                else:
                    # No member speaks it: the bit nobody has (63) says so.
                    bit = _LANGUAGE_BITS - 1
            mask |= 1 << bit
        return mask

    # --- lookups -------------------------------------------------------------------------

    def _posting_places(self, posting: PreparedPosting) -> list[str]:
        if posting.remote == "remote":
            if not posting.country:
                return [f"remote:{_ANY_COUNTRY}"]
            # members in that country, and those who gave no country
            return [f"remote:{posting.country}", "remote:"]
        places = []
        if posting.city:
            places.append(f"city:{posting.city}")
        if posting.region:
            places.append(f"region:{posting.region}")
        return places

    def _posting_titles(self, posting: PreparedPosting) -> list[str]:
        if posting.title.known:
            roles: set[str] = set()
            for hit in posting.title.roles:
                roles.update(
                    self.matcher.taxonomy.compatible(
                        hit.role, self.matcher.weights.min_role_affinity
                    )
                )
            return [f"role:{r}" for r in sorted(roles)]
        if not posting.title.key:
            return []
        if self._unknown_list is None:
            keys = sorted(self._unknown)
            self._unknown_list = (
                keys,
                [sorted_tokens(k) for k in keys],
                [compact(k) for k in keys],
            )
        keys = unknown_matches(posting.title.key, *self._unknown_list, self.matcher.weights)
        return [f"key:{k}" for k in keys]

    def candidate_slots(self, posting: PreparedPosting) -> set[int]:
        slots: set[int] = set()
        places = self._posting_places(posting)
        for title in self._posting_titles(posting):
            for place in places:
                found = self._lists.get((title, place))
                if found is not None:
                    slots.update(found)
        return slots

    def candidates(self, posting: PostingLike) -> set[str]:
        """Member ids worth scoring for a posting (a superset of its matches)."""
        prepared = prepare_posting(posting, self.matcher)
        out = set()
        for slot in self.candidate_slots(prepared):
            member = self._members[slot]
            if member is not None:
                out.add(member.member_id)
        return out

    def match(
        self,
        posting: PostingLike,
        limit: int | None = None,
        prepared: PreparedPosting | None = None,
    ) -> MatchRun:
        """Score the candidates of a posting; matches best first.

        With ``limit``, only the best ``limit`` matches are scored in full
        (ties broken by index order): the vectorised pass computes every
        candidate's score with the same formula, and only the best pass
        through ``scoring.score`` (which also applies the company rule).
        ``prepared``: the posting already resolved with this index's matcher.
        """
        if prepared is None:
            prepared = prepare_posting(posting, self.matcher)
        vector = self._vector_pass(prepared)
        if vector is None:
            return self._exact(prepared, self.candidate_slots(prepared), limit)
        slots, scores, candidates = vector
        matches: list[tuple[str, Match]] = []
        exclusions: list[tuple[str, Exclusion]] = []
        for i in _ranked(slots, scores, limit):
            if limit is not None and len(matches) >= limit:
                break
            member = self._members[int(slots[i])]
            assert member is not None
            result = score(prepared, member, self.weights, self.matcher)
            if isinstance(result, Match):
                matches.append((member.member_id, result))
            else:
                exclusions.append((member.member_id, result))
        if limit is None:
            matches.sort(key=lambda item: (-item[1].score, item[0]))
        return MatchRun(matches, exclusions, candidates)

    def _exact(
        self, prepared: PreparedPosting, slots: Iterable[int], limit: int | None
    ) -> MatchRun:
        matches: list[tuple[str, Match]] = []
        exclusions: list[tuple[str, Exclusion]] = []
        count = 0
        for slot in sorted(slots):
            member = self._members[slot]
            if member is None:
                continue
            count += 1
            result = score(prepared, member, self.weights, self.matcher)
            if isinstance(result, Match):
                matches.append((member.member_id, result))
            else:
                exclusions.append((member.member_id, result))
        matches.sort(key=lambda item: (-item[1].score, item[0]))
        return MatchRun(matches[:limit] if limit is not None else matches, exclusions, count)

    def _title_values(self, posting: PreparedPosting) -> list[tuple[str, float, float]]:
        """(title token, affinity, posting-side score) for the lists a posting reads.

        A member in the list of role r scores round(affinity * min(posting
        score, member score)), exactly as ``TitleMatcher.decide``; an unknown
        key scores its similarity with the posting's key."""
        if posting.title.known:
            out: list[tuple[str, float, float]] = []
            for hit in posting.title.roles:
                compatible = self.matcher.taxonomy.compatible(
                    hit.role, self.matcher.weights.min_role_affinity
                )
                for role, affinity in compatible.items():
                    out.append((f"role:{role}", affinity, hit.score))
            return out
        return [
            (token, 1.0, float(round(key_similarity(posting.title.key, token[4:]))))
            for token in self._posting_titles(posting)
        ]

    def _vector_pass(self, posting: PreparedPosting) -> tuple[Any, Any, int] | None:
        """Every candidate's score at once (numpy), before the company rule:
        (slots, scores) of those at or above the threshold, and the candidate
        count. None when the posting needs the exact path (a language code
        beyond the 64 with a bit)."""
        w = self.weights
        required = self._language_mask(posting.required)
        nice_bits = [self._language_mask((code,)) for code in posting.nice]
        if required is None or None in nice_bits or not self._members:
            return None
        size = len(self._members)
        title_best = np.zeros(size)
        place_best = np.zeros(size)
        places = self._place_values(posting)
        for token, affinity, posting_score in self._title_values(posting):
            for place, place_value in places:
                found = self._lists.get((token, place))
                if found is None:
                    continue
                slots = np.frombuffer(found, dtype=np.uint32)
                if token.startswith("role:"):
                    member_scores = np.frombuffer(self._title_scores[(token, place)])
                    values = np.rint(affinity * np.minimum(posting_score, member_scores))
                else:
                    values = np.full(len(slots), posting_score)
                np.maximum.at(title_best, slots, values)
                np.maximum.at(place_best, slots, place_value)
        alive = np.frombuffer(self._alive, dtype=np.uint8)
        # On a boolean column: numpy finds the non-zeros of a bool array far
        # faster than of a float one.
        cand = np.flatnonzero((title_best > 0) & (alive == 1))
        candidates = len(cand)
        lang = np.frombuffer(self._lang, dtype=np.uint64)[cand]
        if required:
            fits = (lang & np.uint64(required)) == np.uint64(required)
            cand, lang = cand[fits], lang[fits]
        title = title_best[cand] / 100.0
        place_value_of = place_best[cand]
        total = w.title + w.place
        value = w.title * title + w.place * place_value_of
        if posting.skills:
            matched = np.zeros(len(cand))
            skill_bits = np.frombuffer(self._skill_bits, dtype=np.uint64)[cand]
            for _written, key in posting.skills:
                mask = 0
                has = np.zeros(len(cand), dtype=bool)
                for mine in self._similar_skills(key):
                    bit = self._skill_bit.get(mine)
                    if bit is not None:
                        mask |= 1 << bit
                        continue
                    # A key beyond the first 64 has no bit: read its list.
                    column = np.zeros(size, dtype=bool)
                    column[np.frombuffer(self._skills[mine], dtype=np.uint32)] = True
                    has |= column[cand]
                if mask:
                    has |= (skill_bits & np.uint64(mask)) != 0
                matched += has
            total = total + w.skills
            value = value + w.skills * (matched / len(posting.skills))
        if posting.nice:
            spoken = np.zeros(len(cand))
            for bits in nice_bits:
                assert bits is not None
                spoken += (lang & np.uint64(bits)) != 0
            total = total + w.languages_nice
            value = value + w.languages_nice * (spoken / len(posting.nice))
        totals = np.full(len(cand), total)
        if posting.seniority is not None:
            member_level = np.frombuffer(self._seniority, dtype=np.int8)[cand].astype(np.int16)
            known = member_level >= 0
            gap = np.minimum(np.abs(member_level - posting.seniority), 2)
            fit = _SENIORITY_FIT[gap] * known
            totals = totals + w.seniority * known
            value = value + w.seniority * fit
        scores = value / totals
        keep = scores >= w.threshold - 1e-9
        return cand[keep], scores[keep], candidates

    def _place_values(self, posting: PreparedPosting) -> list[tuple[str, float]]:
        w = self.weights
        if posting.remote == "remote":
            return [(place, w.remote) for place in self._posting_places(posting)]
        out = []
        if posting.city:
            out.append((f"city:{posting.city}", w.same_city))
        if posting.region:
            out.append((f"region:{posting.region}", w.same_region))
        return out

    def _similar_skills(self, key: str) -> list[str]:
        """Member skill keys that count for a posting's skill (as ``matched_skills``)."""
        if self._skill_keys is None:
            self._skill_keys = sorted(self._skills)
        found = process.extract(
            key,
            self._skill_keys,
            scorer=fuzz.ratio,
            score_cutoff=self.weights.skill_min,
            limit=None,
        )
        keys = {choice for choice, _score, _i in found}
        if key in self._skills:
            keys.add(key)
        return sorted(keys)

    def explain(self, posting: PostingLike) -> MatchRun:
        """Score every member, not only the candidates: the operators' dry run,
        and the reference the index is tested against."""
        prepared = prepare_posting(posting, self.matcher)
        matches: list[tuple[str, Match]] = []
        exclusions: list[tuple[str, Exclusion]] = []
        for member in self.members():
            result = score(prepared, member, self.weights, self.matcher)
            if isinstance(result, Match):
                matches.append((member.member_id, result))
            else:
                exclusions.append((member.member_id, result))
        matches.sort(key=lambda item: (-item[1].score, item[0]))
        return MatchRun(matches, exclusions, len(self))
