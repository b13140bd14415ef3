"""The member-facing translations, read from the gettext catalogs in ``locale/``.

Each language has one ``locale/<lang>/LC_MESSAGES/messages.po``, the file a
translator edits with the tools translators use (Poedit, Weblate, Lokalize).
The msgids are the English text: English is the language the copy is written
in first, and a translator sees the sentence to translate rather than a code.
``en`` still has its own catalog, so that English copy can be edited like any
other language and every catalog is checked the same way.

The ``.po`` files are compiled here, in memory, the first time a language is
asked for. No ``.mo`` file is committed or built: a fresh clone works as it
is, and a compiled file can never be older than its source. Fuzzy entries are
left out of the compiled catalog (``use_fuzzy=False``), as ``msgfmt`` does; a
test fails on any fuzzy, empty or missing entry, so none reaches a member.

Update the catalogs after changing copy: ``make i18n`` (extraction with the
mapping in ``babel.cfg``, then ``pybabel update``).
"""

from __future__ import annotations

import functools
import io
from pathlib import Path

from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from babel.support import Translations

__all__ = ["DOMAIN", "LOCALE_DIR", "catalog_path", "translations"]

LOCALE_DIR = Path(__file__).parent / "locale"
DOMAIN = "messages"


def catalog_path(language: str) -> Path:
    """Where the ``.po`` file of ``language`` lives."""
    return LOCALE_DIR / language / "LC_MESSAGES" / f"{DOMAIN}.po"


@functools.cache
def translations(language: str) -> Translations:
    """The compiled catalog of ``language`` (one of ours, already validated)."""
    with catalog_path(language).open("rb") as po:
        catalog = read_po(po, locale=language, domain=DOMAIN)
    compiled = io.BytesIO()
    write_mo(compiled, catalog, use_fuzzy=False)
    compiled.seek(0)
    return Translations(fp=compiled, domain=DOMAIN)
