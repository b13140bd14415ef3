"""What a member's "not for me" teaches the matcher, and what the declines
suggest to operators.

A decline (``member.declined``, from the notifier's form) is stored with what
the declined posting was: its title's normalised key and roles, city,
seniority level and company (``Decline``), so it keeps its meaning after the
posting closes. From then on, for that member:

- the declined posting itself is not told again (nor an update of it);
- "company": no posting of that company is told, as if they had blocked it;
- "role": no posting with the same title (the same normalised key) is told,
  and one resolving to one of the same roles scores ``decline_penalty`` less;
- "place": a posting in the same city scores ``decline_penalty`` less;
- "level": a posting at the same seniority level scores ``decline_penalty`` less;
- "timing", "other", "none": nothing beyond the posting itself.

Penalties add up, one per matching decline, and a fit that falls below
``Weights.threshold`` is not told: one decline is a hint, several about the
same thing a pattern. Nothing here does I/O; ``handlers.py`` reads and writes.

For operators (``passaparola taxonomy suggestions``): titles that members who
want a role keep declining as "not my role" are where the taxonomy and the
members disagree (``suggestions``).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from services.matcher.scoring import Match, PreparedPosting
from services.matcher.weights import DEFAULT_WEIGHTS, Weights

REASONS = ("role", "place", "level", "company", "timing", "other", "none")


@dataclasses.dataclass(frozen=True, slots=True)
class Decline:
    posting_id: str
    reason: str
    company_id: str
    title_key: str
    roles: tuple[str, ...]
    place: str  # the posting's city key, "" when it had none
    level: int | None  # the posting's seniority level


def decline_of(posting_id: str, company_id: str, reason: str, prepared: PreparedPosting) -> Decline:
    """A decline of a posting, as stored."""
    return Decline(
        posting_id=posting_id,
        reason=reason if reason in REASONS else "none",
        company_id=company_id,
        title_key=prepared.title.key,
        roles=prepared.title.role_ids(),
        place=prepared.city,
        level=prepared.seniority,
    )


def penalties(
    posting_id: str, company_id: str, prepared: PreparedPosting, declines: Iterable[Decline]
) -> int | None:
    """How many of a member's declines a posting is like; None when one of
    them rules it out altogether."""
    roles = set(prepared.title.role_ids())
    count = 0
    for d in declines:
        if d.posting_id == posting_id:
            return None
        if d.reason == "company" and d.company_id == company_id:
            return None
        if d.reason == "role":
            if prepared.title.key and d.title_key == prepared.title.key:
                return None
            count += bool(roles & set(d.roles))
        elif d.reason == "place":
            count += bool(d.place) and d.place == prepared.city
        elif d.reason == "level":
            count += d.level is not None and d.level == prepared.seniority
    return count


def adjusted(
    match: Match,
    posting_id: str,
    company_id: str,
    prepared: PreparedPosting,
    declines: Sequence[Decline],
    weights: Weights = DEFAULT_WEIGHTS,
) -> Match | None:
    """The match as the member's declines leave it, or None when it is no
    longer to be told."""
    if not declines:
        return match
    count = penalties(posting_id, company_id, prepared, declines)
    if count is None:
        return None
    if count == 0:
        return match
    value = round(match.score - count * weights.decline_penalty, 4)
    if value < weights.threshold:
        return None
    return dataclasses.replace(match, score=value)


def adjust_all(
    matches: Iterable[tuple[str, Match]],
    posting_id: str,
    company_id: str,
    prepared: PreparedPosting,
    declines: Mapping[str, Sequence[Decline]],
    weights: Weights = DEFAULT_WEIGHTS,
) -> list[tuple[str, Match]]:
    """Members' matches for one posting after their declines, best first."""
    out: list[tuple[str, Match]] = []
    for member_id, match in matches:
        kept = adjusted(
            match, posting_id, company_id, prepared, declines.get(member_id, ()), weights
        )
        if kept is not None:
            out.append((member_id, kept))
    out.sort(key=lambda item: (-item[1].score, item[0]))
    return out


# --- for operators ---------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True, slots=True)
class RoleDeclines:
    """Members who declined postings of one title (key) as "not my role"."""

    title_key: str
    roles: tuple[str, ...]
    members: int


def suggestions(declined: Iterable[RoleDeclines], min_members: int = 2) -> list[dict[str, Any]]:
    """Suggested taxonomy changes, most-declined first. A title resolved to
    roles that several members reject is a title to move out of them (or a
    role to split); a title resolved to none, one to add as a role of its own,
    or as a title of the role members meant. One member is a preference, not a
    taxonomy problem: below ``min_members`` nothing is suggested."""
    out: list[dict[str, Any]] = []
    for d in sorted(declined, key=lambda d: (-d.members, d.title_key, d.roles)):
        if d.members < min_members or not d.title_key:
            continue
        if d.roles:
            change = "review_title"
            note = (
                f"'{d.title_key}' resolves to {', '.join(d.roles)}; {d.members} members "
                "said postings with this title are not their role: move the title out "
                "of the role, or split the role"
            )
        else:
            change = "add_title"
            note = (
                f"'{d.title_key}' resolves to no role; {d.members} members said it is "
                "not their role: add it to the taxonomy as a role of its own"
            )
        out.append(
            {
                "change": change,
                "title": d.title_key,
                "roles": list(d.roles),
                "members": d.members,
                "note": note,
            }
        )
    return out
