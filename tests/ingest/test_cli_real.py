"""The operator commands, run as a person runs them."""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import pytest

pytestmark = pytest.mark.real

BIN = str(Path(__file__).resolve().parents[2] / ".venv" / "bin" / "passaparola")


@pytest.fixture
def run(stack_env, settings, namespace):
    env = {
        **os.environ,
        **stack_env,
        "PASSAPAROLA_DATABASE_URL": settings.database_url,
        "PASSAPAROLA_BROKER_NAMESPACE": namespace,
    }

    def run(
        *args: str, stdin: str | None = None, unset: tuple[str, ...] = (), **overrides: str
    ) -> subprocess.CompletedProcess[str]:
        changed = {k: v for k, v in {**env, **overrides}.items() if k not in unset}
        return subprocess.run(
            [BIN, *args], env=changed, capture_output=True, text=True, input=stdin, timeout=60
        )

    return run


def test_onboarding_a_company_prints_its_url_and_secret_once(run, pool):
    made = run(
        "company", "add", "ACME S.p.A.", "--alias", "Acme Italia", "--group", "Acme",
        "--contact-email", "hr@acme.example", "--json",
    )  # fmt: skip
    assert made.returncode == 0, made.stderr
    company = json.loads(made.stdout)
    assert company["secret"].startswith("whsec_")
    assert company["webhook_url"].endswith(f"/v1/hooks/{company['company_id']}")
    listed = run("company", "list")
    assert company["company_id"] in listed.stdout
    assert "whsec_" not in listed.stdout
    rotated = run("company", "rotate-secret", company["company_id"], "--json")
    assert json.loads(rotated.stdout)["secret"] != company["secret"]
    disabled = run("company", "disable", company["company_id"])
    assert disabled.returncode == 0
    assert "disabled" in run("company", "list").stdout


@pytest.mark.parametrize(
    ("args", "code", "error"),
    [
        (("company", "disable", "not-a-uuid"), 2, "BadId"),
        (
            ("company", "rotate-secret", "7d0d8a52-4e0e-4a8f-9a53-6b7c1f0c0000"),
            65,
            "UnknownCompany",
        ),
        (("company", "rotate-secret"), 2, "MissingId"),
        (("company", "add", "No Channel S.p.A."), 2, "NoDeliveryChannel"),
        (("company", "add", "Plain", "--callback", "http://ats.example/hook"), 2, "BadCallback"),
        (("company", "add", "Odd", "--callback", "ftp://ats.example/x"), 2, "BadCallback"),
        (("company", "add", "Bad", "--contact-email", "not an address"), 2, "BadCallback"),
        (("members", "import", "/nonexistent.csv"), 66, "NoSuchFile"),
        (("members", "import", "/"), 66, "BadFile"),
        (("match", "explain", "/nonexistent.json"), 66, "NoSuchFile"),
        (("dlq", "replay", "matcher"), 2, "NothingSelected"),
        (("dlq", "replay", "nowhere", "--all"), 2, "UnknownQueue"),
        (("dlq", "forget", "not-a-member-id"), 2, "BadId"),
        (("quarantine", "retry", "999999999"), 65, "NotHeld"),
        (("deliveries", "retry", "email", "7d0d8a52-4e0e-4a8f-9a53-6b7c1f0c0000"), 65, "NotFailed"),
        (("deliveries", "retry", "email", "x"), 2, "BadId"),
        (("referral", "retry", "7d0d8a52-4e0e-4a8f-9a53-6b7c1f0c0000"), 65, "NotFailed"),
        (("token", "revoke", "7d0d8a52-4e0e-4a8f-9a53-6b7c1f0c0000"), 65, "UnknownToken"),
    ],
)
def test_mistakes_get_a_named_error_and_exit_code(run, args, code, error):
    result = run(*args)
    assert result.returncode == code
    assert result.stderr.startswith(f"passaparola: {error}: ")
    assert "Traceback" not in result.stderr


def _closed_port() -> int:
    from tests.helpers import free_port

    return free_port()  # nothing listens there


def test_an_unreachable_server_is_exit_69_and_named(run, stack_env):
    amqp = urlsplit(stack_env["PASSAPAROLA_AMQP_URL"])
    down = amqp._replace(netloc=f"{amqp.username}:{amqp.password}@127.0.0.1:{_closed_port()}")
    broker = run("dlq", "list", "matcher", PASSAPAROLA_AMQP_URL=urlunsplit(down))
    assert broker.returncode == 69
    assert broker.stderr.startswith("passaparola: BrokerUnavailable: ")
    db = urlsplit(stack_env["PASSAPAROLA_DATABASE_URL"])
    gone = db._replace(netloc=f"{db.username}:{db.password}@127.0.0.1:{_closed_port()}")
    database = run("quarantine", "list", PASSAPAROLA_DATABASE_URL=urlunsplit(gone))
    assert database.returncode == 69
    assert database.stderr.startswith("passaparola: DatabaseUnavailable: ")
    for result in (broker, database):
        assert "Traceback" not in result.stderr
        assert "passaparola-local" not in result.stderr  # the URL's password is not echoed


