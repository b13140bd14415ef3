"""Reading a members CSV as people really make it: no I/O, only the rules.

Spreadsheets export differently by country: Italian and Swedish Excel write
``;`` between columns (the comma is their decimal separator) and, without
"CSV UTF-8", the Windows code page cp1252. So the delimiter is sniffed from
the header line (``;`` or ``,`` only) and the encoding is UTF-8 (with or
without a byte-order mark), else cp1252. Latin-1 is not tried separately:
it differs from cp1252 only in 0x80-0x9F, control codes that no spreadsheet
writes, so a file cp1252 cannot decode is not text.

Every problem of every row is reported in one pass, by row number and field,
never with the row's data (it holds names and addresses); a header naming a
column wrongly is named ("expected external_id, found id"), unless what was
found does not look like a column name (a file without a header row would
otherwise print a member's address).
"""

from __future__ import annotations

import csv
import io
import re
from dataclasses import dataclass
from typing import Any

from rapidfuzz import fuzz, process

from services.ingest.schemas import check_member

COLUMNS = (
    "external_id", "email", "name", "language", "timezone", "desired_roles", "skills",
    "languages", "cities", "regions", "country", "remote", "seniority", "current_employer",
    "employer_group", "blocked_companies", "frequency", "quiet_hours", "opted_in", "consent_at",
    "consent_text_version",
)  # fmt: skip
# The others may be left out: an empty cell and a missing column mean the same.
REQUIRED = (
    "external_id", "email", "name", "language", "opted_in", "consent_at", "consent_text_version",
)  # fmt: skip
LIST_COLUMNS = ("desired_roles", "skills", "languages", "cities", "regions", "blocked_companies")

# Consent as Italian and Swedish spreadsheets write it too; anything else is
# refused rather than read as "no".
YES = frozenset({"yes", "true", "1", "sì", "si", "ja"})
NO = frozenset({"no", "false", "0", "nej"})

# A header cell shown back to the operator only when it looks like a column name.
_COLUMN_NAME = re.compile(r"[A-Za-z][A-Za-z0-9_ -]{0,39}")


class CsvProblem(ValueError):
    """The file as a whole cannot be imported: named, for the command's error."""

    def __init__(self, name: str, message: str) -> None:
        super().__init__(message)
        self.name = name


@dataclass(frozen=True)
class Rejected:
    row: int
    reasons: list[str]


@dataclass(frozen=True)
class Parsed:
    members: list[tuple[str, dict[str, Any]]]  # (external_id, profile), valid ones only
    rejected: list[Rejected]
    delimiter: str


def decode(data: bytes) -> tuple[str, str]:
    """The file's text and the encoding it was read with."""
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        raise CsvProblem(
            "BadEncoding", "the file is UTF-16 (Excel's 'Unicode text'): save it as 'CSV UTF-8'"
        )
    if b"\x00" in data:
        raise CsvProblem("BadEncoding", "the file holds NUL bytes: it is not a CSV text file")
    try:
        return data.decode("utf-8-sig"), "utf-8"
    except UnicodeDecodeError:
        pass
    try:
        return data.decode("cp1252"), "cp1252"
    except UnicodeDecodeError:
        raise CsvProblem(
            "BadEncoding", "the file is neither UTF-8 nor Windows-1252 text: save it as 'CSV UTF-8'"
        ) from None


def sniff_delimiter(header_line: str) -> str:
    try:
        return csv.Sniffer().sniff(header_line, delimiters=";,").delimiter
    except csv.Error:
        # One column, or nothing to tell them apart: the header check names
        # what is wrong.
        return ","


def _normalise(cell: str) -> str:
    # "External ID" and "external-id" are what a person types for external_id.
    return re.sub(r"[\s-]+", "_", cell.strip().lower())


def check_header(cells: list[str]) -> list[str]:
    """Every problem with the header row, each naming a column."""
    names = [_normalise(c) for c in cells]
    known = set(COLUMNS)
    problems: list[str] = []
    present = {n for n in names if n in known}
    missing = [c for c in COLUMNS if c not in present]
    suggested: set[str] = set()
    seen: set[str] = set()
    for position, (cell, name) in enumerate(zip(cells, names, strict=True), start=1):
        if name in known:
            if name in seen:
                problems.append(f"column {position}: {name} appears twice")
            seen.add(name)
            continue
        if not name:
            problems.append(f"column {position}: has no name")
            continue
        shown = (
            cell.strip()
            if _COLUMN_NAME.fullmatch(cell.strip())
            else "a value that is not a column name (is the header row missing?)"
        )
        expected = _expected_at(position, names, missing, suggested)
        if expected is None:
            problems.append(f"column {position}: unknown column, found {shown}")
        else:
            suggested.add(expected)
            problems.append(f"column {position}: expected {expected}, found {shown}")
    for name in REQUIRED:
        if name not in present and name not in suggested:
            problems.append(f"missing column {name}")
    return problems


