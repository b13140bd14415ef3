"""A member the planner cannot plan is set aside; everyone else gets mail.

Two poisoned member rows, of kinds seen in real databases: a pause until
'infinity' (PostgreSQL's, which the driver returns as a naive datetime) and
one past the year 9999 (the driver cannot decode it at all). Before the
quarantine, the first one stopped the planner for everybody. Now each is
held with its error's class, shown by `passaparola quarantine list` and
/metrics, and an operator's retry hands it back once the row is fixed.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from pathlib import Path

import aiohttp
import pytest
from prometheus_client.parser import text_string_to_metric_families

from shared.publisher import Publisher
from tests.helpers import eventually, free_port
from tests.notifier.real import (
    Mailbox,
    NotifierProcess,
    base_env,
    domain,
    match_event,
    member_event,
)

pytestmark = pytest.mark.real

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
async def publisher(amqp, topology):
    return await Publisher.create(await amqp.channel(), topology)


def cli(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "services.cli", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )


async def quarantined_gauge(url: str) -> float:
    async with aiohttp.ClientSession() as http, http.get(f"{url}/metrics") as resp:
        text = await resp.text()
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            if s.name == "passaparola_quarantined" and s.labels.get("task") == "planner":
                return float(s.value)
    return -1.0


async def test_a_member_the_planner_cannot_plan_is_held_and_the_others_get_mail(
    service_env, settings, tmp_path, publisher, pool
):
    env = base_env(service_env, free_port())
    notifier = NotifierProcess(env, tmp_path / "notifier.log")
    where = domain()
    mailbox = Mailbox(where)
    good = [f"m-good-{i}" for i in range(4)]
    poisoned = {"m-infinite": "infinity", "m-beyond": "12000-01-01 00:00:00+00"}
    everyone = [*good, *poisoned]
    try:
        await notifier.start()
        for member_id in everyone:
            await publisher.publish(
                member_event(
                    settings.secret_key, member_id, f"{member_id}@{where}", frequency="daily"
                )
            )
        for member_id in everyone:
            await publisher.publish(match_event(member_id))

        async def pending() -> bool:
            n = await pool.fetchval(
                "SELECT count(*) FROM notifier.notifications"
                " WHERE member_id = ANY($1) AND state = 'pending'",
                everyone,
            )
            return int(n) == len(everyone)

        await eventually(pending, what="a digest notification for every member")
        async with pool.acquire() as conn, conn.transaction():
            for member_id, until in poisoned.items():
                await conn.execute(
                    "UPDATE notifier.members SET paused_until = $2::text::timestamptz"
                    " WHERE member_id = $1",
                    member_id,
                    until,
                )
            # The digest slot comes (tests cannot wait until 08:00).
            await conn.execute(
                "UPDATE notifier.notifications SET due_at = now() WHERE member_id = ANY($1)",
                everyone,
            )
        mails = await mailbox.wait_for(len(good), timeout=60)
        assert sorted(r for m in mails for r in m.rcpt_to) == sorted(f"{m}@{where}" for m in good)

        cli_env = {**os.environ, **env}
        cli_env.pop("PYTHONPATH", None)

        async def held() -> list[dict[str, object]]:
            done = await asyncio.to_thread(cli, cli_env, "quarantine", "list")
            assert done.returncode == 0, done.stderr
            return [json.loads(line) for line in done.stdout.splitlines()]

        async def both_held() -> bool:
            return {h["record_id"] for h in await held()} == set(poisoned)

        await eventually(both_held, what="both poisoned members held")
        reasons = {h["record_id"]: h["reason"] for h in await held()}
        assert reasons == {"m-infinite": "TypeError", "m-beyond": "OverflowError"}
        assert {h["task"] for h in await held()} == {"planner"}

        async def gauge() -> bool:
            return await quarantined_gauge(notifier.operator_url) == 2

        await eventually(gauge, timeout=60, what="/metrics to count the held members")

        # The operator fixes one row and retries it: it is planned and mailed.
        await pool.execute(
            "UPDATE notifier.members SET paused_until = NULL WHERE member_id = 'm-beyond'"
        )
        (beyond,) = [h for h in await held() if h["record_id"] == "m-beyond"]
        done = await asyncio.to_thread(cli, cli_env, "quarantine", "retry", str(beyond["id"]))
        assert done.returncode == 0, done.stderr
        mails = await mailbox.wait_for(len(good) + 1, timeout=60)
        assert f"m-beyond@{where}" in {r for m in mails for r in m.rcpt_to}
        assert [h["record_id"] for h in await held()] == ["m-infinite"]
        again = await asyncio.to_thread(cli, cli_env, "quarantine", "retry", str(beyond["id"]))
        assert again.returncode == 65
        assert "NotHeld" in again.stderr and "Traceback" not in again.stderr
    finally:
        notifier.stop()
    log = notifier.log.read_text()
    assert "record quarantined" in log
    assert where not in log, "no address in the log"


async def test_an_opening_closing_on_9999_12_31_is_mailed_and_so_are_the_others(
    service_env, settings, tmp_path, publisher, pool
):
    """Issue 12 as filed: one such opening stopped every member email until
    the notifier was restarted, while /readyz said ready."""
    env = base_env(service_env, free_port())
    notifier = NotifierProcess(env, tmp_path / "notifier.log")
    where = domain()
    mailbox = Mailbox(where)
    members = ["m-edge", "m-after-1", "m-after-2"]
    try:
        await notifier.start()
        for member_id in members:
            await publisher.publish(
                member_event(settings.secret_key, member_id, f"{member_id}@{where}")
            )

        # A match that overtakes its member waits minutes for the profile.
        async def known() -> bool:
            n = await pool.fetchval(
                "SELECT count(*) FROM notifier.members WHERE member_id = ANY($1)", members
            )
            return int(n) == len(members)

        await eventually(known, what="the members' profiles")
        await publisher.publish(match_event("m-edge", valid_through="9999-12-31"))
        for member_id in members[1:]:
            await publisher.publish(match_event(member_id, valid_through="2099-12-31"))
        mails = await mailbox.wait_for(len(members), timeout=60)
    finally:
        notifier.stop()
    assert sorted(r for m in mails for r in m.rcpt_to) == sorted(f"{m}@{where}" for m in members)
    assert "task crashed" not in notifier.log.read_text()
