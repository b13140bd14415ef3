"""Every sentence a member reads, in Italian, Swedish and English.

Kept in one dataclass per language, so a missing translation is a type error
rather than an email with a hole in it, and a translator can review one file.
Copy uses the informal "tu"/"du" of a community of peers, avoids gendered
forms in Italian, and says "job" only inside the body: the subject, sender
name and preview text must be safe for a colleague to glance at.
"""

from __future__ import annotations

import dataclasses
from typing import Literal, get_args

Language = Literal["it", "sv", "en"]
LANGUAGES: tuple[Language, ...] = get_args(Language)

# Babel locales: English readers in this community are in Europe, so dates
# read "3 March 2025" rather than "March 3, 2025".
BABEL_LOCALE: dict[Language, str] = {"it": "it_IT", "sv": "sv_SE", "en": "en_GB"}


@dataclasses.dataclass(frozen=True, slots=True)
class Wording:
    # --- seen in the inbox list: must stay neutral -------------------------------
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
    intro_digest: str
    discretion: str
    posted_on: str  # {date}
    why: str
    interested: str
    not_for_me: str
    forward: str
    not_now: str
    pause: str
    preferences: str
    unsubscribe: str
    why_you_get_this: str
    no_tracking: str
    sign_off: str
    team: str
    # --- reasons, rendered from the matcher's explanation ------------------------------
    role_exact: str  # {role}
    role_close: str  # {posting} {member}
    role_only: str  # {role}
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


WORDING: dict[Language, Wording] = {
    "en": Wording(
        subject="Your passaparola update · {date}",
        subject_weekly="Your weekly passaparola update · {date}",
        preheader="A short note for you, to read when you have a quiet moment.",
        greeting_named="Hello {name},",
        greeting="Hello,",
        heading_instant="An opening we think is right for you",
        intro_instant=(
            "A company in the passaparola network is looking for someone for the role "
            "below, and your profile came to mind at once. Here is what we know, and why "
            "we thought of you."
        ),
        heading_daily="Today's selection for you",
        heading_weekly="This week's selection for you",
        intro_digest=(
            "We have looked through the latest openings and kept only those that truly "
            "fit your profile, the best first."
        ),
        discretion=(
            "This message is for you alone. The company does not know who you are: we "
            "share your name only if you ask us to refer you."
        ),
        posted_on="Posted on {date}",
        why="Why we thought of you",
        interested="I'm interested — refer me",
        not_for_me="Not for me",
        forward="Forward to a colleague",
        not_now="Not the right moment?",
        pause="Pause for a while",
        preferences="Preferences",
        unsubscribe="Unsubscribe",
        why_you_get_this=(
            "You are receiving this because you asked to hear about openings through passaparola."
        ),
        no_tracking="We never use tracking pixels or tracked links.",
        sign_off="Warm regards,",
        team="the passaparola team",
        role_exact="It is the role you are looking for: {role}.",
        role_close="The role, {posting}, is close to what you are looking for ({member}).",
        role_only="The role: {role}.",
        place_same_city="It is in {city}, where you want to work.",
        place_same_city_bare="It is in the city where you want to work.",
        place_same_region="It is in your area ({city}).",
        place_same_region_bare="It is in your area.",
        place_remote="It can be done fully remotely.",
        place_hybrid="It is hybrid, partly from home, based in {city}.",
        place_hybrid_bare="It is hybrid, partly from home.",
        languages_required="You speak the languages it asks for: {languages}.",
        languages_nice="A plus in your favour: {languages}.",
        skills="It asks for skills you have: {skills}.",
        seniority_exact="The level of experience it asks for matches yours.",
        seniority_close="The level of experience it asks for is close to yours.",
    ),
    "it": Wording(
        subject="Il tuo aggiornamento passaparola · {date}",
        subject_weekly="Il tuo aggiornamento settimanale passaparola · {date}",
        preheader="Un breve messaggio per te, da leggere con calma quando hai un momento.",
        greeting_named="Ciao {name},",
        greeting="Ciao,",
        heading_instant="Un'opportunità che ci sembra fatta per te",
        intro_instant=(
            "Un'azienda della rete passaparola sta cercando una persona per il ruolo qui "
            "sotto, e il tuo profilo ci è venuto subito in mente. Ecco di cosa si tratta "
            "e perché abbiamo pensato a te."
        ),
        heading_daily="La selezione di oggi per te",
        heading_weekly="La selezione della settimana per te",
        intro_digest=(
            "Abbiamo esaminato le ultime opportunità e tenuto solo quelle davvero in linea "
            "con il tuo profilo, a partire dalla più adatta."
        ),
        discretion=(
            "Questo messaggio è solo per te. L'azienda non sa chi sei: condividiamo il tuo "
            "nome solo se ci chiedi di segnalarti."
        ),
        posted_on="Pubblicata il {date}",
        why="Perché abbiamo pensato a te",
        interested="Mi interessa — segnalami",
        not_for_me="Non fa per me",
        forward="Inoltra a chi potrebbe interessare",
        not_now="Non è il momento giusto?",
        pause="Metti in pausa per un po'",
        preferences="Preferenze",
        unsubscribe="Annulla l'iscrizione",
        why_you_get_this=(
            "Ricevi questo messaggio perché hai chiesto di essere aggiornata o aggiornato "
            "sulle opportunità di passaparola."
        ),
        no_tracking="Non usiamo mai pixel di tracciamento né link tracciati.",
        sign_off="Un caro saluto,",
        team="il team di passaparola",
        role_exact="È il ruolo che cerchi: {role}.",
        role_close="Il ruolo, {posting}, è vicino a quello che cerchi ({member}).",
        role_only="Il ruolo: {role}.",
        place_same_city="È a {city}, dove desideri lavorare.",
        place_same_city_bare="È nella città in cui desideri lavorare.",
        place_same_region="È nella tua zona ({city}).",
        place_same_region_bare="È nella tua zona.",
        place_remote="Si può svolgere interamente da remoto.",
        place_hybrid="È in modalità ibrida, in parte da casa, con sede a {city}.",
        place_hybrid_bare="È in modalità ibrida, in parte da casa.",
        languages_required="Parli le lingue richieste: {languages}.",
        languages_nice="Un punto in più a tuo favore: {languages}.",
        skills="Richiede competenze che hai: {skills}.",
        seniority_exact="Il livello di esperienza richiesto corrisponde al tuo.",
        seniority_close="Il livello di esperienza richiesto è vicino al tuo.",
    ),
    "sv": Wording(
        subject="Din uppdatering från passaparola · {date}",
        subject_weekly="Din veckouppdatering från passaparola · {date}",
        preheader="Ett kort meddelande till dig, att läsa i lugn och ro när du har en stund.",
        greeting_named="Hej {name},",
        greeting="Hej,",
        heading_instant="En tjänst som vi tror passar dig",
        intro_instant=(
            "Ett företag i passaparolas nätverk söker någon till rollen nedan, och vi "
            "tänkte direkt på dig. Här är vad vi vet, och varför vi tror att den passar dig."
        ),
        heading_daily="Dagens urval för dig",
        heading_weekly="Veckans urval för dig",
        intro_digest=(
            "Vi har gått igenom de senaste tjänsterna och behållit bara dem som verkligen "
            "passar din profil, den bästa först."
        ),
        discretion=(
            "Det här meddelandet är bara till dig. Företaget vet inte vem du är: vi delar "
            "ditt namn först när du ber oss att rekommendera dig."
        ),
        posted_on="Publicerad {date}",
        why="Därför tänkte vi på dig",
        interested="Jag är intresserad – rekommendera mig",
        not_for_me="Inte för mig",
        forward="Tipsa en kollega",
        not_now="Passar det inte just nu?",
        pause="Pausa ett tag",
        preferences="Inställningar",
        unsubscribe="Avsluta prenumerationen",
        why_you_get_this=(
            "Du får det här meddelandet eftersom du har bett om att få höra om tjänster "
            "via passaparola."
        ),
        no_tracking="Vi använder aldrig spårningspixlar eller spårade länkar.",
        sign_off="Varma hälsningar,",
        team="passaparola-teamet",
        role_exact="Det är rollen du söker: {role}.",
        role_close="Rollen, {posting}, ligger nära det du söker ({member}).",
        role_only="Rollen: {role}.",
        place_same_city="Den finns i {city}, där du vill arbeta.",
        place_same_city_bare="Den finns i staden där du vill arbeta.",
        place_same_region="Den finns i ditt område ({city}).",
        place_same_region_bare="Den finns i ditt område.",
        place_remote="Den kan skötas helt på distans.",
        place_hybrid="Den är hybrid, delvis hemifrån, med bas i {city}.",
        place_hybrid_bare="Den är hybrid, delvis hemifrån.",
        languages_required="Du talar språken som krävs: {languages}.",
        languages_nice="Ett plus till din fördel: {languages}.",
        skills="Den efterfrågar kunskaper som du har: {skills}.",
        seniority_exact="Den efterfrågade erfarenhetsnivån motsvarar din.",
        seniority_close="Den efterfrågade erfarenhetsnivån ligger nära din.",
    ),
}

