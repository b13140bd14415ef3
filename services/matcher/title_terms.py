"""A free job title as the terms it is made of, with its head noun marked.

This is what lets a title nobody wrote down meet an occupation's labels:

- job-ad wording around the title is removed per language ("... sökes", "vi
  söker nu en ...", "cercasi", "per prestigiosa realtà ...", "wanted", "for
  our Oslo team"), as are gender markers, percentages and hours;
- words are reduced to their lemma (``simplemma``: "assistenten" ->
  "assistent", "assistenti" -> "assistente", "secretaries" -> "secretary");
- Swedish compounds are split with simplemma's Swedish word list and keep
  their last part as the head ("skolreceptionist" is a receptionist);
- the head is the last word in Swedish and English ("school secretary" is a
  secretary), the first in Italian ("segretaria di studio legale"), and
  whatever stands before "to/for/till/del/al..." when a title names whose
  assistant it is ("assistant to the CEO", "assistente dell'AD");
- the profession's abbreviations become words (VD, AD, CdA, EA, PA, HR ...).

Everything here is pure and language data ships inside simplemma's wheel:
nothing is downloaded at run time.
"""

from __future__ import annotations

import dataclasses
import functools
import re
import unicodedata

import simplemma

from services.matcher.titles import QUALIFIERS, fold

LANGS = ("it", "sv", "en")

# --- ad boilerplate --------------------------------------------------------------------------

_PLACE = r"[a-z][\w' -]{1,40}"
_BOILERPLATE = re.compile(
    r"(?<!\w)(?:"
    + "|".join(
        (
            # Swedish: "X sökes", "vi söker nu en X", "till expansivt företag i Malmö"
            r"sokes(?:\s+till\s+.*)?$",
            r"till\s+(?:ett\s+|vart\s+|var\s+)?(?:expansivt?|vaxande|ledande|internationellt?|"
            r"spannande|framgangsrikt?|stort?|mindre|familjart?)\s+.*$",
            r"till\s+(?:vart|vara|var)\s+(?:kontor|huvudkontor|team)\b.*$",
            r"i\s+(?:stockholm|goteborg|malmo|uppsala|lund|linkoping|orebro|vasteras)\b.*$",
            # Italian: "cercasi X", "X per prestigiosa realtà del settore moda"
            r"cercasi|cerchiamo|si\s+cerca|ricerchiamo|selezioniamo|stiamo\s+cercando",
            r"per\s+(?:prestigios[ao]|importante|nota|noto|primaria|primario|affermat[ao]|"
            r"storic[ao]|dinamic[ao]|giovane|azienda|societa|realta|gruppo|cliente|"
            r"multinazionale|studio|sede)\b.*$",
            r"categorie\s+protette|ambosessi|anche\s+prima\s+esperienza|con\s+esperienza",
            r"sede\s+di\s+" + _PLACE + r"$",
            r"zona\s+" + _PLACE + r"$",
            # English: "X wanted", "we are hiring: X", "for our Oslo team"
            r"we\s+are\s+hiring|we\s+re\s+hiring|hiring|now\s+hiring|join\s+us\s+as(?:\s+an?)?",
            r"wanted|needed(?:\s+immediately)?|required|vacancy|opening|job\s+offer",
            r"for\s+(?:our|a|an|the)\s+.*$",
            r"(?:at|in)\s+(?:our|a|an)\s+.*$",
            r"(?:fixed|temporary|permanent)\s+(?:term\s+)?contract",
            r"weekend|helg",
        )
    )
    + r")(?!\w)"
)


def _wordset(text: str) -> frozenset[str]:
    return frozenset(text.split())


# Heads that name no occupation by themselves: a title of only these is unknown.
GENERIC = _wordset(
    "assistant assistente assistent clerk worker impiegato impiegata addetto addetta "
    "operatore operatrice medarbetare employee staff"
)


# Heads that name a rank rather than a trade: titles alike but for these are
# different jobs ("marketing manager", "marketing assistant"), so a title
# headed by one is never widened to an occupation not headed by it.
RANKS = _wordset(
    "manager director head chief lead leader supervisor deputy assistant "
    "responsabile direttore dirigente capo vice assistente "
    "chef direktor ledare forestandare assistent"
)


