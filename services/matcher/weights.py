"""Every weight and threshold of the matcher, in one documented place.

Change a number here and both the matcher and the operator tools
(``passaparola titles similarity``) follow, so what an operator sees is what
the matcher does. ``docs/matching.md`` explains how these were chosen.
"""

from __future__ import annotations

import dataclasses


@dataclasses.dataclass(frozen=True, slots=True)
class Weights:
    # --- titles (0..100 scales are rapidfuzz's) ---------------------------------------
    # A free title resolves to a taxonomy title when their token-sorted similarity
    # reaches this and every word of each finds a partner in the other (typos are
    # absorbed, a different head noun or qualifier is not).
    # Every route to a role scores on this scale, at least this: a linked or
    # profile role scores resolve_min + (100 - resolve_min) * link score
    # (``TitleMatcher._linked_score``), so a fit's title score never falls
    # below a resolved fit's and the matcher tells whom the rule says fits.
    resolve_min: float = 85.0
    # Resolved roles within this many points of the best one are kept too, so
    # "segretaria" resolves to its role only, not to every role with a close title.
    resolve_margin: float = 3.0
    # "<known title> <one or two qualifier words>" resolves at this fraction of
    # the known title's score ("assistente di direzione commerciale").
    qualified_factor: float = 0.9
    # Two resolved titles match when their roles are at least this close
    # (roles.AFFINITY: EA-PA 0.9, EA-secretary 0.8, EA-receptionist 0.3).
    min_role_affinity: float = 0.75
    # Two titles that neither resolve match only when nearly identical.
    unknown_min: float = 90.0
    # A title that resolves to no taxonomy title is linked (``linker.py``: lemmas,
    # compounds, head noun, ad wording removed) to the roles whose titles score
    # at least this (0..1), keeping those within ``link_margin`` of the best.
    link_min: float = 0.7
    link_margin: float = 0.03
    # A title's link profile (issue 13, session 5): with an import, a title
    # that is not a project role also resolves to the imported (ESCO)
    # occupations among the best ``link_profile_top`` of the full ranking
    # (its labels read together as a document, not only those with the
    # title's head) that score within ``link_profile_margin`` of the best,
    # when that best reaches ``link_profile_min`` and is no project role. A
    # title already placed (resolved or strictly linked), or headed by a rank
    # (``title_terms.RANKS``: manager, assistant...), widens only to
    # occupations with a label headed by its head noun. Two titles then fit
    # when their profiles share an occupation: two unseen labels of one
    # occupation rarely both rank it first, but nearly always both near the
    # top. Never a project role: those keep the strict rule that keeps a
    # "sales manager" from the shop assistants and a legal secretary from the
    # general one. Chosen on the ESCO tune part (leaveout --part tune,
    # similarity pairs): the best F1 among the settings with precision at
    # least 0.85 (top 5, margin 0.30: P 0.86 / R 0.62 / F1 0.72; top 8,
    # margin 0.20 the same; top 10, margin 0.30: F1 0.74 at P 0.81; with no
    # head check at all F1 0.75 at P 0.86, with one on every title 0.62; the
    # old rule 0.46). Session 6 lowered the floor from 0.2 to 0.1: an unseen
    # label's best link is often weak but right ("sottufficiale", "capocabina",
    # "kakbakare" at 0.18-0.2), and on the tune part F1 rose 0.725 -> 0.734
    # with precision 0.869 -> 0.870 (0.0 gave the same as 0.1).
    link_profile_top: int = 5
    link_profile_min: float = 0.1
    link_profile_margin: float = 0.3

    # --- the score of a match, 0..1 -----------------------------------------------------
    # Components without information (no nice-to-have languages in the posting,
    # no skills, no seniority on either side) are left out and the remaining
    # weights renormalised, so a terse posting is not penalised for being terse.
    title: float = 0.45
    place: float = 0.20
    skills: float = 0.15
    languages_nice: float = 0.10
    seniority: float = 0.10
    # Below this, a candidate who passed every hard filter is still not told.
    threshold: float = 0.60
    # A member's "not for me" (``declines.py``) takes this off the score of a
    # later posting like the declined one, once per decline: one decline moves
    # a good fit a little, a pattern of them moves it below the threshold.
    decline_penalty: float = 0.15

    # --- place ---------------------------------------------------------------------------
    same_city: float = 1.0
    same_region: float = 0.7
    remote: float = 1.0

    # --- skills --------------------------------------------------------------------------
    # A member's skill counts for a posting's skill at this rapidfuzz ratio.
    skill_min: float = 90.0

    # --- companies (discretion) ----------------------------------------------------------
    # Normalised names at or above this ratio are the same company (typos).
    company_same: float = 92.0
    # At or above this (ratio, or token-set ratio: one name's words inside the
    # other's) the names may be the same company: the match is suppressed.
    company_ambiguous: float = 85.0
    # A short name inside a longer one ("acme" in "acmeitalia") is ambiguous only
    # from this many characters, so "abb" does not suppress "abbvie".
    company_partial_min_chars: int = 5

    # --- caps: quality over quantity -------------------------------------------------------
    # A member is told about at most this many new openings per ``member_cap_days``
    # (the best-scoring first); a fit beyond the cap is not recorded, and may
    # still be told later (after an update of the posting, once under the cap).
    member_cap: int = 5
    member_cap_days: int = 7
    # An opening is told to at most this many members at once (the best first);
    # a still-fitting match is never withdrawn to make room.
    posting_cap: int = 100


DEFAULT_WEIGHTS = Weights()
