"""The matcher's operator commands against the real database."""

import asyncio
import json

import pytest

from services.cli import main
from services.matcher import queries
from services.matcher.live import load_matcher
from shared.events import MemberChanged
from tests.matcher.conftest import ESCO_DIR
from tests.matcher.factories import member

pytestmark = pytest.mark.real


@pytest.fixture
def cli_env(monkeypatch, stack_env, settings):
    for key, value in stack_env.items():
        monkeypatch.setenv(key, value)
    monkeypatch.setenv("PASSAPAROLA_DATABASE_URL", settings.database_url)


async def store(pool, *members: MemberChanged) -> None:
    async with pool.acquire() as conn:
        for m in members:
            await queries.upsert_member(conn, m)


def run(capsys, argv):
    code = main(argv)
    out, err = capsys.readouterr()
    return code, out, err


async def test_match_explain_names_who_would_match_and_the_rule_that_excluded_the_others(
    pool, cli_env, capsys, tmp_path
):
    await store(
        pool,
        member(member_id="m-ea", desired_roles=("Executive Assistant",)),
        member(member_id="m-sv", desired_roles=("Ledningsassistent",)),
        member(member_id="m-own", employer_names=("INITECH srl",)),
        member(member_id="m-lab", desired_roles=("Assistente di laboratorio",)),
        member(member_id="m-away", cities=("Roma",), regions=("Lazio",)),
        member(member_id="m-out", opted_in=False),
    )
    path = tmp_path / "posting.json"
    path.write_text(
        json.dumps(
            {
                "title": "Assistente di Direzione bilingue",
                "city": "Milano",
                "region": "Lombardia",
                "country": "IT",
                "languages_required": ["it"],
                "company_names": ["Initech S.r.l."],
            }
        )
    )
    code, out, _ = await _in_thread(run, capsys, ["match", "explain", str(path)])
    assert code == 0
    report = json.loads(out)
    assert report["posting"]["roles"] == ["executive-assistant"]
    assert [m["member_id"] for m in report["matches"]] == ["m-ea", "m-sv"]
    assert report["matches"][0]["explanation"]["title"]["member_role"] == "executive-assistant"
    assert {e["member_id"]: e["rule"] for e in report["excluded"]} == {
        "m-own": "own_employer",
        "m-lab": "title",
        "m-away": "location",
        "m-out": "not_opted_in",
    }
    assert report["members"] == 6


async def test_import_esco_stores_titles_the_matcher_loads_at_start(pool, cli_env, capsys):
    assert ESCO_DIR.is_dir(), f"ESCO export not found at {ESCO_DIR}"
    code, out, _ = await _in_thread(run, capsys, ["taxonomy", "import-esco", str(ESCO_DIR)])
    assert code == 0, out
    assert out.startswith("imported ")
    stored = await pool.fetchval("SELECT count(*) FROM matcher.taxonomy_titles")
    assert stored > 1000
    async with pool.acquire() as conn:
        matcher = await load_matcher(conn)
    assert len(matcher.taxonomy) > 2500
    # An ESCO-only occupation now matches across languages; our roles are unchanged.
    assert matcher.compare("typist", "dattilografa").match
    assert matcher.compare("Assistente di Direzione", "Ledningsassistent").match
    assert not matcher.compare("Executive Producer", "Executive Assistant").match


async def test_import_esco_of_a_directory_without_the_export_is_a_named_error(
    cli_env, capsys, tmp_path
):
    code, _, err = run(capsys, ["taxonomy", "import-esco", str(tmp_path)])
    assert code == 66
    assert "EscoNotFound" in err


async def _in_thread(fn, *args):
    # The command runs its own event loop (asyncio.run), as it does from a shell.
    return await asyncio.to_thread(fn, *args)


async def test_taxonomy_suggestions_count_declines_and_name_titles_several_members_reject(
    pool, cli_env, capsys
):
    from services.matcher.declines import Decline

    def declined(posting_id: str, reason: str, title_key: str, roles: tuple[str, ...]):
        return Decline(posting_id, reason, "c-1", title_key, roles, "milano", None)

    async with pool.acquire() as conn:
        for member_id in ("m-1", "m-2", "m-3"):
            await queries.upsert_decline(
                conn,
                member_id,
                declined("p-chef", "role", "assistant executive chef", ("executive-assistant",)),
            )
        await queries.upsert_decline(
            conn, "m-1", declined("p-cho", "role", "chief happiness officer", ())
        )
        await queries.upsert_decline(
            conn, "m-2", declined("p-cho", "role", "chief happiness officer", ())
        )
        await queries.upsert_decline(
            conn, "m-1", declined("p-seg", "role", "segretaria", ("secretary",))
        )
        await queries.upsert_decline(conn, "m-3", declined("p-x", "place", "receptionist", ()))
    code, out, _ = await _in_thread(run, capsys, ["taxonomy", "suggestions"])
    assert code == 0
    report = json.loads(out)
    assert report["declines"] == {"place": 1, "role": 6}
    assert [(s["change"], s["title"], s["members"]) for s in report["suggestions"]] == [
        ("review_title", "assistant executive chef", 3),
        ("add_title", "chief happiness officer", 2),
    ]
    assert "m-1" not in out  # counts, never members

    code, _, err = await _in_thread(run, capsys, ["taxonomy", "suggestions", "--min-members", "0"])
    assert code == 2
    assert "BadArgument" in err


async def test_a_members_declines_are_in_their_data_export(pool):
    from services.matcher import privacy
    from services.matcher.declines import Decline

    decline = Decline("p-1", "place", "c-1", "receptionist", ("receptionist",), "milano", 2)
    async with pool.acquire() as conn:
        await queries.upsert_decline(conn, "m-1", decline)
        await queries.upsert_decline(conn, "m-2", decline)
        part = await privacy.export_part(conn, "m-1")
    (row,) = part["not_for_me"]
    assert {k: row[k] for k in ("posting_id", "reason", "place", "level")} == {
        "posting_id": "p-1",
        "reason": "place",
        "place": "milano",
        "level": 2,
    }