# --- abbreviations and short forms of the profession -------------------------------------

# Token -> the words it stands for. The words are what ESCO and ads write out.
ABBREVIATIONS: dict[str, str] = {
    "ea": "executive assistant",
    "pa": "personal assistant",
    "va": "virtual assistant",
    "exec": "executive",
    "admin": "administrative",
    "hr": "human resources",
    "vd": "verkstallande direktor",
    "ceo": "chief executive officer",
    "cfo": "chief financial officer",
    "coo": "chief operating officer",
    "md": "managing director",
    "ad": "amministratore delegato",
    "cda": "consiglio amministrazione",
    "gp": "general practitioner",
    "it": "information technology",
}
# The language each expansion is written in (English unless listed).
EXPANSION_LANG: dict[str, str] = {
    word: lang
    for lang, abbreviations in (("sv", ("vd",)), ("it", ("ad", "cda")))
    for abbreviation in abbreviations
    for word in ABBREVIATIONS[abbreviation].split()
} | {
    word: "en"
    for abbreviation, words in ABBREVIATIONS.items()
    if abbreviation not in ("vd", "ad", "cda")
    for word in words.split()
}
# "C-level", "c-suite": the executives as a group.
_C_LEVEL = re.compile(r"\bc\s*-?\s*(?:level|suite)\b")
# A member's or an ad's "to the X" naming the executive served: the title's head
# stands before it. These words start that tail.
_TAIL = _wordset("to for till at del della dello dell al alla allo all ai agli presso of di")
_STOPWORDS = _wordset(
    "di del della dello dei degli delle dell d al alla allo ai agli alle all a e ed per "
    "nel nella nello nei negli nelle nell sul sulla sullo sui sugli sulle sull dal dalla "
    "dallo dai dagli dalle dall "
    "il la lo le gli i l un una uno in con da su to the of for and an at with on och till "
    "av med en ett i pa our a vi var vart vara nu"
)
_SPLIT = re.compile(r"[^\w]+|_")
_GENDER = re.compile(
    r"\(\s*[mfwdhkx]\s*(?:/\s*[mfwdhkx]\s*){1,2}\)|(?<!\w)[mfwdhkx]\s*/\s*[mfwdhkx](?:\s*/\s*[mfwdhkx])?(?!\w)"
)
_GENDER_SUFFIX = re.compile(r"\b(\w+)\s*/\s*(?:a|o|e|i|essa|ssa|trice|rice)(?!\w)")


# Words repeat across titles and labels; folding each once is most of the speed.
_fold_word = functools.lru_cache(maxsize=200_000)(fold)


@dataclasses.dataclass(frozen=True, slots=True)
class TitleTerms:
    text: str  # the title's own words, folded, without the ad's wording
    terms: tuple[str, ...]  # lemmas and compound parts, in title order, unique
    head: str | None  # the head noun's lemma
    lang: str  # the language the title looks most like

    @property
    def generic(self) -> bool:
        """Nothing but a generic head ("Assistant", "Addetta")."""
        return all(t in GENERIC for t in self.terms)


_PREFIX = re.compile(
    r"^(?:(?:vi\s+)?soker\s+(?:nu\s+)?(?:en\s+|ett\s+)?(?:ny\s+|erfaren\s+)?"
    r"|(?:we\s+are|we\s+re|now)?\s*hiring\s*(?:an?\s+)?|join\s+us\s+as\s+(?:an?\s+)?"
    r"|cercasi\s+|cerchiamo\s+(?:un\s+|una\s+|un\s+)?|ricerchiamo\s+|selezioniamo\s+"
    r"|si\s+cerca\s+|stiamo\s+cercando\s+(?:un\s+|una\s+)?)"
)
_MEASURES = re.compile(
    r"\d+(?:[.,]\d+)?\s*(?:%|percent\b|procent\b|per\s+cento\b|ore\b|hours?\b|h\b|timmar\b|"
    r"tim\b|manader\b|månader\b|mesi\b|months?\b|år\b|anni\b|years?\b)"
    r"(?:\s*(?:per|a|i|alla|la)\s*(?:week|settimana|veckan|vecka)\b|\s*settimanali\b)?"
)