def test_a_missing_setting_is_exit_78_and_named(run):
    result = run("dlq", "list", "matcher", unset=("PASSAPAROLA_AMQP_URL",))
    assert result.returncode == 78
    assert result.stderr.startswith(
        "passaparola: configuration error: PASSAPAROLA_AMQP_URL is missing"
    )
    assert "Traceback" not in result.stderr


def _readme_exit_table() -> dict[int, str]:
    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text("utf-8")
    rows = re.findall(r"^\| (\d+) \| ([^|]+) \|", readme, flags=re.MULTILINE)
    return {int(code): meaning.strip() for code, meaning in rows}


def test_every_exit_code_in_the_readme_is_in_the_help_and_in_the_code():
    from services.cli import EXIT_CODES
    from shared import commands
    from shared.service import EXIT_CONFIG

    table = _readme_exit_table()
    assert set(table) == {0, 2, 65, 66, 69, 75, 78}
    defined = {
        commands.EXIT_USAGE, commands.EXIT_DATA, commands.EXIT_NOINPUT,
        commands.EXIT_UNAVAILABLE, commands.EXIT_TEMPFAIL, EXIT_CONFIG,
    }  # fmt: skip
    assert set(table) - {0} == defined
    for code, meaning in table.items():
        # The help's line starts with the same words as the README's row.
        first = meaning.split(":")[0].split(",")[0].split(" (")[0]
        assert re.search(rf"^  {code}\s+{re.escape(first)}", EXIT_CODES, re.MULTILINE), code


def test_the_documented_exit_codes_are_the_ones_in_the_help(run):
    """The README's table and ``--help`` name the same codes; help is plain text."""
    from services.cli import build_parser

    shown = run("--help")
    assert shown.returncode == 0
    for code in (
        "2   usage",
        "65  bad data",
        "66  an input file",
        "69  a server",
        "75  try again later",
        "78  configuration",
    ):
        assert code in shown.stdout

    def helps(parser: argparse.ArgumentParser) -> Iterator[str]:
        yield parser.format_help()
        for action in parser._actions:
            if isinstance(action, argparse._SubParsersAction):
                for sub in action.choices.values():
                    yield from helps(sub)

    texts = list(helps(build_parser()))
    assert len(texts) > 20
    for text in texts:
        assert "`" not in text and "**" not in text


def test_the_import_reads_a_semicolon_cp1252_export_from_a_spreadsheet(run, tmp_path):
    from tests.ingest.test_members_real import CSV_HEADER

    path = tmp_path / "soci.csv"
    rows = [
        CSV_HEADER.replace(",", ";"),
        'm-1;ase@example.se;Åsa Öberg;sv;Europe/Stockholm;"Ledningsassistent;VD-assistent";;sv;'
        "Göteborg;;SE;hybrid;;;;;weekly;;ja;2026-10-01T12:00:00+01:00;v1",
        "m-2;nicolò@example.it;Nicolò Rossi;it;Europe/Rome;Segretaria di direzione;;it;Forlì;;IT;"
        "no;;;;;daily;;sì;2026-10-01T12:00:00+01:00;v1",
    ]
    path.write_bytes("\r\n".join(rows).encode("cp1252"))
    result = run("members", "import", str(path))
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "imported 2 member(s); rejected 0 row(s)"


@pytest.mark.parametrize(
    ("content", "error", "says"),
    [
        (b"", "EmptyFile", "the file is empty"),
        (b"\xef\xbb\xbf\r\n", "EmptyFile", "the file is empty"),
        (
            b"id;email;name;language;opted_in;consent_at;consent_text_version\r\n"
            b"m-1;a@example.com;A;en;yes;2026-10-01T12:00:00Z;v1\r\n",
            "BadHeader",
            "column 1: expected external_id, found id",
        ),
        ("external_id;email\r\n".encode("utf-16"), "BadEncoding", "UTF-16"),
    ],
)
def test_a_file_that_cannot_be_imported_fails_by_name_before_anything_is_written(
    run, tmp_path, content, error, says
):
    path = tmp_path / "members.csv"
    path.write_bytes(content)
    result = run("members", "import", str(path))
    assert result.returncode == 65
    assert result.stderr.startswith(f"passaparola: {error}: {path}: ")
    assert says in result.stderr
    assert result.stdout == ""


