"""Folding company names so that look-alike spellings meet (Unicode TR39, via ICU).

Two forms of a name, both lower-case ASCII for the names we see:

- ``fold_name`` is what the company rule works on: NFKC (fullwidth, circled,
  mathematical letters, ligatures), invisible and format characters removed
  (zero-width, soft hyphen, bidi controls, variation selectors, tags), words
  written with look-alikes of Latin letters put back into Latin (a Cyrillic
  "А" in "АCME", a whole name in Greek capitals), then transliterated to
  ASCII ("Газпром" -> "gazprom", "ø" -> "o", "ß" -> "ss") and case-folded.
- ``look_alike`` maps a folded name to its TR39 confusable skeleton, so names
  that differ only by characters confusable inside Latin ("V0lv0", "lKEA",
  "Larnborghini") compare equal.

ICU carries the Unicode data (confusables, scripts, default-ignorable code
points, transliteration rules); nothing here is a hand-made table.
"""

from __future__ import annotations

import functools
import re

import icu

# NFKC first (it turns fullwidth and mathematical letters into plain ones),
# then drop what renders as nothing (default-ignorable, unassigned and lone
# surrogate code points), then NFKC again for what the removal joined.
_CLEAN = icu.Transliterator.createInstance(
    "NFKC; [[:Default_Ignorable_Code_Point:][:Cn:][:Cs:]] Remove; NFKC", icu.UTransDirection.FORWARD
)
_TO_ASCII = icu.Transliterator.createInstance("Any-Latin; Latin-ASCII", icu.UTransDirection.FORWARD)
_SPOOF = icu.SpoofChecker()
_MARKS = re.compile(r"[\u0300-\u036f]")
_WORD = re.compile(r"\w+")
# Scripts that say nothing about which alphabet a word is written in.
_NEUTRAL = {"Zyyy", "Zinh", "Zzzz"}


def fold_name(name: str) -> str:
    """Lower-case ASCII (for every script ICU can transliterate) of a company name."""
    text = str(_CLEAN.transliterate(name))
    text = _WORD.sub(_latin_look_alikes, text)
    return str(_TO_ASCII.transliterate(text)).casefold()


# Transliterations that write one letter as two: German and Scandinavian
# "ae", "oe", "ue" for ä/æ, ö/ø/œ, ü and "aa" for å. Latin-ASCII gives the
# one-letter form ("Lindström" -> "lindstrom"), so the two-letter one
# ("Lindstroem") is brought to it.
_DIGRAPHS = re.compile(r"([aou])e|aa")


def look_alike(folded: str) -> str:
    """The TR39 skeleton of a folded name, case-folded again, digraphs undone.

    The skeleton is case-sensitive (capital "I" is a look-alike of "l", small
    "i" is not), but names are compared without case, so "i" and "l" are one
    letter here: otherwise "lKEA" would pass as another company than "IKEA".
    """
    skeleton = _skeleton(folded).casefold().replace("i", "l")
    return _DIGRAPHS.sub(lambda m: m.group(1) or "a", skeleton)


@functools.lru_cache(maxsize=4096)  # bounded: names repeat across members and postings
def _skeleton(text: str) -> str:
    return _MARKS.sub("", str(_SPOOF.getSkeleton(0, text)))


def _script(char: str) -> str:
    return str(icu.Script.getScript(char).getShortName())


def _latin_look_alikes(match: re.Match[str]) -> str:
    """A word written (partly) with look-alikes of Latin letters, in Latin.

    A word in another script whose letters all have a Latin skeleton ("АСМЕ"
    in Cyrillic, "ΑΒΒ" in Greek) is a disguised Latin word and becomes its
    skeleton; in a word that mixes Latin with another script ("Ꭲelia" with a
    Cherokee letter), each foreign letter with a Latin skeleton is replaced.
    A word wholly in another script that is not a disguise ("Газпром") is
    left for transliteration.
    """
    word = match.group(0)
    if word.isascii():
        return word
    scripts = {_script(c) for c in word} - _NEUTRAL
    if scripts <= {"Latn"}:
        return word  # accents and Latin letters: transliteration handles them
    if "Latn" not in scripts:
        skeleton = _skeleton(word)
        return skeleton if skeleton.isascii() else word
    # Letter by letter: a whole-word skeleton would also rewrite the Latin
    # letters ("I" -> "l") and make the word differ from its plain spelling.
    out = []
    for char in word:
        if _script(char) not in _NEUTRAL | {"Latn"}:
            mapped = _skeleton(char)
            if mapped.isascii():
                char = mapped
        out.append(char)
    return "".join(out)
