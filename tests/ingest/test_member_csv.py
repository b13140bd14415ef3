"""The members CSV as spreadsheets export it: delimiter, encoding, header, rows."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from services.ingest import member_csv
from services.ingest.member_csv import COLUMNS, CsvProblem, decode, parse

HEADER = list(COLUMNS)
GOOD = {
    "external_id": "m-1",
    "email": "anna@example.se",
    "name": "Åsa Öberg",
    "language": "sv",
    "timezone": "Europe/Stockholm",
    "desired_roles": "Ledningsassistent;VD-assistent",
    "cities": "Göteborg",
    "country": "SE",
    "remote": "hybrid",
    "frequency": "weekly",
    "quiet_hours": "22:00-07:00",
    "opted_in": "ja",
    "consent_at": "2026-10-01T12:00:00+01:00",
    "consent_text_version": "v1",
}


def csv_text(rows: list[dict[str, str]], delimiter: str = ",", header: list[str] = HEADER) -> str:
    import csv
    import io

    out = io.StringIO()
    writer = csv.writer(out, delimiter=delimiter, lineterminator="\r\n")
    writer.writerow(header)
    for row in rows:
        writer.writerow([row.get(column, "") for column in COLUMNS])
    return out.getvalue()


@pytest.mark.parametrize("delimiter", [",", ";"])
def test_the_delimiter_is_read_from_the_header_and_lists_survive_in_quotes(delimiter):
    parsed = parse(csv_text([GOOD], delimiter))
    assert parsed.delimiter == delimiter
    assert parsed.rejected == []
    [(external_id, doc)] = parsed.members
    assert external_id == "m-1"
    assert doc["desired_roles"] == ["Ledningsassistent", "VD-assistent"]
    assert doc["locations"] == {"cities": ["Göteborg"], "regions": [], "country": "SE"}
    assert doc["consent"]["opted_in"] is True
    assert doc["notifications"]["quiet_hours"] == {"start": "22:00", "end": "07:00"}


@pytest.mark.parametrize(
    ("encoding", "expected"),
    [("utf-8", "utf-8"), ("utf-8-sig", "utf-8"), ("cp1252", "cp1252")],
)
def test_utf8_with_or_without_bom_and_windows_1252_are_read(encoding, expected):
    text, used = decode(csv_text([GOOD], ";").encode(encoding))
    assert used == expected
    [(_, doc)] = parse(text).members
    assert doc["name"] == "Åsa Öberg"
    assert doc["locations"]["cities"] == ["Göteborg"]


@pytest.mark.parametrize(
    "data",
    [
        "external_id;email\r\n".encode("utf-16"),
        b"external_id,email\x00\x00",
        b"external_id,email\r\nm-1,\x81\x8d\x8f\x90\x9d\xff\xfe",
    ],
)
def test_what_is_not_text_is_a_named_encoding_error(data):
    with pytest.raises(CsvProblem) as raised:
        decode(data)
    assert raised.value.name == "BadEncoding"


@pytest.mark.parametrize("text", ["", "\n\n  \r\n", "\ufeff"])
def test_an_empty_file_is_refused(text):
    with pytest.raises(CsvProblem) as raised:
        parse(text)
    assert raised.value.name == "EmptyFile"


def test_a_header_without_members_is_refused():
    with pytest.raises(CsvProblem) as raised:
        parse(csv_text([], ";"))
    assert raised.value.name == "EmptyFile"
    assert "no members" in str(raised.value)


def test_a_wrongly_named_column_is_named_with_the_one_expected():
    header = ["id", *HEADER[1:]]
    with pytest.raises(CsvProblem) as raised:
        parse(csv_text([GOOD], ";", header))
    assert raised.value.name == "BadHeader"
    assert "column 1: expected external_id, found id" in str(raised.value)


def test_every_header_problem_is_named_at_once_and_spellings_are_forgiven():
    header = ["External ID", "e-mail", "name", "name", "langauge", "opted_in", "consent_at"]
    problems = member_csv.check_header(header)
    assert problems == [
        "column 2: expected email, found e-mail",
        "column 4: name appears twice",
        "column 5: expected language, found langauge",
        "missing column consent_text_version",
    ]


def test_a_file_without_its_header_row_does_not_print_a_member_address():
    row = csv_text([GOOD], ",").splitlines()[1]
    with pytest.raises(CsvProblem) as raised:
        parse(row + "\r\n" + row)
    message = str(raised.value)
    assert raised.value.name == "BadHeader"
    assert "is the header row missing?" in message
    assert "anna@example.se" not in message
    assert "Öberg" not in message


def test_every_error_of_every_row_is_reported_in_one_pass_without_the_data():
    bad = {
        **GOOD,
        "email": "anna-at-example",
        "timezone": "Mars/Olympus",
        "consent_at": "yesterday",
        "opted_in": "maybe",
        "language": "xx",
    }
    text = csv_text([GOOD, bad, {**GOOD, "external_id": "m-3", "email": "c@example.com"}, GOOD])
    text += "m-5,too,many,fields," + "," * 30 + "\r\n"
    parsed = parse(text)
    assert [external_id for external_id, _ in parsed.members] == ["m-1", "m-3"]
    by_row = {r.row: r.reasons for r in parsed.rejected}
    assert sorted(by_row) == [3, 5, 6]
    fields = {reason.partition(":")[0] for reason in by_row[3]}
    assert {"email", "timezone", "consent.at", "opted_in", "language"} <= fields
    assert "external_id: the same as on row 2" in by_row[5]
    assert by_row[6][0].startswith("has 35 fields where the header has 21")
    shown = repr(parsed.rejected)
    for value in ("anna-at-example", "Mars/Olympus", "yesterday", "maybe", "Åsa", "too"):
        assert value not in shown


# NUL never reaches parse: decode refuses it first.
cell = st.text(st.characters(blacklist_categories=["Cs"], blacklist_characters="\x00"), max_size=30)


@given(
    rows=st.lists(st.fixed_dictionaries({c: cell for c in COLUMNS}), max_size=5),
    delimiter=st.sampled_from([",", ";"]),
)
def test_any_table_is_read_back_row_for_row_or_refused_by_name(rows, delimiter):
    """Whatever the cells hold, every row is either a member or a rejection
    with a reason, at its own row number; nothing raises but a CsvProblem."""
    filled = [r for r in rows if any(value.strip() for value in r.values())]
    if not filled:
        with pytest.raises(CsvProblem, match="no members"):
            parse(csv_text(rows, delimiter))
        return
    parsed = parse(csv_text(rows, delimiter))
    assert parsed.delimiter == delimiter
    assert len(parsed.members) + len(parsed.rejected) == len(filled)
    assert all(r.reasons for r in parsed.rejected)
    assert all(r.row >= 2 for r in parsed.rejected)
