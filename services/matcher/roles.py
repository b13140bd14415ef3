"""The project's own job-title taxonomy, written by hand for this community.

Each role has a stable id (it travels in match explanations and must never be
renamed), a family, and its titles in English, Italian and Swedish as people
actually write them in job ads and profiles in Italy and Sweden: both Italian
gender forms, the English titles Italian and Swedish companies use, and the
abbreviations. Titles are written naturally; normalisation (case, accents,
qualifiers, word order) happens in ``titles.py``, so there is no need to list
"Senior EA (m/f)" next to "EA".

Roles outside the ``assistant`` family are here on purpose: they are the false
friends (an executive producer, an assistente di laboratorio, a Swedish
personlig assistent who is a carer). Giving them a role of their own is what
stops a fuzzy comparison from mistaking them for an executive assistant.
"""

from __future__ import annotations

from typing import NamedTuple

ASSISTANT = "assistant"


class RoleData(NamedTuple):
    family: str
    en: tuple[str, ...] = ()
    it: tuple[str, ...] = ()
    sv: tuple[str, ...] = ()


ROLES: dict[str, RoleData] = {
    # --- the community's own roles ----------------------------------------------------
    "executive-assistant": RoleData(
        ASSISTANT,
        en=(
            "executive assistant",
            "EA",
            "exec assistant",
            "executive secretary",
            "executive personal assistant",
            "executive office assistant",
            "C-level assistant",
            "board assistant",
            "assistant to the board",
            "senior executive assistant",
            "executive business partner",
        ),
        it=(
            "assistente di direzione",
            "assistente alla direzione",
            "assistente della direzione",
            "assistente direzionale",
            "assistente esecutivo",
            "assistente esecutiva",
            "segretario di direzione",
            "segretaria di direzione",
            "segreteria di direzione",
            "addetto alla segreteria di direzione",
            "addetta alla segreteria di direzione",
            "segretario esecutivo",
            "segretaria esecutiva",
            "segretaria del presidente",
            "assistente del presidente",
            "assistente dell'amministratore delegato",
            "executive assistant",
        ),
        sv=(
            "ledningsassistent",
            "VD-assistent",
            "VD-sekreterare",
            "direktionsassistent",
            "direktionssekreterare",
            "chefssekreterare",
            "ledningssekreterare",
            "koncernledningsassistent",
            "styrelseassistent",
            "executive assistant",
        ),
    ),
    "personal-assistant": RoleData(
        ASSISTANT,
        en=(
            "personal assistant",
            "PA",
            "private assistant",
            "private PA",
            "personal secretary",
            "private secretary",
            "family office assistant",
        ),
        it=(
            "assistente personale",
            "segretario personale",
            "segretaria personale",
            "segretario particolare",
            "segretaria particolare",
            "personal assistant",
        ),
        # Swedish has no native word for this role that is not a false friend
        # ("personlig assistent" is a carer): companies write the English.
        sv=("personal assistant", "privatsekreterare", "privat sekreterare"),
    ),
    "virtual-assistant": RoleData(
        ASSISTANT,
        en=("virtual assistant", "VA", "virtual executive assistant", "virtual PA"),
        it=("assistente virtuale", "virtual assistant"),
        sv=("virtuell assistent", "distansassistent"),
    ),
    "management-assistant": RoleData(
        ASSISTANT,
        en=("management assistant", "assistant to management", "managing director's assistant"),
        it=(
            "assistente di gestione",
            "assistente manageriale",
            "management assistant",
        ),
        sv=("chefsassistent", "management assistant", "ledningsstöd"),
    ),
    "team-assistant": RoleData(
        ASSISTANT,
        en=(
            "team assistant",
            "department assistant",
            "departmental assistant",
            "group assistant",
            "division assistant",
            "team secretary",
        ),
        it=(
            "assistente di team",
            "assistente di reparto",
            "assistente di dipartimento",
            "segretario di reparto",
            "segretaria di reparto",
            "team assistant",
        ),
        sv=("teamassistent", "avdelningsassistent", "avdelningssekreterare", "gruppassistent"),
    ),
    "secretary": RoleData(
        ASSISTANT,
        en=("secretary", "secretarial assistant", "office secretary", "bilingual secretary"),
        it=(
            "segretario",
            "segretaria",
            "addetto alla segreteria",
            "addetta alla segreteria",
            "impiegato di segreteria",
            "impiegata di segreteria",
            "segreteria",
            "segretario amministrativo",
            "segretaria amministrativa",
            "segretaria commerciale",
            "segretario commerciale",
        ),
        sv=("sekreterare", "kontorssekreterare", "administrativ sekreterare"),
    ),
    "administrative-assistant": RoleData(
        ASSISTANT,
        en=(
            "administrative assistant",
            "admin assistant",
            "administrative officer",
            "administrator",
            "office administrator",
            "office assistant",
            "office clerk",
            "administrative coordinator",
        ),
        it=(
            "assistente amministrativo",
            "assistente amministrativa",
            "impiegato amministrativo",
            "impiegata amministrativa",
            "addetto amministrativo",
            "addetta amministrativa",
            "assistente d'ufficio",
            "impiegato d'ufficio",
            "impiegata d'ufficio",
            "back office",
        ),
        sv=(
            "administrativ assistent",
            "administratör",
            "kontorsassistent",
            "kontorist",
            "administrativ handläggare",
            "kontorsadministratör",
        ),
    ),
    "office-manager": RoleData(
        ASSISTANT,
        en=("office manager", "office coordinator", "office lead", "workplace manager"),
        it=(
            "office manager",
            "responsabile di ufficio",
            "responsabile ufficio",
            "responsabile della segreteria",
            "responsabile segreteria",
            "capo ufficio",
        ),
        sv=("kontorschef", "kontorsansvarig", "office manager", "kontorskoordinator"),
    ),
    "receptionist": RoleData(
        ASSISTANT,
        en=(
            "receptionist",
            "front desk",
            "front desk receptionist",
            "front office assistant",
            "front desk officer",
            "switchboard operator",
            "corporate receptionist",
        ),
        it=(
            "receptionist",
            "addetto alla reception",
            "addetta alla reception",
            "addetto al ricevimento",
            "addetta al ricevimento",
            "addetto al front office",
            "addetta al front office",
            "centralinista",
            "receptionista",
        ),
        sv=("receptionist", "receptionsvärd", "receptionsvärdinna", "växeltelefonist"),
    ),
    "project-assistant": RoleData(
        ASSISTANT,
        en=("project assistant", "project coordinator", "project administrator", "project support"),
        it=(
            "assistente di progetto",
            "assistente ai progetti",
            "coordinatore di progetto",
            "coordinatrice di progetto",
        ),
        sv=("projektassistent", "projektkoordinator", "projektadministratör"),
    ),
    "legal-secretary": RoleData(
        ASSISTANT,
        en=("legal secretary", "legal assistant", "legal administrative assistant"),
        it=(
            "segretario di studio legale",
            "segretaria di studio legale",
            "segretaria legale",
            "assistente legale",
            "assistente giuridico amministrativo",
            "assistente giuridico amministrativa",
        ),
        sv=("advokatsekreterare", "juristsekreterare", "juridisk sekreterare"),
    ),
    "medical-secretary": RoleData(
        ASSISTANT,
        en=("medical secretary", "medical administrative assistant", "medical office assistant"),
        it=(
            "segretario di studio medico",
            "segretaria di studio medico",
            "segretaria medica",
            "assistente amministrativo medico",
            "assistente amministrativa medica",
        ),
        sv=("läkarsekreterare", "medicinsk sekreterare", "vårdadministratör"),
    ),
    "chief-of-staff": RoleData(
        ASSISTANT,
        en=("chief of staff", "head of office of the CEO", "business manager to the CEO"),
        it=("chief of staff", "capo di gabinetto"),
        sv=("chief of staff", "stabschef"),
    ),
    # --- false friends: same words, other jobs -----------------------------------------
    "laboratory-assistant": RoleData(
        "laboratory",
        en=("laboratory assistant", "lab assistant", "laboratory technician", "lab technician"),
        it=("assistente di laboratorio", "tecnico di laboratorio", "tecnica di laboratorio"),
        sv=("laboratorieassistent", "laboratoriebiträde", "laboratorietekniker", "labbassistent"),
    ),
    "executive-producer": RoleData(
        "media-production",
        en=("executive producer", "producer", "line producer"),
        it=("produttore esecutivo", "produttrice esecutiva", "executive producer"),
        sv=("exekutiv producent", "producent", "executive producer"),
    ),
    "production-assistant": RoleData(
        "media-production",
        en=("production assistant", "runner"),
        it=("assistente di produzione", "segretario di produzione", "segretaria di produzione"),
        sv=("produktionsassistent", "inspelningsassistent"),
    ),
    "editorial-assistant": RoleData(
        "editorial",
        en=("editorial assistant", "assistant editor"),
        it=(
            "assistente editoriale",
            "assistente di redazione",
            "segretario di redazione",
            "segretaria di redazione",
        ),
        sv=("redaktionsassistent", "redaktionssekreterare"),
    ),
    "chef": RoleData(
        "kitchen",
        en=("executive chef", "head chef", "chef", "sous chef", "cook", "chef de cuisine"),
        it=("executive chef", "capo chef", "chef", "cuoco", "cuoca", "capocuoco", "capocuoca"),
        sv=("kock", "köksmästare", "kökschef", "souschef"),
    ),
    "chief-executive": RoleData(
        "top-management",
        en=(
            "CEO",
            "chief executive officer",
            "managing director",
            "executive director",
            "general manager",
        ),
        it=(
            "amministratore delegato",
            "amministratrice delegata",
            "direttore generale",
            "direttrice generale",
            "direttore esecutivo",
            "CEO",
        ),
        sv=("VD", "verkställande direktör", "koncernchef", "CEO"),
    ),
    "shop-assistant": RoleData(
        "retail",
        en=(
            "shop assistant",
            "sales assistant",
            "retail assistant",
            "store assistant",
            "assistant store manager",
            "assistant manager",
        ),
        it=(
            "commesso",
            "commessa",
            "addetto alle vendite",
            "addetta alle vendite",
            "assistente alle vendite",
            "assistente di negozio",
            "sales assistant",
        ),
        sv=("butiksbiträde", "butikssäljare", "säljare", "butiksassistent"),
    ),
    "teaching-assistant": RoleData(
        "education",
        en=("teaching assistant", "learning support assistant", "classroom assistant"),
        it=(
            "assistente didattico",
            "assistente didattica",
            "assistente educativo",
            "assistente educativa",
            "docente di sostegno",
        ),
        sv=("lärarassistent", "elevassistent", "resursassistent"),
    ),
    "research-assistant": RoleData(
        "research",
        en=("research assistant", "assistant professor", "research associate"),
        it=(
            "assistente di ricerca",
            "assegnista di ricerca",
            "assistente universitario",
            "assistente universitaria",
            "ricercatore",
            "ricercatrice",
        ),
        sv=("forskningsassistent", "forskarassistent", "biträdande lektor"),
    ),
    "dental-assistant": RoleData(
        "dental",
        en=("dental assistant", "dental nurse", "chairside assistant"),
        it=(
            "assistente di studio odontoiatrico",
            "assistente alla poltrona",
            "ASO",
            "assistente dentale",
            "assistente odontoiatrica",
        ),
        sv=("tandsköterska", "tandvårdsassistent", "tandsköterske assistent"),
    ),
    "care-assistant": RoleData(
        "care",
        en=(
            "care assistant",
            "healthcare assistant",
            "personal care assistant",
            "carer",
            "nursing assistant",
        ),
        it=(
            "operatore socio sanitario",
            "operatrice socio sanitaria",
            "OSS",
            "assistente domiciliare",
            "badante",
            "assistente familiare",
        ),
        # The Swedish "personlig assistent" is a carer under the LSS act, not a PA.
        sv=("personlig assistent", "vårdbiträde", "undersköterska", "hemtjänstpersonal"),
    ),
    "social-worker": RoleData(
        "social-work",
        en=("social worker", "case worker"),
        it=("assistente sociale", "operatore sociale", "operatrice sociale"),
        # "socialsekreterare" is a social worker, not a secretary.
        sv=("socialsekreterare", "kurator", "biståndshandläggare"),
    ),
    "flight-attendant": RoleData(
        "aviation",
        en=("flight attendant", "cabin crew", "air hostess", "steward", "stewardess"),
        it=("assistente di volo", "hostess di volo", "steward di volo"),
        sv=("flygvärdinna", "flygvärd", "kabinpersonal", "kabinanställd"),
    ),
    "company-secretary": RoleData(
        "governance",
        en=("company secretary", "corporate secretary", "board secretary"),
        it=(
            "segretario societario",
            "segretaria societaria",
            "segretario del consiglio di amministrazione",
            "segretario del cda",
            "segretaria del cda",
        ),
        sv=("bolagssekreterare", "styrelsesekreterare"),
    ),
    "general-secretary": RoleData(
        "governance",
        en=("general secretary", "secretary general"),
        it=(
            "segretario generale",
            "segretaria generale",
            "segretario comunale",
            "segretaria comunale",
        ),
        sv=("generalsekreterare", "förbundssekreterare"),
    ),
    "customer-service": RoleData(
        "customer-service",
        en=(
            "customer service assistant",
            "customer service representative",
            "customer care assistant",
            "call centre agent",
        ),
        it=(
            "addetto al customer care",
            "addetta al customer care",
            "operatore call center",
            "operatrice call center",
            "assistente clienti",
        ),
        sv=("kundtjänstmedarbetare", "kundservicemedarbetare", "kundtjänstassistent"),
    ),
    "pharmacy-assistant": RoleData(
        "pharmacy",
        en=("pharmacy assistant", "pharmacy technician"),
        it=("commesso di farmacia", "commessa di farmacia", "assistente di farmacia"),
        sv=("apotekstekniker", "apoteksassistent"),
    ),
}