def _expected_at(
    position: int, names: list[str], missing: list[str], suggested: set[str]
) -> str | None:
    """The column a wrongly named one most likely stands for: the one at its
    place when the header has every column, else the nearest missing name."""
    free = [m for m in missing if m not in suggested]
    if not free:
        return None
    if len(names) == len(COLUMNS) and COLUMNS[position - 1] in free:
        return COLUMNS[position - 1]
    best = process.extractOne(names[position - 1], free, scorer=fuzz.WRatio, score_cutoff=60)
    return None if best is None else str(best[0])


def row_to_profile(row: dict[str, str]) -> dict[str, Any]:
    """One CSV row (the columns in the README) as a member profile document.
    Lists are separated by ';' inside a cell; quiet hours are written 22:00-07:00."""

    def items(column: str) -> list[str]:
        return [part.strip() for part in (row.get(column) or "").split(";") if part.strip()]

    doc: dict[str, Any] = {
        "consent": {
            "opted_in": (row.get("opted_in") or "").strip().lower() in YES,
            "at": (row.get("consent_at") or "").strip(),
            "text_version": (row.get("consent_text_version") or "").strip(),
        },
        "language": (row.get("language") or "").strip(),
        "email": (row.get("email") or "").strip(),
        "name": (row.get("name") or "").strip(),
        "desired_roles": items("desired_roles"),
        "skills": items("skills"),
        "languages": items("languages"),
        "locations": {"cities": items("cities"), "regions": items("regions")},
        "blocked_companies": items("blocked_companies"),
        "notifications": {"frequency": (row.get("frequency") or "instant").strip()},
    }
    for column in ("timezone", "remote", "seniority", "current_employer", "employer_group"):
        value = (row.get(column) or "").strip()
        if value:
            doc[column] = value
    country = (row.get("country") or "").strip()
    if country:
        doc["locations"]["country"] = country
    quiet = (row.get("quiet_hours") or "").strip()
    if quiet:
        start, _, end = quiet.partition("-")
        doc["notifications"]["quiet_hours"] = {"start": start.strip(), "end": end.strip()}
    return doc


def parse(text: str) -> Parsed:
    """Every row checked; raises CsvProblem when nothing can be imported."""
    text = text.removeprefix("\ufeff")
    lines = text.splitlines()
    first = next((i for i, line in enumerate(lines) if line.strip()), None)
    if first is None:
        raise CsvProblem("EmptyFile", "the file is empty: expected a header row and members")
    delimiter = sniff_delimiter(lines[first])
    try:
        records = list(csv.reader(io.StringIO(text, newline=""), delimiter=delimiter))
    except csv.Error as exc:
        raise CsvProblem("BadCsv", f"the file is not valid CSV ({exc})") from None
    numbered = [(n, r) for n, r in enumerate(records, start=1) if any(c.strip() for c in r)]
    header = numbered[0][1]
    problems = check_header(header)
    if problems:
        raise CsvProblem(
            "BadHeader",
            f"the header row (delimiter {delimiter!r}) is not the import's: " + "; ".join(problems),
        )
    if len(numbered) == 1:
        raise CsvProblem("EmptyFile", "the file has a header row but no members")
    columns = [_normalise(c) for c in header]
    members: list[tuple[str, dict[str, Any]]] = []
    rejected: list[Rejected] = []
    first_seen: dict[str, int] = {}
    for number, record in numbered[1:]:
        reasons: list[str] = []
        if len(record) != len(columns):
            reasons.append(
                f"has {len(record)} fields where the header has {len(columns)}"
                + (" (a list not in quotes?)" if len(record) > len(columns) else "")
            )
        row = dict(zip(columns, record, strict=False))
        external_id = (row.get("external_id") or "").strip()
        if not external_id:
            reasons.append("external_id: is required")
        elif external_id in first_seen:
            reasons.append(f"external_id: the same as on row {first_seen[external_id]}")
        else:
            first_seen[external_id] = number
        if (row.get("opted_in") or "").strip().lower() not in YES | NO:
            reasons.append("opted_in: must be yes or no")
        doc = row_to_profile(row)
        reasons += [f"{e.field}: {e.message}" for e in check_member(doc)]
        if reasons:
            rejected.append(Rejected(number, reasons))
        else:
            members.append((external_id, doc))
    return Parsed(members, rejected, delimiter)
