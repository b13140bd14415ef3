"""SIGKILL the notifier while it sends a batch to the real sink, restart it, and
count what arrived: every email once, except at most the ones in the SMTP window
(accepted by the server, not yet recorded as sent), which come twice with the
same Message-ID. See docs/reliability.md, "Notifier: the SMTP window"."""

from __future__ import annotations

from collections import defaultdict

import pytest

from services.notifier.sender import SENDERS
from shared.publisher import Publisher
from tests.helpers import eventually, free_port
from tests.notifier.real import Mailbox, NotifierProcess, base_env, match_event, member_event

pytestmark = [pytest.mark.real, pytest.mark.slow]

MEMBERS = 200


async def test_sigkill_mid_batch_duplicates_only_inside_the_smtp_window(
    service_env, tmp_path, amqp, topology, settings, pool, capsys
):
    from tests.notifier.real import domain

    publisher = await Publisher.create(await amqp.channel(), topology)
    port = free_port()
    # A short lease: the emails the killed process had claimed are due again soon.
    env = base_env(service_env, port, PASSAPAROLA_DELIVERY_LEASE_S="10")
    process = NotifierProcess(env, tmp_path / "notifier.log")
    await process.start()
    try:
        box = Mailbox(domain())
        ids = [f"k-{i:03d}" for i in range(MEMBERS)]
        for member_id in ids:
            await publisher.publish(
                member_event(settings.secret_key, member_id, f"{member_id}@{box.domain}")
            )

        async def all_known() -> bool:
            return await pool.fetchval("SELECT count(*) FROM notifier.members") == MEMBERS

        await eventually(all_known, timeout=60, what="every member's preferences")
        for member_id in ids:
            await publisher.publish(match_event(member_id, posting_id="p-kill"))

        # Kill once a tenth is recorded as sent: polling the database is cheap,
        # where reading the sink's folder (every mail parsed) let the whole
        # batch through before the kill once the runner got faster.
        async def some_sent() -> bool:
            sent = await pool.fetchval("SELECT count(*) FROM notifier.emails WHERE state = 'sent'")
            return int(sent) >= MEMBERS // 10

        await eventually(some_sent, timeout=60, what="a tenth of the emails sent")
        process.kill()
        at_kill = len(box.mails())
        assert at_kill < MEMBERS, "the batch finished before the kill; make it bigger"
        await process.start()
        await box.wait_for(MEMBERS, timeout=120)
        await eventually(lambda: _all_sent(pool), timeout=60, what="every email recorded as sent")
    finally:
        process.stop()

    by_rcpt: dict[str, list[str]] = defaultdict(list)
    for mail in box.mails():
        (rcpt,) = mail.rcpt_to
        by_rcpt[rcpt].append(str(mail.message["Message-ID"]))
    assert set(by_rcpt) == {f"{m}@{box.domain}" for m in ids}, "an email was lost"
    duplicated = {r: mids for r, mids in by_rcpt.items() if len(mids) > 1}
    for rcpt, message_ids in duplicated.items():
        assert len(set(message_ids)) == 1, f"a second, different email went to {rcpt}"
        assert len(message_ids) == 2
    # Outside the window nothing is sent twice: a duplicate is an email whose
    # attempt had started (recorded before SMTP) when the process died, and a
    # process has at most one attempt in flight per sender.
    resent = {
        f"<{r['id']}@passaparola.local>"
        for r in await pool.fetch("SELECT id FROM notifier.emails WHERE attempts > 1")
    }
    assert {mids[0] for mids in duplicated.values()} <= resent
    assert len(resent) <= SENDERS
    with capsys.disabled():
        print(
            f"\nSMTP window: {at_kill} of {MEMBERS} mails in the sink at the kill; "
            f"{len(resent)} email(s) re-attempted after the restart, "
            f"{len(duplicated)} duplicate(s), all with the same Message-ID"
        )


async def _all_sent(pool) -> bool:
    return (
        await pool.fetchval("SELECT count(*) FROM notifier.emails WHERE state = 'sent'") == MEMBERS
    )
