"""``passaparola members republish``, end to end on the real servers: ingest
tells the matcher and the notifier every member's stored revision again.

The case it exists for: a notifier whose copy of a profile is empty (it was
filled only from the version that keeps profiles on) gets the profile back,
so the preference page can offer its form, while the matcher, which already
has that revision, changes nothing and matches nobody again.
"""

from __future__ import annotations

import asyncio
import copy
import os
import subprocess
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from services.ingest import operators
from tests.helpers import eventually, the_three_services

pytestmark = pytest.mark.real

BIN = str(Path(__file__).resolve().parents[2] / ".venv" / "bin" / "passaparola")

PROFILE: dict[str, Any] = {
    "consent": {"opted_in": True, "at": "2026-01-10T10:00:00+01:00", "text_version": "2026-01"},
    "language": "sv",
    "timezone": "Europe/Stockholm",
    "email": "republish.canary@example.org",
    "name": "Rut Canarsson",
    "desired_roles": ["Executive Assistant"],
    "languages": ["sv", "en"],
    "locations": {"cities": ["Malmö"], "regions": ["Skåne"], "country": "SE"},
    "remote": "hybrid",
    "seniority": "senior",
    "current_employer": "Vinterbolaget AB",
    "notifications": {"frequency": "daily"},
}
MEMBERS = 5


@pytest.fixture
async def services(service_env, tmp_path, amqp):
    async with the_three_services(service_env, tmp_path) as running:
        yield running


async def _put_members(pool, ingest: str) -> None:
    token = (await operators.add_token(pool, "community platform"))["token"]
    async with aiohttp.ClientSession() as http:
        for n in range(MEMBERS):
            profile = copy.deepcopy(PROFILE)
            profile["email"] = f"republish.canary.{n}@example.org"
            async with http.put(
                f"{ingest}/v1/members/r-{n}",
                json=profile,
                headers={"Authorization": f"Bearer {token}"},
            ) as resp:
                assert resp.status == 201, await resp.text()


async def _filled(pool) -> int:
    return int(await pool.fetchval("SELECT count(*) FROM notifier.members WHERE profile <> '{}'"))


async def test_republish_fills_the_notifiers_copies_and_changes_nothing_at_the_matcher(
    services, pool, settings
) -> None:
    await _put_members(pool, services.url["ingest"])

    async def known() -> bool:
        counts = await pool.fetchrow(
            "SELECT (SELECT count(*) FROM matcher.members) AS m,"
            " (SELECT count(*) FROM notifier.members WHERE profile <> '{}') AS n"
        )
        return bool(counts["m"] == MEMBERS and counts["n"] == MEMBERS)

    await eventually(known, what="every member at the matcher and the notifier")
    # The notifier as it was before it kept profiles: copies empty.
    await pool.execute("UPDATE notifier.members SET profile = '{}'")
    matcher_before = await pool.fetch(
        "SELECT member_id, revision, seq FROM matcher.members ORDER BY member_id"
    )
    # Two members a batch: three transactions, the last one short.
    told = await operators.republish_members(pool, settings, batch=2)
    assert told == MEMBERS

    async def refilled() -> bool:
        return await _filled(pool) == MEMBERS

    await eventually(refilled, what="the notifier's copies filled again")
    rows = await pool.fetch("SELECT revision, profile FROM notifier.members")
    assert {r["revision"] for r in rows} == {1}
    assert all(r["profile"]["desired_roles"] == ["Executive Assistant"] for r in rows)

    # The matcher saw the same revision again: nothing rewritten, nobody re-matched.
    async def handled() -> bool:
        return bool(
            await pool.fetchval(
                "SELECT count(*) FROM matcher.inbox WHERE event_type LIKE 'member.changed%'"
            )
            == 2 * MEMBERS
        )

    await eventually(handled, what="the republished events handled by the matcher")
    matcher_after = await pool.fetch(
        "SELECT member_id, revision, seq FROM matcher.members ORDER BY member_id"
    )
    assert matcher_after == matcher_before

    audit = await pool.fetch(
        "SELECT subject, details FROM ingest.audit_log WHERE action = 'members.republish'"
        " ORDER BY id"
    )
    assert [a["details"]["members"] for a in audit] == [2, 2, 1]
    assert all(a["subject"] is None for a in audit)
    # Nothing about the members themselves in the audit log.
    assert "canary" not in str([dict(a) for a in audit])


def _cli(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [BIN, *args], env={**os.environ, **env}, capture_output=True, text=True, timeout=60
    )


async def test_the_command_reports_a_count_and_its_mistakes_by_name(services, pool) -> None:
    await _put_members(pool, services.url["ingest"])
    done = await asyncio.to_thread(_cli, services.env, "members", "republish")
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == f"told every service again about {MEMBERS} member(s)"
    assert "canary" not in done.stdout + done.stderr

    for args, error in (
        (("members", "republish", "members.csv"), "UnexpectedFile"),
        (("members", "import"), "MissingFile"),
    ):
        wrong = await asyncio.to_thread(_cli, services.env, *args)
        assert wrong.returncode == 2, wrong
        assert f"passaparola: {error}:" in wrong.stderr
        assert "Traceback" not in wrong.stderr
