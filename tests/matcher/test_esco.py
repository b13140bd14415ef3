"""Against the operator's ESCO export beside the checkout: missing data fails."""

from pathlib import Path

import pytest

from services.matcher import esco
from services.matcher.evaluation import esco_pairs, evaluate, in_assistant_groups, is_core
from services.matcher.titles import TitleMatcher, default_matcher
from services.matcher.tools import classify, similarity_lines
from tests.matcher.conftest import ESCO_DIR


@pytest.fixture(scope="module")
def concepts() -> dict[str, esco.EscoConcept]:
    assert ESCO_DIR.is_dir(), f"ESCO export not found at {ESCO_DIR}"
    return esco.parse_dir(ESCO_DIR)


@pytest.fixture(scope="module")
def extended(concepts) -> TitleMatcher:
    return TitleMatcher(esco.extend_taxonomy(default_matcher(), concepts))


def by_code(concepts: dict[str, esco.EscoConcept], code: str) -> esco.EscoConcept:
    (found,) = [c for c in concepts.values() if c.code == code]
    return found


def test_the_export_is_where_the_tests_expect_it():
    assert ESCO_DIR.parent.parent.name == "shared"
    for lang in ("en", "it", "sv"):
        assert (ESCO_DIR / f"occupations_{lang}.csv").is_file()


def test_parse_merges_languages_by_concept(concepts):
    assert len(concepts) > 2500
    ea = by_code(concepts, "3343.3")
    assert ea.isco_group == "3343"
    assert ea.preferred["en"] == ("executive assistant",)
    # "masculine/feminine" in one Italian label becomes two labels
    assert ea.preferred["it"] == ("assistente esecutivo", "assistente esecutiva")
    assert ea.preferred["sv"] == ("direktionssekreterare",)
    # alternative labels: one per line inside the cell
    assert "executive secretary" in ea.labels["en"]
    assert "segretario di direzione" in ea.labels["it"]


def test_split_helpers():
    assert esco.split_cell("a\nb\n\n c ") == ["a", "b", "c"]
    assert esco.split_gender("segretario/segretaria") == ["segretario", "segretaria"]
    assert esco.split_gender("operatore data entry/ operatrice data entry") == [
        "operatore data entry",
        "operatrice data entry",
    ]


def test_missing_language_file_is_an_error(tmp_path: Path):
    (tmp_path / "occupations_en.csv").write_text("conceptUri,code\n", encoding="utf-8")
    with pytest.raises(FileNotFoundError):
        esco.parse_dir(tmp_path)


def test_extension_keeps_our_roles_and_false_friends(extended):
    roles = extended.taxonomy.roles
    assert len(roles) > 2500
    assert "esco:2166.4.7" in roles  # technical director, a role of its own now
    assert extended.compare("technical director", "teknisk ledare").match
    # a label ESCO gives to two concepts is dropped, not guessed
    assert not extended.compare("technical director", "direttore tecnico").match
    # the hand-written taxonomy wins over ESCO's broad alternative labels
    assert not extended.compare("Executive Producer", "Executive Assistant").match
    assert not extended.compare("Personlig assistent", "Personal Assistant").match
    assert not extended.compare("assistente di laboratorio", "assistente di direzione").match
    assert extended.resolve("assistant") == ()
    assert extended.compare("Ledningsassistent", "Assistente di direzione").match


def test_core_assistant_occupations_match_across_languages(concepts, extended):
    pairs = esco_pairs(concepts, is_core)
    base = default_matcher()
    ours = evaluate(pairs, lambda a, b: base.compare(a, b).match)
    assert ours.recall >= 0.8, ours
    assert ours.precision >= 0.9, ours
    wider = evaluate(pairs, lambda a, b: extended.compare(a, b).match)
    assert wider.recall >= 0.95, wider
    assert wider.precision >= 0.9, wider


def test_assistant_groups_match_across_languages_with_the_import(concepts, extended):
    pairs = esco_pairs(concepts, in_assistant_groups)
    metrics = evaluate(pairs, lambda a, b: extended.compare(a, b).match)
    assert metrics.recall >= 0.85, metrics
    assert metrics.precision >= 0.95, metrics


def test_ea_labels_match_each_other_in_all_three_languages(concepts):
    ea = by_code(concepts, "3343.3")
    titles = [ea.preferred["en"][0], *ea.preferred["it"], ea.preferred["sv"][0]]
    lines = [f"{a}\t{b}" for a in titles for b in titles if a != b]
    assert all(line["match"] for line in similarity_lines(lines))


def test_tools(extended):
    lines = list(similarity_lines(["Executive Assistant\tLedningsassistent", "", "no tab here"]))
    assert lines[0] == {
        "a": "Executive Assistant",
        "b": "Ledningsassistent",
        "score": 100,
        "match": True,
    }
    assert lines[1] == {"line": 3, "error": "expected: posting title<TAB>member title"}
    (row,) = classify(["VD-assistent"], extended)
    assert row["known"] is True
    assert row["roles"][0]["role"] == "executive-assistant"
    assert row["roles"][0]["family"] == "assistant"
