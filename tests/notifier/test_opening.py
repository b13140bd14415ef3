"""The opening page's pure parts: a company's description as safe paragraphs,
salary and deadline in the member's language."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from services.notifier import opening
from services.notifier.page_wording import PAGES


def test_plain_text_keeps_its_paragraphs_and_lines() -> None:
    text = "First line\nsecond line\n\n\n  Another   paragraph \r\n\r\nLast"
    assert opening.paragraphs(text) == ["First line\nsecond line", "Another paragraph", "Last"]


def test_html_becomes_text_and_loses_what_is_not_text() -> None:
    html = (
        "<h2>The role</h2><p>You run the <b>CEO's</b> agenda &amp; travel.</p>"
        "<ul><li>Board</li><li>Travel</li></ul><script>alert(1)</script>"
        "<style>p{}</style><img src=x onerror=alert(1)><p>End<br>here</p>"
    )
    assert opening.paragraphs(html) == [
        "The role",
        "You run the CEO's agenda & travel.",
        "• Board",
        "• Travel",
        "End\nhere",
    ]


def test_no_description_is_no_paragraph() -> None:
    assert opening.paragraphs(None) == []
    assert opening.paragraphs("  \n\n ") == []


@given(st.text(max_size=400))
def test_any_description_yields_printable_paragraphs(text: str) -> None:
    for paragraph in opening.paragraphs(text):
        assert paragraph == paragraph.strip()
        assert "\n\n" not in paragraph
        assert not any(ch in paragraph for ch in "\x00\x1b\u202e\u2028")
        assert "<script" not in paragraph.lower() or "<" in text


def test_salary_in_each_language() -> None:
    it, sv, en = PAGES["it"], PAGES["sv"], PAGES["en"]
    assert (
        opening.salary(38000, 45000, "EUR", "YEAR", "it", it)
        == "38.000\xa0€ – 45.000\xa0€ all'anno"
    )
    assert opening.salary(32000, None, "SEK", "MONTH", "sv", sv) == "från 32\xa0000\xa0kr per månad"
    assert opening.salary(None, 25.5, "GBP", "HOUR", "en", en) == "up to £25.50 an hour"
    assert opening.salary(40000, 40000, "EUR", "YEAR", "en", en) == "€40,000 a year"


def test_salary_unknown_is_none() -> None:
    en = PAGES["en"]
    assert opening.salary(None, None, "EUR", "YEAR", "en", en) is None
    assert opening.salary(1, 2, None, "YEAR", "en", en) is None
    assert opening.salary(1, 2, "EUR", None, "en", en) is None


def test_deadline() -> None:
    assert (
        opening.deadline("2026-12-31", "it", PAGES["it"]) == "Candidature entro: 31 dicembre 2026"
    )
    assert opening.deadline("2026-12-31", "en", PAGES["en"]) == "Apply by 31 December 2026"
    assert opening.deadline("soon", "en", PAGES["en"]) is None
    assert opening.deadline(None, "en", PAGES["en"]) is None


def test_only_plain_web_addresses_become_apply_links() -> None:
    from services.notifier.links import _web_url

    assert _web_url("https://careers.example/ea?id=1") == "https://careers.example/ea?id=1"
    assert _web_url(" http://jobs.example/1 ") == "http://jobs.example/1"
    for bad in (
        "javascript:alert(1)",
        "data:text/html,<b>x</b>",
        "https://",
        'https://a.example/"onmouseover=x',
        "https://a.example/ x",
        "ftp://a.example/",
        None,
        42,
        "https://a.example/" + "x" * 2000,
    ):
        assert _web_url(bad) is None, bad
