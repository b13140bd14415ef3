import string

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from services.matcher.companies import decide_company, normalize_company, same_company
from services.matcher.scoring import Exclusion, score_member
from tests.matcher.factories import member, posting

SETTINGS = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@pytest.mark.parametrize(
    ("name", "key"),
    [
        ("ACME S.p.A.", "acme"),
        ("Acme SpA", "acme"),
        ("acme s. p. a.", "acme"),
        ("ACME, S.P.A", "acme"),
        ("Ericsson AB (publ)", "ericsson"),
        ("AB Volvo", "volvo"),
        ("Fondazione Città di Milano", "fondazione citta milano"),
        ("H&M Hennes & Mauritz AB", "hm hennes mauritz"),
        ("Globex Group Ltd.", "globex"),
        ("L'Oréal Italia S.r.l.", "loreal italia"),
        ("AB", "ab"),
    ],
)
def test_normalize_company(name, key):
    assert normalize_company(name) == key


@pytest.mark.parametrize(
    ("mine", "theirs", "verdict"),
    [
        ("ACME S.p.A.", "Acme SpA", "same"),
        ("Initech", "Inittech S.r.l.", "same"),
        ("Acme", "Acmee S.r.l.", "ambiguous"),
        ("Ericsson", "Telefonaktiebolaget LM Ericsson", "ambiguous"),
        ("Enel", "Enel Green Power S.p.A.", "ambiguous"),
        ("Intesa Sanpaolo", "Banca Sella", "different"),
        ("ABB", "AbbVie", "different"),
        ("Globex", "Initech", "different"),
    ],
)
def test_same_company(mine, theirs, verdict):
    assert same_company([mine], [], [theirs]) == verdict


@pytest.mark.parametrize(
    ("name", "key"),
    [
        ("\u0410CME S.p.A.", "acme"),  # a Cyrillic A
        ("\u0391\u0392\u0392", "abb"),  # the whole name in Greek capitals
        ("\uff21\uff23\uff2d\uff25 S.p.A.", "acme"),  # fullwidth
        ("AC\u200bM\u00adE\u202c S.p.A.", "acme"),  # zero-width, soft hyphen, bidi
        ("\u0413\u0430\u0437\u043f\u0440\u043e\u043c", "gazprom"),  # a real Russian name
        ("Lindstr\u00f6m AB", "lindstrom"),
        ("Stra\u00dfe GmbH", "strasse"),
        ("\u00d8rsted A/S", "orsted"),
    ],
)
def test_normalize_company_undoes_spelling_tricks(name, key):
    assert normalize_company(name) == key


@pytest.mark.parametrize(
    ("a", "b", "verdict", "rule"),
    [
        ("ACME S.p.A.", "ACME SpA", "same", "equal"),
        ("H&M", "H M", "same", "equal"),
        ("Ac Me Italia", "ACME Italia", "same", "equal_without_spaces"),
        ("AcmeSpA", "ACME", "same", "equal_look_alike_or_glued_form"),
        ("V0lv0", "Volvo", "same", "equal_look_alike_or_glued_form"),
        ("Initech", "Inittech", "same", "near_equal"),
        ("Acme", "Acmee", "ambiguous", "similar"),
        ("ACME Italia S.r.l.", "ACME Sverige AB", "ambiguous", "shared_distinctive_word"),
        ("Globex Consulting", "Globexcorp Services", "ambiguous", "name_inside_name"),
        # Generic words alone make no sister companies, and weigh nothing in similarity.
        ("Lube Industries", "NIBE Industrier", "different", "different"),
        ("Ericsson Italia", "Luxottica Italia", "different", "different"),
        # Only legal forms that rarely end a word are cut when glued: not "co".
        ("Tesco PLC", "Tes S.r.l.", "different", "different"),
        # Skeletons spell "m" as "rn"; one name inside another is judged on plain letters.
        ("Terna S.p.A.", "Systemair AB", "different", "different"),
    ],
)
def test_each_rule_of_the_company_decision(a, b, verdict, rule):
    ka, kb = normalize_company(a), normalize_company(b)
    assert decide_company(ka, kb) == (verdict, rule)
    assert decide_company(kb, ka) == (verdict, rule)


def test_posting_without_company_names_fails_closed():
    assert same_company(["Acme"], [], []) == "ambiguous"
    assert same_company([], [], []) == "different"


# --- spelling variants of one company ----------------------------------------------------

LEGAL_FORMS = {
    "spa": ["S.p.A.", "SpA", "S.P.A", "spa", "S.p.A", "S. p. A.", "s.p.a."],
    "srl": ["S.r.l.", "Srl", "SRL", "s.r.l", "S. r. l."],
    "sas": ["S.a.s.", "Sas", "S.A.S."],
    "ab": ["AB", "Ab", "AB (publ)", "Aktiebolag"],
    "ltd": ["Ltd", "Ltd.", "Limited", "LTD"],
    "gmbh": ["GmbH", "Gmbh", "GMBH"],
    "inc": ["Inc.", "Inc", "Incorporated"],
    "llc": ["LLC", "L.L.C."],
    "plc": ["plc", "PLC", "Plc"],
    "oy": ["Oy", "OY"],
    "as": ["AS", "A/S"],
    "none": [""],
}
ACCENTED = str.maketrans("aeiou", "àéìòù")
_IGNORED = {w for forms in LEGAL_FORMS.values() for f in forms for w in f.lower().split()} | {
    "group",
    "gruppo",
    "holding",
    "the",
    "and",
    "och",
    "e",
    "di",
    "del",
    "della",
    "ab",
    "as",
    "co",
    "se",
    "sa",
    "ag",
    "bv",
    "nv",
    "oy",
    "kb",
    "hb",
    "ek",
    "lp",
    "sl",
    "kg",
    "ug",
}