def _words(title: str) -> list[str]:
    """Lowercased words of the title (accents kept, for the lemmatiser),
    without ad wording, gender markers, hours and shares."""
    text = unicodedata.normalize("NFKC", title).casefold().replace("’", "'")
    # "EA - Milano", "Receptionist | Acme": what follows a spaced dash is not the job.
    text = re.split(r"\s[-–—|]\s|\s[-–—]$", text, maxsplit=1)[0]
    text = _GENDER.sub(" ", text)
    text = _GENDER_SUFFIX.sub(r"\1", text)
    text = _MEASURES.sub(" ", text)
    text = _C_LEVEL.sub(" executive ", text)
    tokens = [t for t in _SPLIT.split(text.replace("'", " ")) if t]
    folded = " ".join(_fold_word(t) for t in tokens)
    # Mark the words inside ad wording, on the folded text (patterns are
    # written without accents), and keep the others in their own spelling.
    drop: set[int] = set()
    starts = [m.start() for m in re.finditer(r"\S+", folded)]
    for pattern in (_PREFIX, _BOILERPLATE, QUALIFIERS):
        for match in pattern.finditer(folded):
            for i, at in enumerate(starts):
                if match.start() <= at < max(match.end(), match.start() + 1):
                    drop.add(i)
    return [t for i, t in enumerate(tokens) if i not in drop]


def strip_boilerplate(title: str) -> str:
    """The title's words without ad wording, folded (for tests and operators)."""
    return " ".join(_fold_word(w) for w in _words(title))


# Endings that say a word's language when the dictionaries cannot: a word
# every one of them knows ("barista", "manager") or none does (a typo, a rare
# trade). Italian heads end in a vowel ("responsabile", "direttore",
# "giornalista", "consulente", "segretaria"); Swedish ones in -are, -ör,
# -erska, -ent or -ist with å, ä, ö about. English is what is left.
_ENDINGS: dict[str, tuple[str, ...]] = {
    "it": (
        "ile",
        "ore",
        "ista",
        "ente",
        "ante",
        "trice",
        "zione",
        "ario",
        "aria",
        "iere",
        "iera",
        "ico",
        "ica",
        "ato",
        "ata",
        "ale",
        "ino",
        "ina",
        "etto",
        "etta",
    ),
    "sv": ("are", "ör", "erska", "ska", "ande", "chef", "ledare", "man", "ansvarig"),
}
_SWEDISH_LETTERS = frozenset("åäö")


@functools.lru_cache(maxsize=200_000)
def _knowing(token: str) -> tuple[str, ...]:
    """The languages whose dictionary knows a word."""
    return tuple(lang for lang in LANGS if simplemma.is_known(token, lang))


def _language_evidence(tokens: list[str], lang: str) -> tuple[int, int, float, int]:
    """How much ``tokens`` look like ``lang``, most telling first: its words
    English does not know (ads borrow English words, English titles borrow
    none: "Responsabile front office" is Italian, "Marketing-assistent"
    Swedish); the words it knows; the same with each word counting 1/n when n
    languages know it; and the words with one of its endings or letters."""
    own, count, distinct, endings = 0, 0, 0.0, 0
    for token in tokens:
        knowing = _knowing(token)
        if lang in knowing:
            count += 1
            distinct += 1 / len(knowing)
            own += lang != "en" and "en" not in knowing
        elif not knowing and lang == "sv" and len(split_compound(token)) > 1:
            # a compound no dictionary lists but Swedish words make up
            # ("storkundsansvarig", "hästtandläkare") is Swedish
            count += 1
            distinct += 1
            own += 1
        if token.endswith(_ENDINGS.get(lang, ())) or (
            lang == "sv" and _SWEDISH_LETTERS & set(token)
        ):
            endings += 1
    return own, count, round(distinct, 6), endings


