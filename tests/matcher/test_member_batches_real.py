"""Member changes in batches through the matcher (``handlers.on_members_changed``),
on the real runner, RabbitMQ and PostgreSQL: the same rules as one by one."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest

from services.matcher import handlers
from services.matcher.handlers import make_batch_handlers, make_handler
from services.matcher.live import LiveIndex
from services.matcher.scoring import place_key
from shared import consumer as consumer_module
from shared import dlq, member_companies
from shared.consumer import Consumer
from shared.db import Pool
from shared.events import Envelope, MemberChanged, MemberErased, Payload
from shared.outbox import OutboxRelay
from shared.publisher import Publisher
from shared.sealing import Sealer, sealer_for
from shared.settings import Settings
from shared.topology import MATCHER, Topology, matcher_shard, shard_of
from tests.helpers import eventually
from tests.matcher.test_service_real import job, member

pytestmark = pytest.mark.real


def wrap(payload: Payload) -> Envelope:
    return Envelope.wrap(payload, source="/tests")


def sealed(payload: Payload, sealer: Sealer) -> Envelope:
    """``payload`` as ingest publishes it: a member's companies sealed."""
    if isinstance(payload, MemberChanged):
        payload = member_companies.sealed(payload, sealer)
    return wrap(payload)


async def settle(consumer: Consumer, count: int) -> None:
    async def done() -> bool:
        final = ("ok", "duplicate", "dead_lettered")  # not "retried": it comes back
        return sum(consumer.outcomes[k] for k in final) >= count

    await eventually(done, timeout=60, what=f"{count} messages settled")


async def test_a_mixed_batch_keeps_revisions_erasure_idempotency_and_isolates_the_poison(
    amqp, pool: Pool, topology: Topology, monkeypatch, settings: Settings
):
    # A generous wait, so that what waits in the queue forms one batch.
    monkeypatch.setattr(consumer_module, "BATCH_WAIT_S", 0.5)
    channel = await amqp.channel()
    publisher = await Publisher.create(channel, topology)
    await topology.declare_queue(channel, MATCHER)
    live = LiveIndex()
    sealer = sealer_for(settings.secret_keys)
    relay_stop = asyncio.Event()
    relay = asyncio.create_task(
        OutboxRelay(pool=pool, schema="matcher", publisher=publisher).run(relay_stop)
    )

    def consumer(batch_size: int) -> Consumer:
        return Consumer(
            spec=MATCHER,
            topology=topology,
            # Wired as services/matcher/service.py wires it: companies opened first.
            handler=member_companies.opening(make_handler(live), sealer),
            pool=pool,
            inbox_table="matcher.inbox",
            batch_handlers=member_companies.opening_batches(make_batch_handlers(live), sealer),
            batch_size=batch_size,
        )

    # Before: an open posting, a member at revision 5, an erased member.
    before = [
        wrap(job("p-1")),
        sealed(member("m-old", 5), sealer),
        sealed(member("m-gone"), sealer),
    ]
    before.append(wrap(MemberErased(member_id="m-gone")))
    one_by_one = consumer(1)
    for envelope in before:
        await publisher.publish(envelope)
    await one_by_one.start(amqp)
    await settle(one_by_one, len(before))
    await one_by_one.stop(5)

    m2 = sealed(member("m-2"), sealer)
    batch = [
        sealed(member("m-1"), sealer),
        sealed(member("m-1", 2, opted_in=False), sealer),  # the latest: m-1 ends with no match
        m2,
        sealed(member("m-old", 3, cities=("Torino",)), sealer),  # older than the stored 5
        sealed(member("m-gone", 9), sealer),  # erased: a late change cannot bring them back
        m2,  # the same event again
        sealed(member("m-\x00", 1), sealer),  # no database takes this id: fails every time
    ]
    for envelope in batch:
        await publisher.publish(envelope)
    batched = consumer(50)
    await batched.start(amqp)
    try:
        await settle(batched, len(batch))
    finally:
        await batched.stop(5)
        relay_stop.set()
        await relay

    assert batched.outcomes["ok"] == 5
    assert batched.outcomes["duplicate"] == 1
    assert batched.outcomes["dead_lettered"] == 1
    rows = await pool.fetch("SELECT member_id, revision, opted_in, profile FROM matcher.members")
    stored = {r["member_id"]: (r["revision"], r["opted_in"]) for r in rows}
    assert stored == {"m-1": (2, False), "m-2": (1, True), "m-old": (5, True)}
    old = next(r for r in rows if r["member_id"] == "m-old")
    assert old["profile"]["cities"] == ["Milano"]
    matches = await pool.fetch(
        "SELECT posting_id, member_id FROM matcher.matches WHERE state = 'active'"
    )
    # (The poison sent this batch one by one: m-1's first revision was told,
    # then withdrawn by its second; test_a_batch_applies_what_one_by_one_applies
    # has a batch that goes through whole.)
    assert sorted(tuple(r) for r in matches) == [("p-1", "m-2"), ("p-1", "m-old")]
    async with pool.acquire() as conn, conn.transaction():
        await live.lock_and_sync(conn)
    assert "m-2" in live.index
    assert "m-1" not in live.index
    assert "m-gone" not in live.index

    dead = await dlq.peek(amqp, topology.dead_letter_queue(MATCHER))
    assert [d.message_id for d in dead] == [batch[-1].id]
    assert dead[0].reason.startswith("failed 3 times, last: ")
    assert "m-" not in dead[0].reason


