"""Every sentence a member reads in an email, built from the gettext catalogs.

The English text here is the msgid; the Italian, Swedish and English wording
lives in ``locale/<lang>/LC_MESSAGES/messages.po`` (see ``catalogs``). Keeping
one dataclass per language means a sentence the code needs is a field, not a
string looked up by hand, and a test compares the catalogs with the msgids
extracted from the code and the templates, so nothing reaches a member half
translated. Sentences that only the templates print are in the templates,
through Jinja2's i18n extension.

Copy uses the informal "tu"/"du" of a community of peers, avoids gendered
forms in Italian, and says "job" only inside the body: the subject, sender
name and preview text must be safe for a colleague to glance at.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from types import MappingProxyType
from typing import Literal, get_args

from services.notifier.catalogs import translations

Language = Literal["it", "sv", "en"]
LANGUAGES: tuple[Language, ...] = get_args(Language)

# Babel locales: English readers in this community are in Europe, so dates
# read "3 March 2025" rather than "March 3, 2025".
BABEL_LOCALE: dict[Language, str] = {"it": "it_IT", "sv": "sv_SE", "en": "en_GB"}


@dataclasses.dataclass(frozen=True, slots=True)
class Wording:
    # --- seen in the inbox list: must stay neutral ---------------------------------
    subject: str  # {date}
    subject_weekly: str  # {date}
    preheader: str
    # --- body ---------------------------------------------------------------------
    greeting_named: str  # {name}
    greeting: str
    heading_instant: str
    intro_instant: str
    heading_daily: str
    heading_weekly: str
    posted_on: str  # {date}
    # --- reasons, rendered from the matcher's explanation -------------------------
    role_exact: str  # {role}
    role_close: str  # {posting} {member}
    role_only: str  # {role}
    # a role this catalog has no name for: said without naming it
    role_exact_unnamed: str
    role_close_unnamed: str
    place_same_city: str  # {city}
    place_same_city_bare: str
    place_same_region: str  # {city}
    place_same_region_bare: str
    place_remote: str
    place_hybrid: str  # {city}
    place_hybrid_bare: str
    languages_required: str  # {languages}
    languages_nice: str  # {languages}
    skills: str  # {skills}
    seniority_exact: str
    seniority_close: str


def _wording(_: Callable[[str], str]) -> Wording:
    # ``_`` is the catalog's gettext: Babel extracts the literal passed to it.
    return Wording(
        subject=_("Your passaparola update · {date}"),
        subject_weekly=_("Your weekly passaparola update · {date}"),
        preheader=_("A short note for you, to read when you have a quiet moment."),
        greeting_named=_("Hello {name},"),
        greeting=_("Hello,"),
        heading_instant=_("An opening we think is right for you"),
        intro_instant=_(
            "A company in the passaparola network is looking for someone for the role "
            "below, and your profile came to mind at once. Here is what we know, and why "
            "we thought of you."
        ),
        heading_daily=_("Today's selection for you"),
        heading_weekly=_("This week's selection for you"),
        posted_on=_("Posted on {date}"),
        role_exact=_("It is the role you are looking for: {role}."),
        role_close=_("The role, {posting}, is close to what you are looking for ({member})."),
        role_exact_unnamed=_("It is the role you are looking for."),
        role_close_unnamed=_("The role is close to what you are looking for."),
        role_only=_("The role: {role}."),
        place_same_city=_("It is in {city}, where you want to work."),
        place_same_city_bare=_("It is in the city where you want to work."),
        place_same_region=_("It is in your area ({city})."),
        place_same_region_bare=_("It is in your area."),
        place_remote=_("You can work fully remotely."),
        place_hybrid=_("You can work partly from home; the office is in {city}."),
        place_hybrid_bare=_("You can work partly from home."),
        languages_required=_("You speak the languages it asks for: {languages}."),
        languages_nice=_("An advantage: {languages}."),
        skills=_("It asks for skills you have: {skills}."),
        seniority_exact=_("The level of experience it asks for matches yours."),
        seniority_close=_("The level of experience it asks for is close to yours."),
    )


def _role_names(pgettext: Callable[[str, str], str]) -> dict[str, str]:
    # Role ids of the matcher's taxonomy (they travel in match explanations
    # and are never renamed), as a member would name the role. The "role"
    # context keeps them apart from ordinary sentences in the catalogs.
    # Italian uses the function's name ("Segreteria di direzione") where the
    # person's would be gendered.
    return {
        "executive-assistant": pgettext("role", "Executive Assistant"),
        "personal-assistant": pgettext("role", "Personal Assistant"),
        "virtual-assistant": pgettext("role", "Virtual Assistant"),
        "management-assistant": pgettext("role", "Management Assistant"),
        "team-assistant": pgettext("role", "Team Assistant"),
        "secretary": pgettext("role", "Secretary"),
        "administrative-assistant": pgettext("role", "Administrative Assistant"),
        "office-manager": pgettext("role", "Office Manager"),
        "receptionist": pgettext("role", "Receptionist"),
        "project-assistant": pgettext("role", "Project Assistant"),
        "legal-secretary": pgettext("role", "Legal Secretary"),
        "medical-secretary": pgettext("role", "Medical Secretary"),
        "chief-of-staff": pgettext("role", "Chief of Staff"),
        "laboratory-assistant": pgettext("role", "Laboratory Assistant"),
        "executive-producer": pgettext("role", "Executive Producer"),
        "production-assistant": pgettext("role", "Production Assistant"),
        "editorial-assistant": pgettext("role", "Editorial Assistant"),
        "chef": pgettext("role", "Chef"),
        "chief-executive": pgettext("role", "Chief Executive"),
        "shop-assistant": pgettext("role", "Shop Assistant"),
        "teaching-assistant": pgettext("role", "Teaching Assistant"),
        "research-assistant": pgettext("role", "Research Assistant"),
        "dental-assistant": pgettext("role", "Dental Assistant"),
        "care-assistant": pgettext("role", "Care Assistant"),
        "social-worker": pgettext("role", "Social Worker"),
        "flight-attendant": pgettext("role", "Flight Attendant"),
        "company-secretary": pgettext("role", "Company Secretary"),
        "general-secretary": pgettext("role", "General Secretary"),
        "customer-service": pgettext("role", "Customer Service"),
        "pharmacy-assistant": pgettext("role", "Pharmacy Assistant"),
        # Ids of earlier taxonomies, still found in stored explanations.
        "executive-secretary": pgettext("role", "Executive Secretary"),
        "corporate-secretary": pgettext("role", "Corporate Secretary"),
        "legal-assistant": pgettext("role", "Legal Assistant"),
    }


WORDING: dict[Language, Wording] = {
    language: _wording(translations(language).gettext) for language in LANGUAGES
}


def _pgettext(language: Language) -> Callable[[str, str], str]:
    catalog = translations(language)

    def pgettext(context: str, message: str) -> str:
        # Babel types the result loosely (a lazy string is possible there);
        # ours is always a plain str.
        return str(catalog.pgettext(context, message))

    return pgettext


# Role id -> the role's name in each language.
ROLE_NAMES: dict[Language, Mapping[str, str]] = {
    language: MappingProxyType(_role_names(_pgettext(language))) for language in LANGUAGES
}


def digest_intro(language: Language, count: int) -> str:
    """The digest's first sentence, which says how many openings it keeps.

    A plural through ngettext: Italian has three plural forms in the catalogs
    (CLDR's "one", "many", "other"), Swedish and English two.
    """
    sentence = translations(language).ngettext(
        "We have looked through the latest openings and kept only one that truly fits "
        "your profile.",
        "We have looked through the latest openings and kept only the {count} that truly "
        "fit your profile, the best first.",
        count,
    )
    return str(sentence).format(count=count)


def language_of(code: str | None) -> Language:
    """The member's language, or English for anything we do not write in."""
    for language in LANGUAGES:
        if code == language:
            return language
    return "en"