words = st.text(alphabet=string.ascii_lowercase, min_size=2, max_size=9).filter(
    lambda w: w not in _IGNORED and w.strip(".") not in _IGNORED
)
base_names = st.lists(words, min_size=1, max_size=3)


@st.composite
def spelling(draw, name_words):
    """One way of writing the company called ``name_words``."""
    out = []
    for word in name_words:
        style = draw(st.sampled_from(["lower", "upper", "title", "accents", "random"]))
        if style == "upper":
            word = word.upper()
        elif style == "title":
            word = word.title()
        elif style == "accents":
            word = word.translate(ACCENTED)
        elif style == "random":
            flips = draw(st.lists(st.booleans(), min_size=len(word), max_size=len(word)))
            word = "".join(c.upper() if f else c for c, f in zip(word, flips, strict=True))
        out.append(word)
    form = draw(st.sampled_from(sorted(LEGAL_FORMS)))
    legal = draw(st.sampled_from(LEGAL_FORMS[form]))
    separator = draw(st.sampled_from([" ", ", ", "  ", " - "]))
    group = draw(st.sampled_from(["", " Group", " Gruppo", " Holding"]))
    return " ".join(out) + group + (separator + legal if legal else "")


@SETTINGS
@given(st.data(), base_names)
def test_spelling_variants_are_the_same_company(data, name_words):
    a = data.draw(spelling(name_words))
    b = data.draw(spelling(name_words))
    assert same_company([a], [], [b]) == "same", (a, b)


@SETTINGS
@given(st.data(), base_names, base_names, st.sampled_from(["employer", "alias", "blocked"]))
def test_never_matched_with_own_employer_group_alias_or_blocked(data, name_words, other, where):
    """Whatever the spelling, a posting by the member's employer (under any of
    its names) or by a company they blocked yields no match."""
    variant = data.draw(spelling(name_words))
    ad_name = data.draw(spelling(name_words))
    unrelated = data.draw(spelling(other))
    employers: list[str] = []
    blocked: list[str] = []
    if where == "employer":
        employers = [variant]
    elif where == "alias":
        employers = ["Zzyzx Holding"]  # the posting lists the group under an alias
    else:
        blocked = [variant]
    posting_names = [ad_name] if where != "alias" else [unrelated, "ZZYZX S.p.A.", ad_name]
    result = score_member(
        posting(company_names=tuple(posting_names)),
        member(employer_names=tuple(employers), blocked_companies=tuple(blocked)),
    )
    assert isinstance(result, Exclusion)
    assert result.rule in {"own_employer", "blocked_company", "ambiguous_company"}


def test_unrelated_company_still_matches():
    result = score_member(
        posting(company_names=("Initech S.r.l.",)),
        member(employer_names=("Globex SpA",), blocked_companies=("Umbrella AB",)),
    )
    assert not isinstance(result, Exclusion)


# --- hostile names: any text at all, never an exception ------------------------------------

any_name = st.text(max_size=60)


# Names built from the pieces the normaliser treats specially (initials, legal
# forms, group words, joining punctuation), which plain random text rarely hits.
name_pieces = st.sampled_from(
    [
        "a",
        "B",
        "c",
        "H",
        "M",
        "AB",
        "Oy",
        "S.p.A.",
        "s",
        "p",
        "srl",
        "Group",
        "Holding",
        "Gruppo",
        "the",
        "ACME",
        "Ikea",
        "&",
        "-",
        ".",
        "'",
        ":",
        "Italia",
        "Sverige",
    ]
)
built_name = st.lists(name_pieces, max_size=8).map(" ".join) | st.lists(
    name_pieces, max_size=8
).map("".join)


@settings(max_examples=500, deadline=None)
@given(any_name | built_name)
@example("A:OY:A")  # legal form between initials: once 'a a', then 'aa'
@example("A Oy B")
@example("a'\U0002a700")  # transliteration spaces a Han character off "a", not across "'"
def test_normalising_any_text_gives_a_stable_key(name):
    key = normalize_company(name)
    assert isinstance(key, str)
    assert normalize_company(key) == key


@settings(max_examples=300, deadline=None)
@given(
    st.lists(any_name, max_size=3), st.lists(any_name, max_size=3), st.lists(any_name, max_size=3)
)
def test_comparing_any_names_gives_a_verdict(employers, blocked, posting_names):
    verdict = same_company(employers, blocked, posting_names)
    assert verdict in {"same", "different", "ambiguous"}
    # Fail-closed: the member's own employer named verbatim is never "different".
    if [e for e in employers if normalize_company(e)]:
        assert same_company(employers, [], employers) != "different"


def test_every_generic_and_glued_word_is_spelled_as_a_key():
    """A word listed in a spelling that normalising never produces ("f.lli"
    for "flli") would silently never apply."""
    from services.matcher import companies

    for word in companies._GENERIC_WORDS | set(companies._GLUED_FORMS):
        assert normalize_company(word) == word, word
