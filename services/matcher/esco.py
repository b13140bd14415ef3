"""Importer of the official ESCO occupations CSV export, to extend the taxonomy.

The export has one file per language (``occupations_en.csv`` ...), one row per
occupation concept: ``conceptUri``, ``iscoGroup``, ``preferredLabel``,
``altLabels`` and ``hiddenLabels`` (one label per line inside the cell), ...,
``code``. Italian labels are often "masculine/feminine" in one string.

ESCO is used as found in the operator's copy (``passaparola taxonomy
import-esco DIR``), never copied into the project. Its labels are broad and
sometimes noisy for our purpose ("personal assistant" is an alternative label
of three concepts, "assistant" alone of the secretary), so:

- concepts listed in ``ROLE_FOR_CODE`` lend their labels to our own roles;
- every other concept becomes a role of its own (id ``esco:<code>``), which
  turns a title the project did not know into one that matches the same
  occupation in the other languages, and nothing else;
- a label is dropped when our own taxonomy already resolves it to a different
  role (the hand-written taxonomy wins), when it is a bare generic word, or
  when ESCO gives it to more than one concept.
"""

from __future__ import annotations

import csv
import dataclasses
from collections.abc import Iterable, Iterator, Mapping, Sequence
from pathlib import Path

from services.matcher.linker import Concept
from services.matcher.taxonomy import LANGUAGES, Role, Taxonomy
from services.matcher.titles import TitleMatcher, normalize_title

# ESCO occupation code -> our role id. The assistant occupations (ISCO 3341,
# 3342, 3343, 3344, 4110, 4120, 4224, 4226) and the false friends whose ESCO
# labels we want to stay false friends.
ROLE_FOR_CODE: dict[str, str] = {
    "3343.3": "executive-assistant",
    "3343.4": "management-assistant",
    "4120.1": "secretary",
    "3343.1": "administrative-assistant",
    "4110.1": "administrative-assistant",
    "3341.8": "office-manager",
    "4226.2": "receptionist",
    "4226.2.1": "receptionist",
    "4224.1": "receptionist",
    "3342.2": "legal-secretary",
    "3344.2": "medical-secretary",
    "3343.2": "editorial-assistant",
    "3212.2": "laboratory-assistant",
    "3434.1.1": "chef",
    "3434.1": "chef",
    "5223.6": "shop-assistant",
    "5312.2": "teaching-assistant",
    "5321.1": "care-assistant",
    "5111.2.1": "flight-attendant",
}
# One-word labels that name no occupation by themselves.
GENERIC_LABELS = frozenset({"assistant", "assistente", "assistent", "office worker", "clerk"})


@dataclasses.dataclass(frozen=True, slots=True)
class EscoConcept:
    uri: str
    code: str
    isco_group: str
    # language -> labels, preferred first, then alternative, then hidden
    labels: Mapping[str, tuple[str, ...]]
    preferred: Mapping[str, tuple[str, ...]]  # the preferred label's forms per language


def split_cell(cell: str | None) -> list[str]:
    """One label per line inside a CSV cell."""
    return [line.strip() for line in (cell or "").splitlines() if line.strip()]


def split_gender(label: str) -> list[str]:
    """ "segretario/segretaria" -> both forms; other labels stay whole."""
    parts = [p.strip() for p in label.split("/")]
    if len(parts) > 1 and all(len(p) >= 3 for p in parts):
        return parts
    return [label.strip()]


def read_occupations(path: Path) -> Iterator[dict[str, str]]:
    with path.open(newline="", encoding="utf-8") as handle:
        for row in csv.DictReader(handle):
            if row.get("conceptUri"):
                yield row


