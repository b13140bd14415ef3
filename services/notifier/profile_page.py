"""The matching part of the preference page: what it offers, what it shows
as chosen, and the member's edit read back from the posted form. Pure: the
view (``links.py``) stores and publishes the edit (``profile_edits.py``).

Roles are the taxonomy's roles of this community, named in the member's
language (``wording.ROLE_NAMES``, the names the emails use), offered as
choices rather than free text. A ticked role is stored under its English
name, which the matcher's title matcher resolves to that very role in every
language (a test holds the two together). A role the platform sent as free
text ("EA", "Assistente del CEO") is shown ticked with its own words and kept
unless the member unticks it.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from typing import Any

from services.notifier.explain import language_name
from services.notifier.wording import LANGUAGES, ROLE_NAMES, Language
from shared.profile_edit import REMOTE, EditError, ProfileEdit, split_lines

# The roles the page offers, in this order: the community's own roles (the
# taxonomy's assistant family); the others exist in the taxonomy to tell
# false friends apart, nobody looks for them here.
OFFERED_ROLES = (
    "executive-assistant",
    "personal-assistant",
    "management-assistant",
    "team-assistant",
    "administrative-assistant",
    "secretary",
    "office-manager",
    "project-assistant",
    "virtual-assistant",
    "receptionist",
    "legal-secretary",
    "medical-secretary",
    "company-secretary",
    "chief-of-staff",
)
# Languages a member can tick, besides any already in their profile.
OFFERED_LANGUAGES = ("it", "en", "sv", "fr", "de", "es", "pt", "nl", "da", "no", "fi", "pl")


@dataclasses.dataclass(frozen=True, slots=True)
class Choice:
    value: str
    label: str
    checked: bool


@dataclasses.dataclass(frozen=True, slots=True)
class ProfileView:
    roles: tuple[Choice, ...]
    kept_roles: tuple[Choice, ...]
    cities: str
    remote: str
    languages: tuple[Choice, ...]
    blocked: str
    # False until the notifier has a copy of the profile (a member not
    # updated since migration 006): the form is not offered then, because
    # saving it would replace a profile the member cannot see.
    known: bool = True


def _names(role_id: str) -> set[str]:
    return {ROLE_NAMES[lang][role_id].casefold() for lang in LANGUAGES}


def view(profile: Mapping[str, Any], language: Language) -> ProfileView:
    """The form's choices, ticked as the stored profile says."""
    wanted = [str(r) for r in profile.get("desired_roles", [])]
    wanted_folded = {r.casefold() for r in wanted}
    roles = tuple(
        Choice(rid, ROLE_NAMES[language][rid], bool(_names(rid) & wanted_folded))
        for rid in OFFERED_ROLES
    )
    known = set().union(*(_names(rid) for rid in OFFERED_ROLES))
    kept = tuple(Choice(r, r, True) for r in wanted if r.casefold() not in known)
    spoken = [str(code) for code in profile.get("languages", [])]
    codes = [*OFFERED_LANGUAGES, *(c for c in spoken if c not in OFFERED_LANGUAGES)]
    languages = tuple(
        Choice(code, language_name(code, language) or code, code in spoken) for code in codes
    )
    remote = str(profile.get("remote", "no"))
    return ProfileView(
        roles=roles,
        kept_roles=kept,
        cities="\n".join(str(c) for c in profile.get("cities", [])),
        remote=remote if remote in REMOTE else "no",
        languages=languages,
        blocked="\n".join(str(c) for c in profile.get("blocked_companies", [])),
        known=bool(profile),
    )


def _texts(form: Any, name: str) -> list[str]:
    """Every value posted under ``name``; a file upload is not a choice."""
    values = form.getall(name, [])
    if not all(isinstance(v, str) for v in values):
        raise EditError("desired_roles" if name.startswith("role") else "languages", "choice")
    return list(values)


def _one(form: Any, name: str, field: Any) -> str:
    values = form.getall(name, [])
    if len(values) > 1 or not all(isinstance(v, str) for v in values):
        raise EditError(field, "choice")
    return str(values[0]) if values else ""


def edit_from_form(form: Any) -> ProfileEdit:
    """The member's edit from the posted form (a MultiDict); ``EditError``
    names the first field that is not acceptable."""
    roles: list[str] = []
    for rid in _texts(form, "role"):
        if rid not in OFFERED_ROLES:
            raise EditError("desired_roles", "choice")
        roles.append(ROLE_NAMES["en"][rid])
    roles.extend(_texts(form, "role_keep"))
    return ProfileEdit.from_json(
        {
            "desired_roles": roles,
            "cities": split_lines(_one(form, "cities", "cities")),
            "remote": _one(form, "remote", "remote"),
            "languages": _texts(form, "spoken"),
            "blocked_companies": split_lines(_one(form, "blocked", "blocked_companies")),
        }
    )


def roles_offered(language: Language) -> Sequence[tuple[str, str]]:
    return [(rid, ROLE_NAMES[language][rid]) for rid in OFFERED_ROLES]
