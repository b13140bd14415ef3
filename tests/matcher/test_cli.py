"""The matcher's operator commands that need no server."""

import io
import json

import pytest

from services.cli import main


def run(capsys, monkeypatch, argv, stdin=""):
    monkeypatch.setattr("sys.stdin", io.StringIO(stdin))
    code = main(argv)
    out, err = capsys.readouterr()
    return code, out, err


def test_titles_classify_takes_arguments_or_stdin(capsys, monkeypatch):
    code, out, _ = run(capsys, monkeypatch, ["titles", "classify", "Ledningsassistent", "VD"])
    assert code == 0
    first, second = (json.loads(line) for line in out.splitlines())
    assert [r["role"] for r in first["roles"]] == ["executive-assistant"]
    assert first["known"] is True
    assert second["title"] == "VD"
    code, out, _ = run(
        capsys, monkeypatch, ["titles", "classify"], "Assistente di Direzione (m/f)\n\nChef\n"
    )
    assert code == 0
    lines = [json.loads(line) for line in out.splitlines()]
    assert [line["title"] for line in lines] == ["Assistente di Direzione (m/f)", "Chef"]
    assert lines[0]["roles"][0]["role"] == "executive-assistant"


def test_titles_similarity_is_the_matchers_own_decision(capsys, monkeypatch):
    stdin = (
        "Assistente di Direzione\tExecutive Assistant\n"
        "Executive Producer\tExecutive Assistant\n"
        "Assistente di laboratorio\tAssistente di direzione\n"
    )
    code, out, _ = run(capsys, monkeypatch, ["titles", "similarity"], stdin)
    assert code == 0
    rows = [json.loads(line) for line in out.splitlines()]
    assert [(r["a"], r["b"], r["match"]) for r in rows] == [
        ("Assistente di Direzione", "Executive Assistant", True),
        ("Executive Producer", "Executive Assistant", False),
        ("Assistente di laboratorio", "Assistente di direzione", False),
    ]
    assert all(0 <= r["score"] <= 100 for r in rows)


def test_a_line_without_a_tab_is_reported_and_the_exit_code_says_so(capsys, monkeypatch):
    code, out, _ = run(capsys, monkeypatch, ["titles", "similarity"], "EA\tPA\nonly one\n")
    assert code == 65
    assert json.loads(out.splitlines()[1]) == {
        "line": 2,
        "error": "expected: posting title<TAB>member title",
    }


def test_a_missing_esco_directory_is_a_named_error(capsys, monkeypatch, tmp_path):
    code, _, err = run(capsys, monkeypatch, ["titles", "similarity", "--esco", str(tmp_path)])
    assert code == 66
    assert err.startswith("passaparola: EscoNotFound:")


@pytest.mark.parametrize(
    ("content", "why"),
    [
        ("{not json", "not JSON"),
        ("[" * 100_000 + "]" * 100_000, "not JSON"),  # deeper than the parser goes
        ("[1, 2]", "expected a JSON object"),
        ('{"title": "EA", "salary": 10}', "unknown fields"),
        ('{"city": "Milano"}', "title"),
        ('{"title": "  "}', "no title"),
        (
            '{"specversion": "1.0", "id": "x", "source": "s", "type": "job.closed",'
            ' "data": {"posting_id": "p", "company_id": "c", "revision": 1}}',
            "expected job.created",
        ),
    ],
)
def test_a_malformed_posting_file_is_a_named_error_with_exit_65(
    capsys, monkeypatch, tmp_path, content, why
):
    path = tmp_path / "posting.json"
    path.write_text(content)
    code, out, err = run(capsys, monkeypatch, ["match", "explain", str(path)])
    assert code == 65
    assert out == ""
    assert err.startswith("passaparola: BadPosting:")
    assert why in err


def test_a_missing_posting_file_is_named(capsys, monkeypatch, tmp_path):
    code, _, err = run(capsys, monkeypatch, ["match", "explain", str(tmp_path / "nope.json")])
    assert code == 66
    assert err.startswith("passaparola: NoSuchFile:")