def guess_language(tokens: list[str]) -> str:
    """The language of a title's words (``_language_evidence``), English when
    nothing tells them apart: it is the language of borrowed titles in
    Italian and Swedish ads. So "Responsabile marketing" is Italian and read
    head first, although "marketing" is an English (and Swedish) word."""
    evidence = {lang: _language_evidence(tokens, lang) for lang in ("en", "it", "sv")}
    return max(evidence, key=lambda lang: evidence[lang])  # first of a tie: English


@functools.lru_cache(maxsize=200_000)
def lemma(token: str, lang: str) -> str:
    """The folded lemma of a lowercased word (accents still on: the
    dictionaries are spelled with them); an Italian one in its masculine
    form, since the labels and ads name one job in either gender."""
    found = fold(simplemma.lemmatize(token, lang))
    return masculine(found) if lang == "it" else found


# "-essa" is feminine of "-e" only after these stems ("professoressa",
# "studentessa", "campionessa"); elsewhere it is "-esso" ("commessa").
_ITALIAN_FEMININE = (
    ("trice", "tore"),
    ("iera", "iere"),
    ("oressa", "ore"),
    ("entessa", "ente"),
    ("onessa", "one"),
)


def masculine(word: str) -> str:
    """An Italian (folded) word's masculine form, by its ending: "direttrice"
    -> direttore, "infermiera" -> infermiere, "professoressa" -> professore,
    "addetta" -> addetto. The lemmatiser leaves most feminine forms as they
    are. A noun that only looks feminine ("azienda" -> aziendo) is changed the
    same way wherever it is written, so nothing is lost but a few collisions."""
    if len(word) < 5 or word.endswith(("ista", "ica")):
        return word
    for ending, replacement in _ITALIAN_FEMININE:
        if word.endswith(ending) and len(word) > len(ending) + 2:
            return word[: -len(ending)] + replacement
    return word[:-1] + "o" if word.endswith("a") else word


@functools.lru_cache(maxsize=200_000)
def split_compound(word: str) -> tuple[str, ...]:
    """A Swedish compound (lowercased, accents on) as its folded lemmas, head
    last; the word's own lemma when no split into known words (or, for the
    first part, into a compound of them) exists.
    Linking "s" and a dropped final "a"/"e" are allowed ("ledningsassistent",
    "skolreceptionist")."""
    if len(word) >= 8:
        for cut in range(3, len(word) - 3):
            left, right = word[:cut], word[cut:]
            if len(right) < 4 or not simplemma.is_known(right, "sv"):
                continue
            stems = (left, left[:-1] if left.endswith("s") else "", left + "a", left + "e")
            for stem in stems:
                # the first part may itself be a compound no list has
                # ("storkunds|ansvarig" = stor + kund + ansvarig)
                if len(stem) >= 3 and (
                    simplemma.is_known(stem, "sv") or len(split_compound(stem)) > 1
                ):
                    return (*split_compound(stem), lemma(right, "sv"))
    return (lemma(word, "sv"),)


# Whose assistant: a tail naming the executives served means an executive
# assistant, said the way each language's labels say it.
_EXECUTIVE_WORDS = _wordset(
    "ceo cfo coo cto md vd ad dg gm vp chief executive executives officer managing "
    "director directors general manager president presidente chairman chair founder "
    "founders owner board amministratore amministratrice unico unica delegato delegata "
    "direttore direttrice generale cda consiglio amministrazione titolare fondatore "
    "styrelse styrelsen koncernchef ledning ledningen koncernledningen ledningsgruppen "
    "direktor verkstallande grundare agare partner partners c level suite management team "
    "leadership and och e ed the our var vart group gruppo koncern"
)
# The word standing for "of the executives" in every language, so that
# "executive assistant", "assistente di direzione", "VD-assistent",
# "koncernassistent" and "assistant to the CEO" share it.
EXECUTIVE = "executive*"  # no word: "executive" after "to the" stays a word
# Modifiers (never heads) that say "of the executives": "direzione" in
# "assistente di direzione", "lednings-", "koncern-", "styrelse-", "chefs-" in
# Swedish compounds ("chef" is a manager there, a cook only as an English head).
_EXECUTIVE_MODIFIERS = _wordset(
    "executive exec direzione direzionale ledning direktion koncern koncernledning "
    "styrelse vd ceo board cda chef chefs c-level"
)
_TAIL_WORDS = _wordset("to for till at del della dello dell al alla allo all ai agli presso")


