"""Matches found and withdrawn in batches through the notifier
(``handlers.make_batch_handlers``) on the real PostgreSQL and RabbitMQ: the same
notifications as one by one, and a batch with a duplicate and a poison event
settled as one by one would settle it."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

import pytest
from hypothesis import HealthCheck, given
from hypothesis import settings as examples
from hypothesis import strategies as st

from services.notifier.handlers import make_batch_handlers, make_handlers
from shared import consumer as consumer_module
from shared import dlq
from shared.consumer import Consumer, dispatch
from shared.db import Connection, Pool
from shared.events import (
    Envelope,
    JobClosed,
    MatchFound,
    MatchWithdrawn,
    MemberChanged,
    MemberErased,
    Payload,
)
from shared.publisher import Publisher
from shared.topology import NOTIFIER
from tests.helpers import eventually

pytestmark = pytest.mark.real

NOW = datetime(2026, 11, 30, 22, 30, tzinfo=UTC)  # inside quiet hours in Rome


def clock() -> datetime:
    return NOW


def wrap(payload: Payload) -> Envelope:
    return Envelope.wrap(payload, source="/tests")


def member(member_id: str, **fields: Any) -> MemberChanged:
    base: dict[str, Any] = {
        "member_id": member_id,
        "revision": 1,
        "opted_in": True,
        "language": "it",
        "timezone": "Europe/Rome",
        "frequency": "instant",
    }
    base.update(fields)
    return MemberChanged(**base)


def match(k: int, member_id: str, posting_id: str, **fields: Any) -> MatchFound:
    base: dict[str, Any] = {
        "match_id": str(uuid.UUID(int=k)),
        "posting_id": posting_id,
        "member_id": member_id,
        "score": 0.5 + k / 1000,
        "explanation": {"roles": [f"r-{k}"], "place": "city"},
        "posting_revision": 2,
        "title": f"Executive Assistant {k}",
        "company_name": "Acme S.p.A.",
        "city": "Milano",
        "country": "IT",
        "remote": "hybrid",
        "apply_url": "https://jobs.example/apply",
        "valid_through": "2026-12-31",
    }
    base.update(fields)
    return MatchFound(**base)


# Members of every kind the schedule knows, one erased and one opted out.
MEMBERS = [
    wrap(member("m-instant")),
    wrap(member("m-quiet", quiet_hours=("22:00", "07:30"))),
    wrap(member("m-daily", frequency="daily")),
    wrap(member("m-weekly", frequency="weekly", timezone="Europe/Stockholm")),
    wrap(member("m-paused", paused_until="2026-12-24")),
    wrap(member("m-out", opted_in=False)),
    wrap(member("m-erased")),
    wrap(MemberErased(member_id="m-erased")),
]
MEMBER_IDS = ["m-instant", "m-quiet", "m-daily", "m-weekly", "m-paused", "m-out", "m-erased"]
# An unknown member and an unknown posting are scheduled as one by one does.
UNKNOWN_MEMBER = "m-unknown"
POSTINGS = ["p-open", "p-closed", "p-unknown"]
BEFORE = [
    *MEMBERS,
    wrap(JobClosed(posting_id="p-closed", company_id="c-1", revision=3)),
    wrap(
        MatchWithdrawn(
            match_id=str(uuid.UUID(int=7)), posting_id="p-open", member_id="m-daily", reason="r"
        )
    ),
]

MATCHES = [
    wrap(match(1, "m-instant", "p-open")),
    wrap(match(2, "m-quiet", "p-open")),
    wrap(match(3, "m-daily", "p-closed")),
    wrap(match(4, "m-weekly", "p-unknown")),
    wrap(match(5, "m-paused", "p-open")),
    wrap(match(6, "m-out", "p-open")),
    wrap(match(7, "m-daily", "p-open")),  # withdrawn before it was found
    wrap(match(8, "m-erased", "p-open")),
    wrap(match(9, UNKNOWN_MEMBER, "p-open")),
    wrap(match(10, "m-instant", "p-open", title="Nul\x00title")),
    # The same match id again under a new event id: the first one stays.
    wrap(match(1, "m-instant", "p-open", title="a later copy")),
]

WITHDRAWALS = [
    wrap(MatchWithdrawn(match_id=str(uuid.UUID(int=k)), posting_id="p", member_id="m", reason=r))
    for k, r in [(1, "first"), (2, "second"), (1, "again"), (99, "before it is found")]
]

COLUMNS = (
    "match_id, member_id, posting_id, posting_revision, score, explanation, title,"
    " company_name, city, region, country, remote, apply_url, valid_through, state, due_at,"
    " reason"
)


async def snapshot(pool: Pool) -> tuple[list[tuple[Any, ...]], list[tuple[Any, ...]]]:
    notifications = await pool.fetch(
        f"SELECT {COLUMNS} FROM notifier.notifications ORDER BY match_id"  # noqa: S608 - ours
    )
    withdrawn = await pool.fetch(
        "SELECT match_id, reason FROM notifier.withdrawn_matches ORDER BY match_id"
    )
    return [tuple(r) for r in notifications], [tuple(r) for r in withdrawn]


async def apply(
    pool: Pool, before: list[Envelope], runs: list[list[Envelope]], *, batched: bool
) -> tuple[list[tuple[Any, ...]], ...]:
    """``before`` one by one, then each run in one batch or one by one; what is
    left in the tables, which are emptied for the next call."""
    single = make_handlers(clock)
    batch = make_batch_handlers(clock)
    async with pool.acquire() as conn:
        for event in before:
            async with conn.transaction():
                await single[event.type](event, conn)
        for run in runs:
            if batched:
                async with conn.transaction():
                    await batch[run[0].type](run, conn)
            else:
                for event in run:
                    async with conn.transaction():
                        await single[event.type](event, conn)
    found = await snapshot(pool)
    await pool.execute(
        "TRUNCATE notifier.members, notifier.notifications, notifier.erased_members,"
        " notifier.withdrawn_matches, notifier.postings CASCADE"
    )
    return found


async def test_a_batch_of_matches_leaves_the_notifications_of_one_by_one(pool: Pool):
    runs = [MATCHES, WITHDRAWALS]
    one_by_one = await apply(pool, BEFORE, runs, batched=False)
    in_a_batch = await apply(pool, BEFORE, runs, batched=True)
    assert in_a_batch == one_by_one
    notifications, withdrawn = in_a_batch
    by_match = {n[0]: n for n in notifications}
    assert len(by_match) == 10  # the copy of match 1 added nothing

    def of(k: int) -> tuple[Any, ...]:
        return by_match[str(uuid.UUID(int=k))]

    assert of(1)[6] == "Executive Assistant 1"  # the first copy's title
    assert (of(1)[14], of(1)[16]) == ("cancelled", "match withdrawn")  # withdrawn after
    assert (of(3)[14], of(3)[16]) == ("cancelled", "posting closed")
    assert (of(7)[14], of(7)[16]) == ("cancelled", "match withdrawn")
    assert of(5)[14] == "pending" and of(5)[15] > of(6)[15]  # after the pause
    assert of(2)[15] > of(6)[15]  # at the end of the quiet hours
    assert of(10)[6] == "Nul title"
    assert of(9)[14] == "pending"  # an unknown member waits for its profile
    reasons = [(1, "first"), (2, "second"), (7, "r"), (99, "before it is found")]
    assert withdrawn == [(str(uuid.UUID(int=k)), r) for k, r in reasons]


def generated_runs() -> list[list[tuple[int, str, str]]]:
    """Generated batches of (match number, member, posting): repeated match
    ids, every member and posting kind, any order."""
    collected: list[list[tuple[int, str, str]]] = []

    @examples(
        max_examples=25, deadline=None, derandomize=True, suppress_health_check=list(HealthCheck)
    )
    @given(
        st.lists(
            st.tuples(
                st.integers(1, 12),
                st.sampled_from([*MEMBER_IDS, UNKNOWN_MEMBER]),
                st.sampled_from(POSTINGS),
            ),
            min_size=1,
            max_size=30,
        )
    )
    def collect(run: list[tuple[int, str, str]]) -> None:
        collected.append(run)

    collect()
    return collected


async def test_generated_batches_of_matches_end_as_one_by_one(pool: Pool):
    for spec in generated_runs():
        run = [wrap(match(k, m, p)) for k, m, p in spec]
        one_by_one = await apply(pool, BEFORE, [run], batched=False)
        in_a_batch = await apply(pool, BEFORE, [run], batched=True)
        assert in_a_batch == one_by_one, spec
        assert len(in_a_batch[0]) == len({k for k, _m, _p in spec})


BATCH = 20


@pytest.fixture
def slow_batches(monkeypatch) -> None:
    # A generous wait for the broker's messages to arrive, so that batches
    # form however loaded the machine is.
    monkeypatch.setattr(consumer_module, "BATCH_WAIT_S", 0.5)


async def test_a_batch_with_a_duplicate_and_a_poison_match_settles_as_one_by_one(
    amqp, pool, topology, slow_batches
):
    publisher = await Publisher.create(await amqp.channel(), topology)
    await topology.declare_queue(await amqp.channel(), NOTIFIER)
    async with pool.acquire() as conn:
        single = make_handlers(clock)
        for event in MEMBERS:
            async with conn.transaction():
                await single[event.type](event, conn)
    good = [wrap(match(k, "m-instant", "p-open")) for k in range(1, 7)]
    # A revision past PostgreSQL's integer: the database refuses the match,
    # whatever the attempt (retried, then dead-lettered, as alone).
    poison = wrap(match(50, "m-instant", "p-open", posting_revision=2**40))
    for envelope in [*good[:3], poison, *good[3:], good[0]]:
        await publisher.publish(envelope)

    batch = make_batch_handlers(clock)
    sizes: list[int] = []  # of each batch of matches the batch handler was given

    async def recorded(events: list[Envelope], conn: Connection) -> None:
        sizes.append(len(events))
        await batch[MatchFound.TYPE](events, conn)

    consumer = Consumer(
        spec=NOTIFIER,
        topology=topology,
        handler=dispatch(dict(make_handlers(clock))),
        pool=pool,
        inbox_table="notifier.inbox",
        prefetch=4,
        batch_handlers={**batch, MatchFound.TYPE: recorded},
        batch_size=BATCH,
    )
    await consumer.start(amqp)
    try:

        async def settled() -> bool:
            return consumer.outcomes["dead_lettered"] == 1 and consumer.outcomes["ok"] == 6

        await eventually(settled, what="the good matches applied, the poison dead-lettered")
    finally:
        await consumer.stop(5)
    assert consumer.outcomes["duplicate"] == 1
    assert sizes[0] > 1  # the batch with the poison failed whole and went one by one
    rows = await pool.fetch("SELECT match_id, state FROM notifier.notifications")
    assert sorted(r["match_id"] for r in rows) == sorted(str(uuid.UUID(int=k)) for k in range(1, 7))
    assert {r["state"] for r in rows} == {"pending"}
    dead = await dlq.peek(amqp, topology.dead_letter_queue(NOTIFIER))
    assert [m.message_id for m in dead] == [poison.id]
    assert dead[0].reason == "failed 3 times, last: DataError"  # the class only, never a value