async def test_a_batch_applies_what_one_by_one_applies(pool: Pool):
    """The same changes, one by one and in one batch, on two fresh sets of
    tables: the same members, revisions and matches."""

    async def run(batched: bool) -> tuple[list[tuple[Any, ...]], list[tuple[Any, ...]]]:
        live = LiveIndex()
        handle = make_handler(live)
        changes = [
            wrap(member("m-1", desired_roles=("Receptionist",))),
            wrap(member("m-2")),
            wrap(member("m-1", 2)),
            wrap(member("m-3", languages=("sv",))),  # not the posting's language
            wrap(member("m-4", employer_names=("Acme Group",))),  # the posting's own company
            wrap(member("m-2", 2, cities=("Torino",), regions=("Piemonte",))),
            wrap(member("m-5", remote="remote")),
        ]
        async with pool.acquire() as conn:
            async with conn.transaction():
                await handle(wrap(job("p-1")), conn)
            if batched:
                async with conn.transaction():
                    await handlers.on_members_changed(live, changes, conn)
            else:
                for change in changes:
                    async with conn.transaction():
                        await handle(change, conn)
            members = await conn.fetch(
                "SELECT member_id, revision, opted_in FROM matcher.members ORDER BY member_id"
            )
            matches = await conn.fetch(
                "SELECT posting_id, member_id, state, score FROM matcher.matches"
                " WHERE state = 'active' ORDER BY member_id"
            )
            await conn.execute(
                "TRUNCATE matcher.members, matcher.matches, matcher.postings, matcher.outbox"
            )
        return [tuple(r) for r in members], [tuple(r) for r in matches]

    one_by_one = await run(batched=False)
    in_a_batch = await run(batched=True)
    assert in_a_batch == one_by_one
    assert {m for _p, m, _s, _score in one_by_one[1]} == {"m-1", "m-5"}


async def test_a_shard_writes_a_batch_under_each_owner_lock_and_indexes_its_own(pool: Pool):
    """A batch with members of both shards (only while the shard count
    changes): each row written, the shard's own index holding its own only,
    and the other shard finding its members at its next sync."""
    shards = 2
    mine, theirs = LiveIndex(shard=0, shards=shards), LiveIndex(shard=1, shards=shards)
    ids = [f"m-{i}" for i in range(12)]
    assert {shard_of(m, shards) for m in ids} == {0, 1}
    changes = [wrap(member(m)) for m in ids]
    async with pool.acquire() as conn:
        async with conn.transaction():
            await handlers.on_members_changed(mine, changes, conn)
        async with conn.transaction():
            await mine.lock_and_sync(conn)
            await theirs.lock_and_sync(conn)
        stored = await conn.fetchval("SELECT count(*) FROM matcher.members")
    assert stored == len(ids)
    assert {m for m in ids if m in mine.index} == {m for m in ids if shard_of(m, shards) == 0}
    assert {m for m in ids if m in theirs.index} == {m for m in ids if shard_of(m, shards) == 1}
    assert matcher_shard(0, shards).inbox_scope is not None  # shards keep separate inbox keys


async def test_a_resolved_profile_is_reused_only_for_the_very_row_it_was_resolved_from(pool: Pool):
    """A batch that rolled back leaves nothing behind: the row another writer
    stored for the same member is what the index takes."""
    live = LiveIndex()
    async with pool.acquire() as conn:
        async with conn.transaction():
            await live.lock_and_sync(conn)
        transaction = conn.transaction()
        await transaction.start()
        await handlers.on_members_changed(live, [wrap(member("m-1", cities=("Roma",)))], conn)
        await transaction.rollback()
        async with conn.transaction():
            # Another writer, the same revision, another profile.
            await handlers.on_members_changed(
                LiveIndex(), [wrap(member("m-1", cities=("Torino",)))], conn
            )
        async with conn.transaction():
            await live.lock_and_sync(conn)
        profile = await conn.fetchval("SELECT profile FROM matcher.members")
    indexed = live.index.get("m-1")
    assert indexed is not None
    assert json.loads(json.dumps(profile))["cities"] == ["Torino"]
    assert indexed.cities == frozenset({place_key("Torino")})


async def test_a_row_rewritten_after_the_batch_is_read_back_not_taken_from_the_batch(pool: Pool):
    """The batch's rows are indexed from the members it holds only while
    they are the very rows it wrote (their seq): a later write of the same
    member by another writer, committed before the next sync, is what the
    index takes; the batch's other members are indexed as written."""
    live = LiveIndex()
    async with pool.acquire() as conn:
        async with conn.transaction():
            await live.lock_and_sync(conn)
        async with conn.transaction():
            await handlers.on_members_changed(
                live,
                [
                    wrap(member("m-1", cities=("Roma",))),
                    wrap(member("m-2", cities=("Bari",))),
                    wrap(member("m-3", cities=("Pisa",))),
                ],
                conn,
            )
        seqs = [
            r["seq"] for r in await conn.fetch("SELECT seq FROM matcher.members ORDER BY member_id")
        ]
        assert seqs == sorted(seqs)  # each row its seq, in the order of the batch
        async with conn.transaction():
            # Another writer, a newer revision, another profile.
            await handlers.on_members_changed(
                LiveIndex(), [wrap(member("m-1", revision=2, cities=("Torino",)))], conn
            )
        async with conn.transaction():
            await live.lock_and_sync(conn)
    first = live.index.get("m-1")
    assert first is not None
    assert first.cities == frozenset({place_key("Torino")})
    for member_id, city in (("m-2", "Bari"), ("m-3", "Pisa")):
        indexed = live.index.get(member_id)
        assert indexed is not None
        assert indexed.cities == frozenset({place_key(city)})
