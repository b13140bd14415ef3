"""The gettext catalogs: complete, current, and naming every role of the taxonomy.

A translation that is missing, empty or fuzzy, a msgid used in the code or
the templates but absent from a catalog, and an entry the code no longer uses
all fail here, so none of them reaches a member as English text or a hole.
"""

from __future__ import annotations

import re
import string
from pathlib import Path

import pytest
from babel.messages.catalog import Catalog, Message
from babel.messages.frontend import CommandLineInterface
from babel.messages.pofile import read_po

from services.matcher.taxonomy import default_taxonomy
from services.notifier.catalogs import catalog_path
from services.notifier.explain import explain
from services.notifier.wording import LANGUAGES, ROLE_NAMES, digest_intro

ROOT = Path(__file__).resolve().parents[2]

# Role names that Italian or Swedish offices use as they are in English: a
# native speaker writes "receptionist", not a translation of it.
LOANWORDS = {
    ("it", "Office manager"),
    ("it", "Receptionist"),
    ("it", "Chief of staff"),
    ("it", "Chef"),
    ("sv", "Receptionist"),
}


def _read(path: Path) -> Catalog:
    with path.open("rb") as po:
        return read_po(po)


@pytest.fixture(scope="module")
def extracted(tmp_path_factory: pytest.TempPathFactory) -> Catalog:
    # The same extraction as `make i18n`, into a temporary template.
    pot = tmp_path_factory.mktemp("i18n") / "messages.pot"
    CommandLineInterface().run(
        ["pybabel", "-q", "extract", "-F", str(ROOT / "babel.cfg"), "-o", str(pot), str(ROOT)]
    )
    return _read(pot)


def _keys(catalog: Catalog) -> set[tuple[str | None, str]]:
    return {(m.context, _msgid(m)) for m in catalog if m.id}


def _msgid(message: Message) -> str:
    return message.id[0] if message.pluralizable else str(message.id)


def forms(value: object) -> list[str]:
    """A msgstr as a list: one string, or a plural's forms."""
    if isinstance(value, str):
        return [value]
    if isinstance(value, tuple | list):
        return [str(form) for form in value]
    return []


def _pairs(message: Message) -> list[tuple[str, str]]:
    """(source, translation) for each form: a plural's first form translates the
    singular, every other form the plural."""
    if not message.pluralizable:
        return [(str(message.id), str(message.string))]
    singular, plural = message.id[0], message.id[1]
    return [(singular if i == 0 else plural, s) for i, s in enumerate(forms(message.string))]


def _placeholders(text: str) -> set[str]:
    return {name for _, name, _, _ in string.Formatter().parse(text) if name}


def test_extraction_finds_the_code_and_the_templates(extracted):
    keys = _keys(extracted)
    assert (None, "Your passaparola update · {date}") in keys  # wording.py
    assert (None, "Why we thought of you") in keys  # _job.*.j2
    assert (None, "Stop these emails?") in keys  # page_wording.py
    assert ("role", "Executive Assistant") in keys  # role names
    assert len(keys) > 150


@pytest.mark.parametrize("language", LANGUAGES)
def test_the_catalog_holds_exactly_the_extracted_msgids(language, extracted):
    catalog = _read(catalog_path(language))
    keys = _keys(catalog)
    missing = _keys(extracted) - keys
    unused = keys - _keys(extracted)
    assert not missing, f"msgids missing from {language}: run `make i18n` and translate"
    assert not unused, f"entries no longer used in {language}: run `make i18n`"


@pytest.mark.parametrize("language", LANGUAGES)
def test_every_entry_is_translated_and_not_fuzzy(language):
    catalog = _read(catalog_path(language))
    assert str(catalog.locale) == language
    for message in catalog:
        if not message.id:
            continue
        assert not message.fuzzy, (language, message.id)
        if message.pluralizable:
            assert len(forms(message.string)) == catalog.num_plurals, (language, message.id)
        for _, translation in _pairs(message):
            assert translation.strip(), (language, message.id)


@pytest.mark.parametrize("language", LANGUAGES)
def test_translations_keep_the_placeholders_and_hold_no_markup(language):
    # Jinja2 prints catalog text unescaped in the HTML part (it is ours), so
    # a translation carries no markup characters; a placeholder renamed or
    # dropped would raise or print "{city}" to the member.
    for message in _read(catalog_path(language)):
        if not message.id:
            continue
        for source, text in _pairs(message):
            assert _placeholders(text) == _placeholders(source), (language, message.id)
            assert not set(text) & set("<>&"), (language, message.id)


@pytest.mark.parametrize(
    ("language", "one", "three"),
    [
        ("it", "tenuto solo quella davvero", "tenuto solo le 3 davvero"),
        ("sv", "behållit bara en som", "behållit bara de 3 som"),
        ("en", "kept only one that truly fits", "kept only the 3 that truly fit"),
    ],
)
def test_the_digest_says_how_many_openings_it_keeps_in_the_right_plural(language, one, three):
    assert one in digest_intro(language, 1)
    assert three in digest_intro(language, 3)
    assert "{count}" not in digest_intro(language, 1_000_000)


def test_a_fuzzy_entry_is_caught(tmp_path):
    # The check above can fail: a catalog as `msgmerge` leaves it after an
    # English change, with the old translation marked fuzzy.
    path = tmp_path / "messages.po"
    path.write_text(
        'msgid ""\nmsgstr ""\n"Language: it\\n"\n\n#, fuzzy\nmsgid "Hello,"\nmsgstr "Ciao,"\n',
        encoding="utf-8",
    )
    assert [m.fuzzy for m in _read(path) if m.id] == [True]


@pytest.mark.parametrize("language", ["it", "sv"])
def test_every_role_of_the_taxonomy_has_a_name_in_the_language(language):
    english = {str(name).lower() for name in ROLE_NAMES["en"].values()}
    for role_id in default_taxonomy().roles:
        name = ROLE_NAMES[language].get(role_id)
        assert name, (language, role_id)
        if (language, name) not in LOANWORDS:
            assert name.lower() not in english, (language, role_id, name)


@pytest.mark.parametrize("language", ["it", "sv"])
def test_every_role_explanation_reads_without_english_role_names(language):
    loanwords = {word.lower() for lang, word in LOANWORDS if lang == language}
    english = {name for name in ROLE_NAMES["en"].values() if name.lower() not in loanwords}
    for role_id in default_taxonomy().roles:
        for member_role in (role_id, "executive-assistant"):
            part = {"title": {"posting_role": role_id, "member_role": member_role}}
            reasons = explain(part, language)
            assert len(reasons) == 1, (language, role_id)
            assert ROLE_NAMES[language][role_id] in reasons[0]
            for name in english:
                # Whole words: Swedish "Chefsassistent" is not the English "Chef".
                found = re.search(rf"\b{re.escape(name)}\b", reasons[0], re.IGNORECASE)
                assert found is None, (language, role_id, name)