def _executive_tail(words: list[str], lang: str) -> tuple[list[str], int]:
    """The words with an executive tail said as the language's executive word,
    and how many leading words may hold the head."""
    for i, word in enumerate(words):
        if i > 0 and _fold_word(word) in _TAIL_WORDS:
            tail = [_fold_word(w) for w in words[i + 1 :]]
            if tail and all(w in _EXECUTIVE_WORDS for w in tail):
                return [*words[:i], EXECUTIVE], i
            return words, i
    return words, len(words)


def _head_index(tokens: list[str], lang: str) -> int:
    # The words before a "to/del/till ..." tail hold the head ("assistant to
    # the CEO"), but an abbreviation's expansion is no tail.
    for i, token in enumerate(tokens):
        if i > 0 and token in _TAIL and tokens[i - 1] not in ABBREVIATIONS:
            tokens = tokens[:i]
            break
    content = [i for i, t in enumerate(tokens) if t not in _STOPWORDS]
    if not content:
        return len(tokens) - 1
    return content[0] if lang == "it" else content[-1]


def analyze(title: str, lang: str | None = None) -> TitleTerms:
    """The terms of a title, head marked; ``lang`` when known (ESCO labels),
    else guessed from the words."""
    raw = _words(title)
    text = " ".join(_fold_word(w) for w in raw)
    # "provare, flygmotorer", "gravör, metall": a comma ends the job's name,
    # what follows says of what; the head is before it.
    named = len(_words(title.split(",", 1)[0])) if "," in title else len(raw)
    named = named or len(raw)
    words: list[str] = []
    expanded: set[int] = set()  # positions in ``words`` of abbreviations' expansions
    for at, token in enumerate(raw):
        if at == named:
            named_words = len(words)
        expansion: str | None = ABBREVIATIONS.get(token)
        words.append(token)
        # "it" is also an Italian/English word; only a lone "IT" is the sector.
        # Nor is "VD" in "VD-assistent" the CEO's whole title: it says whose
        # assistant, which is what the executive modifier below stands for.
        if len(raw) > 1 and (token == "it" or token in _EXECUTIVE_MODIFIERS):  # noqa: S105
            expansion = None
        if expansion:
            expanded.update(range(len(words), len(words) + len(expansion.split())))
            words.extend(expansion.split())
    if named >= len(raw):
        named_words = len(words)
    if not words:
        return TitleTerms(text, (), None, lang or "en")
    # The title's own words say its language, not the expansions of its
    # abbreviations ("Responsabile HR" is Italian, "human resources" is not).
    language = lang or guess_language(raw)
    words, head_span = _executive_tail(words, language)
    head_span = min(head_span, named_words)
    head_at = _head_index([_fold_word(w) for w in words[:head_span]], language)
    terms: list[str] = []
    head: str | None = None
    for i, word in enumerate(words):
        if _fold_word(word) in _STOPWORDS and i != head_at:
            continue
        # An expansion is lemmatised in its own language, whatever the title's.
        base = lemma(word, EXPANSION_LANG.get(word, language) if i in expanded else language)
        # Only the title's own modifiers say whose assistant: in "assistant
        # to the executive chef" the executive is the chef's.
        if i != head_at and i < head_span and base in _EXECUTIVE_MODIFIERS:
            base = EXECUTIVE
        parts: tuple[str, ...] = (base,)
        if language == "sv" or not simplemma.is_known(word, language):
            split = split_compound(word)
            parts = split if len(split) > 1 else parts
        modifiers = [
            EXECUTIVE if p in _EXECUTIVE_MODIFIERS and i < head_span else p for p in parts[:-1]
        ]
        parts = (*modifiers, parts[-1])
        for part in (base, *parts):
            if part not in terms:
                terms.append(part)
        if i == head_at:
            head = parts[-1]
    return TitleTerms(text, tuple(terms), head, language)