# How close two roles of the assistant family are, 0..1, symmetric. The matcher
# treats affinity >= scoring.Weights.min_role_affinity as a title match; any
# pair not listed here, and any pair across families, is 0. A role always has
# affinity 1 with itself.
AFFINITY: dict[tuple[str, str], float] = {
    ("executive-assistant", "personal-assistant"): 0.9,
    ("executive-assistant", "management-assistant"): 0.9,
    ("executive-assistant", "secretary"): 0.8,
    ("executive-assistant", "team-assistant"): 0.75,
    ("executive-assistant", "virtual-assistant"): 0.7,
    ("executive-assistant", "chief-of-staff"): 0.6,
    ("executive-assistant", "office-manager"): 0.6,
    ("executive-assistant", "administrative-assistant"): 0.6,
    ("executive-assistant", "project-assistant"): 0.5,
    ("executive-assistant", "legal-secretary"): 0.5,
    ("executive-assistant", "medical-secretary"): 0.4,
    ("executive-assistant", "receptionist"): 0.3,
    ("personal-assistant", "management-assistant"): 0.85,
    ("personal-assistant", "virtual-assistant"): 0.85,
    ("personal-assistant", "secretary"): 0.8,
    ("personal-assistant", "team-assistant"): 0.7,
    ("personal-assistant", "administrative-assistant"): 0.6,
    ("personal-assistant", "office-manager"): 0.5,
    ("personal-assistant", "receptionist"): 0.3,
    ("management-assistant", "team-assistant"): 0.85,
    ("management-assistant", "secretary"): 0.8,
    ("management-assistant", "administrative-assistant"): 0.7,
    ("management-assistant", "project-assistant"): 0.7,
    ("management-assistant", "office-manager"): 0.6,
    ("team-assistant", "secretary"): 0.8,
    ("team-assistant", "administrative-assistant"): 0.8,
    ("team-assistant", "project-assistant"): 0.75,
    ("team-assistant", "office-manager"): 0.6,
    ("secretary", "administrative-assistant"): 0.75,
    # Below the bar (issue 13): a legal or medical secretary is a specialised
    # job; the general role must not swallow it, nor it the general role.
    ("secretary", "legal-secretary"): 0.7,
    ("secretary", "medical-secretary"): 0.7,
    ("secretary", "receptionist"): 0.6,
    ("secretary", "office-manager"): 0.6,
    ("administrative-assistant", "office-manager"): 0.75,
    ("administrative-assistant", "project-assistant"): 0.6,
    ("administrative-assistant", "receptionist"): 0.5,
    ("administrative-assistant", "virtual-assistant"): 0.6,
    ("office-manager", "receptionist"): 0.4,
    ("legal-secretary", "medical-secretary"): 0.5,
}
