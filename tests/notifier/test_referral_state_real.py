"""The referral page tells the truth about where a referral stands: requested,
then what ingest reported (referral.settled) across the broker."""

from __future__ import annotations

import re

import aiohttp
import pytest

from shared.events import ReferralSettled
from shared.publisher import Publisher
from tests.helpers import eventually, free_port
from tests.notifier.real import (
    Mailbox,
    NotifierProcess,
    base_env,
    domain,
    match_event,
    member_event,
    wrap,
)
from tests.notifier.test_notifier_real import member_known

pytestmark = pytest.mark.real


async def test_a_failed_referral_says_so(service_env, tmp_path, amqp, topology, settings, pool):
    publisher = await Publisher.create(await amqp.channel(), topology)
    process = NotifierProcess(base_env(service_env, free_port()), tmp_path / "notifier.log")
    await process.start()
    try:
        box = Mailbox(domain())
        member = member_event(settings.secret_key, "m-ref", f"ref@{box.domain}", language="en")
        await publisher.publish(member)
        await member_known(pool, "m-ref")
        await publisher.publish(match_event("m-ref", posting_id="p-ref"))
        (mail,) = await box.wait_for(1)
        (link,) = re.findall(rf"{re.escape(process.url)}/i/[A-Za-z0-9_-]+", mail.text("plain"))

        async with aiohttp.ClientSession() as http:
            async with http.get(link) as resp:
                form = re.search(r'name="form" value="([^"]+)"', await resp.text())
                assert form is not None
            async with http.post(link, data={"form": form.group(1), "note": ""}) as resp:
                assert resp.status == 200
                assert "Your referral is on its way" in await resp.text()
            row = await pool.fetchrow(
                "SELECT referral_id, state FROM notifier.referrals WHERE member_id = 'm-ref'"
            )
            assert row["state"] == "requested"

            settled = ReferralSettled(
                referral_id=str(row["referral_id"]),
                member_id="m-ref",
                outcome="failed",
                channel="callback",
            )
            await publisher.publish(wrap(settled))

            async def failed() -> bool:
                state = await pool.fetchval(
                    "SELECT state FROM notifier.referrals WHERE member_id = 'm-ref'"
                )
                return state == "failed"

            await eventually(failed, what="referral.settled at the notifier")
            async with http.get(link) as resp:
                page = await resp.text()
            assert "Your referral could not be delivered" in page
            assert "Ferretti" in page
            # Neither the old promise nor a withdraw button: it is out of the member's hands.
            assert "on its way" not in page
            assert "/withdraw" not in page
    finally:
        process.stop()
