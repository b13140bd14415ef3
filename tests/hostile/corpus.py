"""Known-bad values and spellings, and hypothesis strategies around them, for
the hostile-input suite (issue 11). Values only: which field or surface they
go to is the tests' business."""

from __future__ import annotations

from hypothesis import strategies as st

# Raw JSON number texts (written into bodies as text: json.dumps cannot write
# some of them, and a client does not ask it to).
NUMBERS = [
    "NaN",
    "Infinity",
    "-Infinity",
    "1e999",
    "-1e999",
    "1e308",
    "9" * 5000,
    "-" + "9" * 5000,
    "1" + "0" * 16,
    "123456789012345678",
    "0.0000000000000000000000000001",
    "1E+400",
    "-0",
    "45000.5",
]
DATES = [
    "9999-12-31",
    "0001-01-01",
    "1900-01-01",
    "2100-12-31",
    "2101-01-01",
    "0000-00-00",
    "2027-02-31",
    "31/12/2027",
    "2027-12-31T23:59:59Z",
    "",
    "N/A",
]
# What spreadsheets and applicant tracking systems put where a value should be.
SENTINELS = [
    "N/A",
    "#N/A",
    "n.a.",
    "null",
    "None",
    "undefined",
    "-",
    "TBD",
    "?",
    "0",
    '=HYPERLINK("http://evil.example","x")',
    "+CMD|' /C calc'!A0",
    "@SUM(1+1)",
]
# Spellings a name can take: confusables from several scripts, glued and
# dotted legal forms, invisible characters, fullwidth, mixed scripts.
SPELLINGS = [
    "АCME S.p.A.",  # Cyrillic A
    "ACMΕ SpA",  # Greek Epsilon
    "Acme.S.p.A.",
    "AcmeSpA",
    "ACME-AB",
    "A\u200bC\u200cM\u200dE S.p.A.",  # zero-width space / non-joiner / joiner
    "AC\u00adME S.p.A.",  # soft hyphen
    "ＡＣＭＥ Ｓ．ｐ．Ａ．",  # fullwidth
    "ACME \u202eA.p.S\u202c",  # right-to-left override
    "Ācmé S.p.A.",
    "Аcme Sverige AB",
    "エーシーエムイー株式会社",
    "𝐀𝐂𝐌𝐄 S.p.A.",  # mathematical bold
    "A\u0301CME",  # combining accent
]
UNSTORABLE = ["nul\x00here", "\ud800lone", "tail\udfff", "\x00"]
TEXTS = [*SENTINELS, *SPELLINGS, "x" * 10_000, " ", "\t\n", "<script>alert(1)</script>"]
IDS = [
    "",
    "a" * 201,
    "a" * 7000,
    "../../etc/passwd",
    "msg_\x00",
    "msg_ñ",
    "msg_\u200b",
    "msg id",
    "%00",
    "\ud800",
]

# --- strategies ------------------------------------------------------------------------

hostile_text = st.one_of(
    st.sampled_from(TEXTS + UNSTORABLE),
    st.text(max_size=300),
    st.text(st.characters(codec="utf-8", categories=["Cf", "Zs", "Mn", "Co"]), max_size=40),
)
hostile_number = st.one_of(
    st.sampled_from(NUMBERS),
    st.integers().map(str),
    st.floats(allow_nan=False, allow_infinity=False).map(repr),
)
hostile_date = st.one_of(st.sampled_from(DATES), st.dates().map(lambda d: d.isoformat()))
hostile_id = st.one_of(st.sampled_from(IDS), st.text(max_size=300))
