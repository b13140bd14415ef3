"""A key rotation while mail is flowing: every email is sent.

A rotation is deployed as a rolling restart: the new key becomes
``PASSAPAROLA_SECRET_KEY``, the old one moves to
``PASSAPAROLA_PREVIOUS_SECRET_KEYS``, and for a while processes of both
configurations run side by side while contacts sealed under either key are
in the database. The sender reads its keys where every other key user does
(``sealer_for(settings.secret_keys)``); before, it opened contacts with the
current key only, and every email to a member sealed under the old key was
cancelled as "member erased".
"""

from __future__ import annotations

import uuid

import pytest

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

OLD, NEW = "o" * 40, "n" * 40


@pytest.fixture
async def publisher(amqp, topology):
    return await Publisher.create(await amqp.channel(), topology)


async def test_every_email_is_sent_across_a_key_rotation(service_env, tmp_path, publisher, pool):
    def process(name: str, **keys: str) -> NotifierProcess:
        port = free_port()
        return NotifierProcess(base_env(service_env, port, **keys), tmp_path / f"{name}.log")

    before = process("before", PASSAPAROLA_SECRET_KEY=OLD, PASSAPAROLA_PREVIOUS_SECRET_KEYS="")
    after = process("after", PASSAPAROLA_SECRET_KEY=NEW, PASSAPAROLA_PREVIOUS_SECRET_KEYS=OLD)
    where = domain()
    mailbox = Mailbox(where)

    async def members(secret: str, count: int) -> list[str]:
        ids = [f"m-{uuid.uuid4().hex[:10]}" for _ in range(count)]
        for member_id in ids:
            await publisher.publish(member_event(secret, member_id, f"{member_id}@{where}"))
        return ids

    async def known(ids: list[str]) -> bool:
        found = await pool.fetchval(
            "SELECT count(*) FROM notifier.members WHERE member_id = ANY($1)", ids
        )
        return int(found) == len(ids)

    async def matches(ids: list[str]) -> None:
        for member_id in ids:
            await publisher.publish(match_event(member_id))

    try:
        await before.start()
        sealed_old = await members(OLD, 12)
        await eventually(lambda: known(sealed_old), what="the members sealed under the old key")
        await matches(sealed_old[:6])
        # The rolling restart, with mail flowing: both configurations at once.
        await after.start()
        await matches(sealed_old[6:9])
        before.stop()
        await matches(sealed_old[9:])
        sealed_new = await members(NEW, 4)
        await eventually(lambda: known(sealed_new), what="the members sealed under the new key")
        await matches(sealed_new)
        everyone = sealed_old + sealed_new
        mails = await mailbox.wait_for(len(everyone), timeout=60)
    finally:
        before.stop()
        after.stop()
    assert sorted(r for m in mails for r in m.rcpt_to) == sorted(f"{m}@{where}" for m in everyone)

    async def all_recorded_sent() -> bool:
        # The sink has the last mail a moment before the sender records the 250.
        unsent = await pool.fetch(
            "SELECT state, reason FROM notifier.notifications"
            " WHERE member_id = ANY($1) AND state <> 'sent'",
            everyone,
        )
        return [dict(r) for r in unsent] == []

    await eventually(all_recorded_sent, what="every email recorded as sent, none cancelled")
