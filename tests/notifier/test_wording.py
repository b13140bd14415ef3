"""The copy: complete in every language, neutral where the inbox list shows it."""

from __future__ import annotations

import dataclasses
import string

import pytest

from services.notifier.compose import SENDER_NAME
from services.notifier.wording import LANGUAGES, WORDING, language_of

# Words that would tell a passer-by what the mail is about.
REVEALING = (
    "job",
    "lavoro",
    "jobb",
    "tjänst",
    "opportunit",
    "offert",
    "posizion",
    "candid",
    "recruit",
    "hiring",
    "assunz",
    "rekryter",
    "career",
    "carriera",
    "karriär",
    "cv",
)


@pytest.mark.parametrize("language", LANGUAGES)
def test_inbox_visible_copy_is_neutral(language):
    wording = WORDING[language]
    for text in (wording.subject, wording.subject_weekly, wording.preheader, SENDER_NAME):
        for word in REVEALING:
            assert word not in text.lower(), (language, text)


@pytest.mark.parametrize("language", LANGUAGES)
def test_every_sentence_is_written(language):
    for field in dataclasses.fields(WORDING[language]):
        assert getattr(WORDING[language], field.name).strip(), field.name


def test_placeholders_match_across_languages():
    def placeholders(text: str) -> set[str]:
        return {name for _, name, _, _ in string.Formatter().parse(text) if name}

    english = WORDING["en"]
    for language in LANGUAGES:
        for field in dataclasses.fields(english):
            ours = placeholders(getattr(WORDING[language], field.name))
            assert ours == placeholders(getattr(english, field.name)), (language, field.name)


def test_language_of_falls_back_to_english():
    assert language_of("sv") == "sv"
    assert language_of("SV") == "en"
    assert language_of(None) == "en"
