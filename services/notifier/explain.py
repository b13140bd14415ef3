"""Why a job fits, in the member's language, from the matcher's structured explanation.

The matcher sends facts (role ids, language codes, a place kind), never prose,
e.g.::

    {"title": {"posting_role": "executive-assistant", "member_role": "executive-assistant",
               "score": 92},
     "languages": {"required": ["it", "en"], "nice_matched": ["sv"]},
     "place": {"kind": "same_city", "city": "Milano"},
     "skills": ["SAP"],
     "seniority": {"posting": "senior", "member": "senior"}}

The renderer is tolerant: the explanation travels between services that are
deployed separately, so an unknown key, a missing part or a value of the wrong
type drops that reason instead of failing the email.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from babel import Locale
from babel.lists import format_list

from services.notifier.sanitise import clean_inline
from services.notifier.wording import BABEL_LOCALE, ROLE_NAMES, WORDING, Language, Wording

__all__ = ["explain", "language_name", "role_name"]

_MAX_ITEMS = 8  # a longer list reads as noise, not as a reason


def explain(explanation: object, language: Language) -> list[str]:
    """Plain-text sentences, one per reason, the most telling first."""
    if not isinstance(explanation, Mapping):
        return []
    wording = WORDING[language]
    reasons: list[str] = []
    for key, render in _RENDERERS:
        part = explanation.get(key)
        if part is None:
            continue
        # A malformed part costs its own reasons, never the email.
        with contextlib.suppress(TypeError, ValueError, AttributeError, KeyError):
            reasons.extend(s for s in render(part, wording, language) if s)
    return reasons


def role_name(role_id: object, language: Language) -> str:
    """A taxonomy role id as a person would say it in ``language``; "" if the
    catalogs have no name for it.

    An unknown id (a role added to the matcher's taxonomy later, or one the
    ESCO import made, ``esco:<code>``) is not humanised: its id is English, and
    an English word in an Italian or Swedish email reads as a mistake. The
    reason is then said without naming the role.
    """
    if not isinstance(role_id, str):
        return ""
    return ROLE_NAMES[language].get(role_id.strip().lower(), "")


def language_name(code: object, language: Language) -> str:
    """``"sv"`` as the member calls it ("svedese", "svenska", "Swedish"); "" if unknown."""
    if not isinstance(code, str):
        return ""
    base = code.strip().replace("-", "_").split("_")[0].lower()
    if not base.isascii() or not base.isalpha():
        return ""
    name = Locale.parse(BABEL_LOCALE[language]).languages.get(base)
    return name or ""


def _title(part: Any, w: Wording, language: Language) -> list[str]:
    posting_id, member_id = part.get("posting_role"), part.get("member_role")
    posting = role_name(posting_id, language)
    member = role_name(member_id, language)
    if posting and member:
        if posting == member:
            return [w.role_exact.format(role=posting)]
        return [w.role_close.format(posting=posting, member=member)]
    if not isinstance(posting_id, str) or not posting_id.strip():
        return []
    if isinstance(member_id, str) and member_id.strip():
        # At least one of the two roles has no name in the catalogs.
        same = posting_id.strip().lower() == member_id.strip().lower()
        return [w.role_exact_unnamed if same else w.role_close_unnamed]
    return [w.role_only.format(role=posting)] if posting else []


def _place(part: Any, w: Wording, language: Language) -> list[str]:
    kind = part.get("kind")
    city = clean_inline(part.get("city"), limit=80)
    if kind == "remote":
        return [w.place_remote]
    templates = {
        "same_city": (w.place_same_city, w.place_same_city_bare),
        "same_region": (w.place_same_region, w.place_same_region_bare),
        "hybrid": (w.place_hybrid, w.place_hybrid_bare),
    }
    if kind not in templates:
        return []
    with_city, bare = templates[kind]
    return [with_city.format(city=city) if city else bare]


def _languages(part: Any, w: Wording, language: Language) -> list[str]:
    sentences = []
    required = _names(part.get("required"), language)
    if required:
        sentences.append(w.languages_required.format(languages=_list(required, language)))
    nice = [n for n in _names(part.get("nice_matched"), language) if n not in required]
    if nice:
        sentences.append(w.languages_nice.format(languages=_list(nice, language)))
    return sentences


def _skills(part: Any, w: Wording, language: Language) -> list[str]:
    if isinstance(part, str) or not isinstance(part, Sequence):
        return []
    skills = _unique(clean_inline(s, limit=60) for s in part)
    return [w.skills.format(skills=_list(skills, language))] if skills else []


def _seniority(part: Any, w: Wording, language: Language) -> list[str]:
    fit = part.get("fit", part.get("match"))
    posting, member = part.get("posting"), part.get("member")
    same_level = isinstance(posting, str) and posting != "" and posting == member
    if fit in ("exact", True) or (fit is None and same_level):
        return [w.seniority_exact]
    if fit == "close":
        return [w.seniority_close]
    # Different levels with no verdict from the matcher: say nothing rather
    # than claim a fit we cannot vouch for.
    return []


def _names(codes: Any, language: Language) -> list[str]:
    if isinstance(codes, str) or not isinstance(codes, Sequence):
        return []
    return _unique(language_name(code, language) for code in codes)


def _unique(values: Any) -> list[str]:
    seen: list[str] = []
    for value in values:
        if value and value not in seen:
            seen.append(value)
    return seen[:_MAX_ITEMS]


def _list(items: Sequence[str], language: Language) -> str:
    return format_list(list(items), locale=BABEL_LOCALE[language])


_Renderer = Callable[[Any, Wording, Language], list[str]]
_RENDERERS: tuple[tuple[str, _Renderer], ...] = (
    ("title", _title),
    ("place", _place),
    ("languages", _languages),
    ("skills", _skills),
    ("seniority", _seniority),
)
