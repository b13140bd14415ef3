"""What a member's opening page shows, as plain values: no I/O.

A company's description may be plain text or the HTML its careers site
publishes. Either way the page prints it as plain text in paragraphs: tags
are dropped (their block structure kept as paragraph breaks), entities
decoded, control characters removed, and Jinja2 escapes what is left. No
company markup, link or image ever reaches the member's browser.
"""

from __future__ import annotations

import re
from datetime import date
from html.parser import HTMLParser

from babel import Locale
from babel.dates import format_date
from babel.numbers import format_currency

from services.notifier.page_wording import PageWording
from services.notifier.sanitise import strip_controls
from services.notifier.wording import BABEL_LOCALE, Language

__all__ = ["deadline", "paragraphs", "salary"]

# Longer than any description ingest accepts (20,000 characters).
_LIMIT = 20_000
_PARAGRAPH_BREAK = re.compile(r"\n[ \t]*\n\s*")
_BLANKS = re.compile(r"[ \t\u00a0]+")
_BLOCKS = frozenset(
    {"p", "div", "br", "li", "ul", "ol", "h1", "h2", "h3", "h4", "h5", "h6", "tr", "table"}
    | {"section", "article", "blockquote", "pre", "hr"}
)
# Their content is not text a reader should see.
_HIDDEN = frozenset({"script", "style", "template", "head", "title", "noscript"})


class _Text(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self.hidden = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in _HIDDEN:
            self.hidden += 1
        elif tag == "li":
            self.parts.append("\n\n• ")
        elif tag == "br":
            self.parts.append("\n")
        elif tag in _BLOCKS:
            self.parts.append("\n\n")

    def handle_endtag(self, tag: str) -> None:
        if tag in _HIDDEN:
            self.hidden = max(0, self.hidden - 1)
        elif tag in _BLOCKS:
            self.parts.append("\n\n")

    def handle_data(self, data: str) -> None:
        if not self.hidden:
            self.parts.append(data)


def _looks_like_html(text: str) -> bool:
    return re.search(r"</?[a-zA-Z][^>]*>|&[a-zA-Z#][a-zA-Z0-9]*;", text) is not None


def paragraphs(description: str | None) -> list[str]:
    """The description as plain-text paragraphs (lines inside one kept)."""
    if not description:
        return []
    text = description[:_LIMIT].replace("\r\n", "\n").replace("\r", "\n")
    if _looks_like_html(text):
        parser = _Text()
        parser.feed(text)
        parser.close()
        text = "".join(parser.parts)
    text = strip_controls(text)
    out = []
    for chunk in _PARAGRAPH_BREAK.split(text):
        lines = [_BLANKS.sub(" ", line).strip() for line in chunk.split("\n")]
        paragraph = "\n".join(line for line in lines if line)
        if paragraph and paragraph != "•":
            out.append(paragraph)
    return out


def _amount(value: float, currency: str, language: Language) -> str:
    """The locale's own currency pattern; without decimals for a whole amount
    ("38.000 €", not "38.000,00 €")."""
    locale = BABEL_LOCALE[language]
    if value != int(value):
        return format_currency(value, currency, locale=locale)
    pattern = Locale.parse(locale).currency_formats["standard"].pattern.split(";")[0]
    whole = re.sub(r"\.0+", "", pattern)
    return format_currency(int(value), currency, format=whole, locale=locale, currency_digits=False)


def salary(
    low: float | None,
    high: float | None,
    currency: str | None,
    period: str | None,
    language: Language,
    w: PageWording,
) -> str | None:
    """ "€35,000 – €42,000 a year", "from €35,000 a year"; None when unknown."""
    if not currency or period not in ("HOUR", "MONTH", "YEAR") or (low is None and high is None):
        return None
    if low is not None and high is not None and low != high:
        amount = f"{_amount(low, currency, language)} – {_amount(high, currency, language)}"
    elif low is not None and high is not None:
        amount = _amount(low, currency, language)
    elif low is not None:
        amount = w.open_salary_from.format(amount=_amount(low, currency, language))
    else:
        assert high is not None
        amount = w.open_salary_to.format(amount=_amount(high, currency, language))
    per = {"HOUR": w.open_per_hour, "MONTH": w.open_per_month, "YEAR": w.open_per_year}[period]
    return per.format(amount=amount)


def deadline(valid_through: str | None, language: Language, w: PageWording) -> str | None:
    """ "Apply by 31 December 2026"; None when unknown or not a date."""
    if not valid_through:
        return None
    try:
        day = date.fromisoformat(valid_through[:10])
    except ValueError:
        return None
    shown = format_date(day, format="long", locale=BABEL_LOCALE[language])
    return w.open_deadline.format(date=shown)