def test_every_rejected_row_is_reported_with_every_reason(run, tmp_path):
    from tests.ingest.test_members_real import CSV_HEADER

    good = (
        "m-1,a@example.com,Ann,en,,PA,,en,London,,GB,remote,,,,,instant,,yes,"
        "2026-10-01T12:00:00Z,v1"
    )
    path = tmp_path / "members.csv"
    path.write_text(
        "\n".join(
            [
                CSV_HEADER,
                good,
                "m-2,nope,Bo,xx,Mars/Base,PA,,en,London,,GB,remote,,,,,instant,,maybe,soon,v1",
                good,
            ]
        ),
        encoding="utf-8",
    )
    result = run("members", "import", str(path))
    assert result.returncode == 65
    assert result.stdout.strip() == "imported 1 member(s); rejected 2 row(s)"
    lines = [line.strip() for line in result.stderr.splitlines()]
    assert lines[0].startswith("row 3: ")
    for field in ("email:", "language:", "timezone:", "opted_in:", "consent.at:"):
        assert field in lines[0]
    assert lines[1] == "row 4: external_id: the same as on row 2"
    for value in ("nope", "Mars/Base", "maybe", "soon", "Bo"):
        assert value not in result.stderr


async def test_replaying_an_id_that_is_not_there_fails_by_name(run, amqp, topology, stack_env):
    import aio_pika

    from shared.consumer import QUEUE_HEADER, REASON_HEADER
    from shared.topology import MATCHER

    channel = await amqp.channel()
    await topology.declare_queue(channel, MATCHER)
    await channel.default_exchange.publish(
        aio_pika.Message(
            b"{}",
            message_id="there",
            headers={QUEUE_HEADER: topology.queue(MATCHER), REASON_HEADER: "test"},
        ),
        routing_key=topology.dead_letter_queue(MATCHER),
    )
    result = run("dlq", "replay", "matcher", "--id", "there", "--id", "not-there")
    assert result.returncode == 65, result.stderr
    assert (
        result.stdout.strip() == f"replay: 1 message(s) from {topology.dead_letter_queue(MATCHER)}"
    )
    assert result.stderr.startswith("passaparola: NoSuchMessage: ")
    assert result.stderr.strip().endswith(": not-there")
    again = run("dlq", "discard", "matcher", "--id", "there")
    assert again.returncode == 65
    assert "NoSuchMessage" in again.stderr


def test_a_token_is_shown_once_and_works_for_the_member_api(run):
    made = run("token", "add", "platform", "--json")
    token = json.loads(made.stdout)
    assert token["token"].startswith("ppt_")
    assert run("token", "revoke", token["token_id"]).returncode == 0
    assert run("token", "revoke", token["token_id"]).returncode == 65


def test_the_csv_import_reports_rejected_rows_and_exits_65(run, tmp_path, pool):
    from tests.ingest.test_members_real import CSV_HEADER

    path = tmp_path / "members.csv"
    path.write_text(
        "\n".join(
            [
                CSV_HEADER,
                "m-1,anna@example.se,Anna Berg,sv,,Ledningsassistent,,sv,Stockholm,,SE,no,,,,,"
                "weekly,,yes,2026-10-01T12:00:00Z,v1",
                "m-2,broken,Marco Neri,it,,Segretario,,it,Roma,,IT,no,,,,,daily,,yes,"
                "2026-10-01T12:00:00Z,v1",
            ]
        )
    )
    result = run("members", "import", str(path))
    assert result.returncode == 65
    assert result.stdout.strip() == "imported 1 member(s); rejected 1 row(s)"
    assert result.stderr.strip() == "row 3: email: must be a valid email"


def test_onboarding_requires_a_channel_and_a_callback_can_be_cleared(run, pool):
    made = run(
        "company", "add", "Callback S.p.A.", "--callback", "https://ats.example/hook", "--json"
    )
    assert made.returncode == 0, made.stderr
    company = json.loads(made.stdout)
    assert company["delivery_secret"].startswith("whsec_")
    company_id = company["company_id"]
    # Clearing the only channel is refused: the referrals would have nowhere to go.
    refused = run("company", "set-callback", company_id, "--clear")
    assert refused.returncode == 2
    assert refused.stderr.startswith("passaparola: BadCallback: ")
    cleared = run(
        "company", "set-callback", company_id, "--clear", "--contact-email", "hr@cb.example",
        "--json",
    )  # fmt: skip
    assert cleared.returncode == 0, cleared.stderr
    assert json.loads(cleared.stdout)["callback_url"] is None
    assert json.loads(cleared.stdout)["contact_email"] == "hr@cb.example"
    assert run("company", "set-callback", company_id, "http://ats.example/x").returncode == 2


async def test_plain_http_callbacks_only_to_loopback_and_only_in_development(settings, pool):
    from dataclasses import replace

    from services.ingest import operators

    production = replace(settings, loopback_http_callbacks=False)
    development = replace(settings, loopback_http_callbacks=True)
    with pytest.raises(operators.BadCallback):
        operators.check_channel(production, "http://127.0.0.1:9/hook", None)
    with pytest.raises(operators.BadCallback):
        operators.check_channel(development, "http://ats.example/hook", None)
    operators.check_channel(development, "http://127.0.0.1:9/hook", None)
    operators.check_channel(production, "https://ats.example/hook", None)