def parse_dir(directory: Path, languages: Sequence[str] = LANGUAGES) -> dict[str, EscoConcept]:
    """Read ``occupations_<lang>.csv`` for each language, merged by concept URI.

    A missing language file is an error: an import that silently lacks Swedish
    would quietly stop matching Swedish titles.
    """
    labels: dict[str, dict[str, list[str]]] = {}
    preferred: dict[str, dict[str, list[str]]] = {}
    meta: dict[str, tuple[str, str]] = {}
    for lang in languages:
        path = directory / f"occupations_{lang}.csv"
        if not path.is_file():
            raise FileNotFoundError(path)
        for row in read_occupations(path):
            uri = row["conceptUri"]
            meta.setdefault(uri, (row.get("code", "").strip(), row.get("iscoGroup", "").strip()))
            pref = [
                f for label in split_cell(row.get("preferredLabel")) for f in split_gender(label)
            ]
            others = [
                f
                for column in ("altLabels", "hiddenLabels")
                for label in split_cell(row.get(column))
                for f in split_gender(label)
            ]
            bucket = labels.setdefault(uri, {}).setdefault(lang, [])
            for label in [*pref, *others]:
                if label not in bucket:
                    bucket.append(label)
            preferred.setdefault(uri, {})[lang] = pref
    return {
        uri: EscoConcept(
            uri=uri,
            code=meta[uri][0],
            isco_group=meta[uri][1],
            labels={lang: tuple(v) for lang, v in by_lang.items()},
            preferred={lang: tuple(v) for lang, v in preferred[uri].items()},
        )
        for uri, by_lang in labels.items()
    }


def role_id_for(concept: EscoConcept) -> str:
    return ROLE_FOR_CODE.get(concept.code) or f"esco:{concept.code or concept.uri}"


def _shared_keys(concepts: Iterable[EscoConcept]) -> set[str]:
    owners: dict[str, set[str]] = {}
    for concept in concepts:
        for labels in concept.labels.values():
            for label in labels:
                owners.setdefault(normalize_title(label), set()).add(concept.uri)
    return {key for key, uris in owners.items() if len(uris) > 1}


def usable_labels(
    concept: EscoConcept, base: TitleMatcher, shared: set[str]
) -> dict[str, list[str]]:
    """The labels of a concept that may extend the taxonomy, per language."""
    role = role_id_for(concept)
    preferred_keys = {normalize_title(p) for forms in concept.preferred.values() for p in forms}
    out: dict[str, list[str]] = {}
    for lang, labels in concept.labels.items():
        for label in labels:
            key = normalize_title(label)
            if not key or key in GENERIC_LABELS:
                continue
            if key in shared and key not in preferred_keys:
                continue
            known = {r.role for r in base.resolve(label)}
            if known and role not in known:
                continue
            out.setdefault(lang, []).append(label)
    return out


def extend_taxonomy(
    base: TitleMatcher,
    concepts: Mapping[str, EscoConcept],
    *,
    include_unmapped: bool = True,
) -> Taxonomy:
    """The base matcher's taxonomy extended with ESCO labels and concepts."""
    shared = _shared_keys(concepts.values())
    extra_titles: dict[str, dict[str, list[str]]] = {}
    new_roles: list[Role] = []
    for concept in sorted(concepts.values(), key=lambda c: (c.code, c.uri)):
        labels = usable_labels(concept, base, shared)
        if not labels:
            continue
        role = role_id_for(concept)
        if role in base.taxonomy.roles:
            bucket = extra_titles.setdefault(role, {})
            for lang, found in labels.items():
                bucket.setdefault(lang, []).extend(found)
        elif include_unmapped:
            new_roles.append(
                Role(
                    id=role,
                    family=role,
                    titles={lang: tuple(found) for lang, found in labels.items()},
                    source=f"esco:{concept.code}",
                )
            )
    return base.taxonomy.extended(titles=extra_titles, new_roles=new_roles)


def load_taxonomy(directory: Path, base: TitleMatcher | None = None) -> Taxonomy:
    """Parse an ESCO export directory and extend the (default) taxonomy with it."""
    return extend_taxonomy(base or TitleMatcher(), parse_dir(directory))


def read_concepts(directory: Path) -> list[Concept]:
    """Every concept of every ``occupations_<lang>.csv`` in ``directory``, for
    the linker: whatever languages are present, only ``conceptUri``,
    ``preferredLabel``, ``altLabels`` and ``hiddenLabels`` are read.

    A directory without any such file is an error (``FileNotFoundError``).
    """
    files = sorted(directory.glob("occupations_*.csv"))
    if not files:
        raise FileNotFoundError(directory / "occupations_<lang>.csv")
    labels: dict[str, list[tuple[str, str]]] = {}
    for path in files:
        lang = path.stem.removeprefix("occupations_")
        for row in read_occupations(path):
            bucket = labels.setdefault(row["conceptUri"], [])
            for column in ("preferredLabel", "altLabels", "hiddenLabels"):
                for label in split_cell(row.get(column)):
                    for form in split_gender(label):
                        if (lang, form) not in bucket:
                            bucket.append((lang, form))
    return [Concept(uri, tuple(found)) for uri, found in labels.items() if found]
