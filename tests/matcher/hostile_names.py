"""Hypothesis strategies: hostile and careless spellings of one company name.

``spelling(words)`` writes the company called ``words`` the way a careless
clerk or an attacker might: letters swapped for look-alikes from Cyrillic,
Greek, Armenian, Cherokee, fullwidth and mathematical alphabets; invisible
and format characters (zero-width, soft hyphen, bidi marks, variation
selectors) anywhere; a legal form of Italy, Sweden or the English-speaking
world spaced, glued, dotted or hyphenated; any case; ä/ö/ü/å/ø/ß written as
their transliterations; extra spaces and punctuation. The look-alike tables
here are test data (what an attacker would type), not the implementation's:
the matcher uses Unicode's confusables through ICU.
"""

from __future__ import annotations

import string

from hypothesis import strategies as st

from services.matcher import companies

# Look-alikes of Latin letters in other scripts.
CYRILLIC = dict(zip("aceopxyABCEHKMOPTX", "асеорхуАВСЕНКМОРТХ", strict=True))
GREEK = dict(zip("ovABEHIKMNOPTXZ", "ονΑΒΕΗΙΚΜΝΟΡΤΧΖ", strict=True))
ARMENIAN = dict(zip("ohnuq", "օհոսզ", strict=True))
CHEROKEE = dict(zip("ABCEHST", "ᎪᏴᏟᎬᎻᏚᎢ", strict=True))
SCRIPTS = {"cyrillic": CYRILLIC, "greek": GREEK, "armenian": ARMENIAN, "cherokee": CHEROKEE}


def fullwidth(char: str) -> str:
    return chr(ord(char) + 0xFEE0) if char.isascii() and char.isalnum() else char


def math_bold(char: str) -> str:
    if "A" <= char <= "Z":
        return chr(0x1D400 + ord(char) - ord("A"))
    if "a" <= char <= "z":
        return chr(0x1D41A + ord(char) - ord("a"))
    return char


def math_sans(char: str) -> str:
    if "A" <= char <= "Z":
        return chr(0x1D5A0 + ord(char) - ord("A"))
    if "a" <= char <= "z":
        return chr(0x1D5BA + ord(char) - ord("a"))
    return char


INVISIBLE = [
    "\u200b",  # zero-width space
    "\u200c",  # zero-width non-joiner
    "\u200d",  # zero-width joiner
    "\u00ad",  # soft hyphen
    "\u2060",  # word joiner
    "\ufeff",  # byte order mark
    "\u200e",  # left-to-right mark
    "\u200f",  # right-to-left mark
    "\u202a",  # left-to-right embedding
    "\u202c",  # pop directional formatting
    "\u2066",  # left-to-right isolate
    "\u2069",  # pop directional isolate
    "\ufe0f",  # variation selector 16
    "\u034f",  # combining grapheme joiner
]

# Legal forms as written in Italy, Sweden and the English-speaking world.
LEGAL_FORMS = [
    "S.p.A.", "SpA", "S.P.A.", "spa", "S.r.l.", "Srl", "SRL", "S.r.l.s.", "S.n.c.",
    "S.c.a r.l.", "AB", "AB (publ)", "Aktiebolag", "HB", "KB", "Ltd", "Ltd.", "Limited",
    "PLC", "plc", "LLC", "Inc.", "GmbH",
]  # fmt: skip
# How a legal form is attached: spaced, glued, dotted, hyphenated, after a comma.
ATTACH = [" ", "", ".", "-", ", ", "_", " - ", "  "]

# Letters with transliterations, and how each may be written instead.
TRANSLITERATED = {
    "ä": ["ae", "a"],
    "ö": ["oe", "o"],
    "ü": ["ue", "u"],
    "å": ["aa", "a"],
    "ø": ["o", "oe"],
    "é": ["e"],
    "è": ["e"],
    "ß": ["ss"],
}

_IGNORED = companies._LEGAL_FORMS | companies._GENERIC_WORDS

# A distinctive word: plain letters, sometimes one with a transliteration.
plain_words = st.text(alphabet=string.ascii_lowercase, min_size=3, max_size=9)
words = st.one_of(
    plain_words,
    st.tuples(plain_words, st.sampled_from(sorted(TRANSLITERATED)), plain_words).map("".join),
).filter(lambda w: w not in _IGNORED and companies.normalize_company(w) == w)
base_names = st.lists(words, min_size=1, max_size=3, unique=True)


@st.composite
def _cased(draw: st.DrawFn, word: str) -> str:
    style = draw(st.sampled_from(["lower", "upper", "title", "random"]))
    if style == "upper":
        return word.upper()
    if style == "title":
        return word.title()
    if style == "random":
        flips = draw(st.lists(st.booleans(), min_size=len(word), max_size=len(word)))
        return "".join(c.upper() if f else c for c, f in zip(word, flips, strict=True))
    return word


@st.composite
def _disguised(draw: st.DrawFn, word: str) -> str:
    """Some letters of ``word`` replaced by look-alikes of one or more kinds."""
    out = []
    for char in word:
        kind = draw(st.sampled_from(["keep", "keep", "script", "fullwidth", "bold", "sans"]))
        if kind == "script":
            table = SCRIPTS[draw(st.sampled_from(sorted(SCRIPTS)))]
            char = table.get(char, char)
        elif kind == "fullwidth":
            char = fullwidth(char)
        elif kind == "bold":
            char = math_bold(char)
        elif kind == "sans":
            char = math_sans(char)
        out.append(char)
    return "".join(out)


@st.composite
def _with_invisibles(draw: st.DrawFn, text: str) -> str:
    count = draw(st.integers(min_value=0, max_value=3))
    for _ in range(count):
        at = draw(st.integers(min_value=0, max_value=len(text)))
        text = text[:at] + draw(st.sampled_from(INVISIBLE)) + text[at:]
    return text


@st.composite
def _transliterated(draw: st.DrawFn, word: str) -> str:
    return "".join(
        draw(st.sampled_from([c, *TRANSLITERATED[c]])) if c in TRANSLITERATED else c for c in word
    )


@st.composite
def spelling(draw: st.DrawFn, name_words: list[str]) -> str:
    """One hostile or careless way of writing the company called ``name_words``."""
    written = []
    for word in name_words:
        word = draw(_transliterated(word))
        word = draw(_cased(word))
        if draw(st.booleans()):
            word = draw(_disguised(word))
        written.append(word)
    separator = draw(st.sampled_from([" ", "  ", " - ", ", ", " & "]))
    name = separator.join(written)
    if draw(st.booleans()):
        form = draw(st.sampled_from(LEGAL_FORMS))
        if draw(st.booleans()):
            form = form.upper()
        name = name + draw(st.sampled_from(ATTACH)) + form
    name = draw(st.sampled_from(["", " ", "\u00a0", '"', "*"])) + name
    name = name + draw(st.sampled_from(["", " ", "!", ".", '"', "  "]))
    return draw(_with_invisibles(name))