# Role ids from the job-title taxonomy, as a member would name the role.
# Italian uses the function's name where the person's would be gendered.
ROLE_NAMES: dict[str, dict[Language, str]] = {
    "executive-assistant": {
        "en": "Executive Assistant",
        "it": "Assistente di direzione",
        "sv": "Ledningsassistent",
    },
    "personal-assistant": {
        "en": "Personal Assistant",
        "it": "Assistente personale",
        "sv": "Personlig assistent",
    },
    "executive-secretary": {
        "en": "Executive Secretary",
        "it": "Segreteria di direzione",
        "sv": "Direktionssekreterare",
    },
    "team-assistant": {"en": "Team Assistant", "it": "Assistente di team", "sv": "Teamassistent"},
    "administrative-assistant": {
        "en": "Administrative Assistant",
        "it": "Assistente amministrativo",
        "sv": "Administrativ assistent",
    },
    "office-manager": {"en": "Office Manager", "it": "Office manager", "sv": "Kontorschef"},
    "corporate-secretary": {
        "en": "Corporate Secretary",
        "it": "Segreteria societaria",
        "sv": "Bolagssekreterare",
    },
    "chief-of-staff": {"en": "Chief of Staff", "it": "Chief of staff", "sv": "Stabschef"},
    "legal-assistant": {
        "en": "Legal Assistant",
        "it": "Assistente legale",
        "sv": "Juristassistent",
    },
    "receptionist": {"en": "Receptionist", "it": "Receptionist", "sv": "Receptionist"},
}


def language_of(code: str | None) -> Language:
    """The member's language, or English for anything we do not write in."""
    for language in LANGUAGES:
        if code == language:
            return language
    return "en"
