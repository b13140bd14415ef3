"""Which language a free title is in, and so which word is its head (issue 13, session 6)."""

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from services.matcher.title_terms import analyze, guess_language


@pytest.mark.parametrize(
    ("title", "lang", "head"),
    [
        # an Italian head beside a word English and Swedish share: Italian, head first
        ("Responsabile marketing", "it", "responsabile"),
        ("Assistente marketing", "it", "assistente"),
        ("Addetta reception", "it", "addetto"),
        ("Responsabile HR", "it", "responsabile"),
        ("Coordinatrice eventi", "it", "coordinatore"),
        # a word all three know: its ending says Italian
        ("Barista", "it", "barista"),
        # English and Swedish titles are still read head last
        ("Marketing manager", "en", "manager"),
        ("Office manager", "en", "manager"),
        ("Head of marketing", "en", "head"),
        ("Marknadschef", "sv", "chef"),
        ("HR-assistent", "sv", "assistent"),
    ],
)
def test_a_title_is_read_in_its_own_language(title, lang, head):
    terms = analyze(title)
    assert (terms.lang, terms.head) == (lang, head)


def test_an_abbreviation_is_read_in_its_own_language_whatever_the_title():
    # "HR" is "human resources" in an Italian title too, lemmatised as English
    assert analyze("Responsabile HR").terms[-2:] == analyze("HR manager").terms[1:3]


_ITALIAN_HEADS = (
    ("responsabile", "responsabile"),
    ("assistente", "assistente"),
    ("addetta", "addetto"),
    ("coordinatore", "coordinatore"),
    ("direttrice", "direttore"),
    ("consulente", "consulente"),
    ("segretaria", "segretario"),
    ("impiegata", "impiegato"),
    ("specialista", "specialista"),
)
# Words Italian ads borrow from English, most of which Swedish shares.
_BORROWED = (
    "marketing",
    "reception",
    "office",
    "sales",
    "event",
    "hr",
    "design",
    "business",
    "team",
    "digital",
    "retail",
    "management",
)
_ENGLISH_HEADS = ("manager", "assistant", "coordinator", "specialist", "director", "officer")


@settings(max_examples=150, deadline=None)
@given(
    head=st.sampled_from(_ITALIAN_HEADS),
    borrowed=st.lists(st.sampled_from(_BORROWED), min_size=1, max_size=2, unique=True),
)
def test_an_italian_head_before_borrowed_words_is_the_head(head, borrowed):
    word, lemma = head
    terms = analyze(" ".join((word.capitalize(), *borrowed)))
    assert (terms.lang, terms.head) == ("it", lemma)


@settings(max_examples=150, deadline=None)
@given(
    head=st.sampled_from(_ENGLISH_HEADS),
    borrowed=st.lists(st.sampled_from(_BORROWED), min_size=1, max_size=2, unique=True),
)
def test_an_english_head_after_the_same_words_is_the_head(head, borrowed):
    terms = analyze(" ".join((*borrowed, head)))
    assert (terms.lang, terms.head) == ("en", head)


_WORDS = st.sampled_from(
    (*(w for w, _ in _ITALIAN_HEADS), *_BORROWED, *_ENGLISH_HEADS, "chef", "marknad", "di", "of")
)


@settings(max_examples=200, deadline=None)
@given(words=st.lists(_WORDS, min_size=1, max_size=5))
def test_the_guess_does_not_depend_on_word_order(words):
    assert guess_language(words) == guess_language(words[::-1])
    assert guess_language(words) in ("en", "it", "sv")


@pytest.mark.parametrize(
    ("title", "parts"),
    [
        # a first part that is itself a compound no word list has
        ("storkundsansvarig", ("stor", "kund", "ansvarig")),
        ("kontorsmaskinsreparatör", ("kontor", "maskin", "reparator")),
        ("lönehandläggare", ("lon", "handlaggare")),
    ],
)
def test_a_swedish_compound_of_compounds_splits_and_is_read_as_swedish(title, parts):
    terms = analyze(title)
    assert terms.lang == "sv"
    assert terms.terms[1:] == parts
    assert terms.head == parts[-1]
