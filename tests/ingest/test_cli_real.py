"""The operator commands, run as a person runs them."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

pytestmark = pytest.mark.real

BIN = str(Path(__file__).resolve().parents[2] / ".venv" / "bin" / "passaparola")


@pytest.fixture
def run(stack_env, settings):
    env = {**os.environ, **stack_env, "PASSAPAROLA_DATABASE_URL": settings.database_url}

    def run(*args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [BIN, *args], env=env, capture_output=True, text=True, input=stdin, timeout=60
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
        (("members", "import", "/nonexistent.csv"), 2, "NoSuchFile"),
    ],
)
def test_mistakes_get_a_named_error_and_exit_code(run, args, code, error):
    result = run(*args)
    assert result.returncode == code
    assert result.stderr.startswith(f"passaparola: {error}: ")
    assert "Traceback" not in result.stderr


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
