"""Matcher shards on the real runner, RabbitMQ and PostgreSQL (docs/scaling.md).

One stream of events is published once; a one-shard matcher (today's single
queue, its own database) and a sharded matcher (one queue per shard, another
database) both consume it side by side, so their results must be identical:
the same matches, in the same states, with the same scores, and the same
match events in their outboxes.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import re
import uuid
from collections import Counter
from collections.abc import AsyncIterator, Sequence
from pathlib import Path
from typing import Any

import asyncpg
import pytest
from aio_pika.abc import AbstractRobustConnection

from services.cli import _queue_name, main
from services.matcher import privacy
from services.matcher.handlers import make_handler
from services.matcher.index import MemberIndex
from services.matcher.live import LiveIndex
from services.matcher.weights import DEFAULT_WEIGHTS, Weights
from shared import member_companies
from shared.commands import CliError
from shared.consumer import Consumer
from shared.db import Pool, create_pool
from shared.events import Envelope, JobClosed, JobUpdated, MemberChanged, MemberErased, Payload
from shared.publisher import Publisher
from shared.sealing import Sealer, sealer_for
from shared.settings import Settings
from shared.topology import (
    BUCKETS,
    ReshardRefused,
    Topology,
    bucket,
    matcher_shard,
    reshard,
    shard_of,
)
from tests.conftest import _with_db
from tests.helpers import ServiceProcess, eventually, free_port
from tests.matcher.test_service_real import job, member

pytestmark = pytest.mark.real

# A small cap, so that it binds: more members fit each opening than it lets through.
WEIGHTS: Weights = dataclasses.replace(DEFAULT_WEIGHTS, posting_cap=3)

ROLES = ("Executive Assistant", "Assistente di Direzione", "Personal Assistant", "Office Manager")
CITIES = (("Milano", "Lombardia"), ("Roma", "Lazio"), ("Torino", "Piemonte"))


def members(count: int, prefix: str = "m") -> list[Payload]:
    """Members of varied roles, places and work modes (so scores differ).

    Many still score the same. Among equal scores at the cap's edge, one
    process prefers the member it indexed first and the shards the lowest
    member id (docs/scaling.md); members are published here in id order, so
    the two agree, and the comparison is exact."""
    out: list[Payload] = []
    for i in range(count):
        city, region = CITIES[i % len(CITIES)]
        out.append(
            member(
                f"{prefix}-{i:03d}",
                desired_roles=(ROLES[i % len(ROLES)],),
                cities=(city,),
                regions=(region,),
                remote=("hybrid", "no", "remote")[(i // 3) % 3],
                languages=("it", "en") if i % 2 else ("it",),
            )
        )
    return out


def openings(prefix: str = "p") -> list[Payload]:
    return [
        job(f"{prefix}-1"),
        job(f"{prefix}-2", title="Executive Assistant", remote="hybrid", city="Roma"),
        job(f"{prefix}-3", title="Office Manager", city="Torino", region="Piemonte"),
        job(f"{prefix}-4", title="Personal Assistant", languages_required=("en",)),
    ]


class Run:
    """One matcher (its shards, each with its own index and consumer) on one database."""

    def __init__(
        self,
        amqp: AbstractRobustConnection,
        pool: Pool,
        topology: Topology,
        sealer: Sealer,
        weights: Weights = WEIGHTS,
    ) -> None:
        self.amqp = amqp
        self.sealer = sealer
        self.pool = pool
        self.topology = topology
        self.weights = weights
        self.consumers: dict[int, Consumer] = {}
        self.done: Counter[int] = Counter()  # messages handled by stopped consumers

    @property
    def shards(self) -> int:
        return self.topology.matcher_shards

    async def start(self, shard: int) -> None:
        """A shard starts as a restarted process does: an empty index, rebuilt
        from the read model by its first message, then its queue's backlog."""
        live = LiveIndex(self.weights, shard=shard, shards=self.shards)
        consumer = Consumer(
            spec=matcher_shard(shard, self.shards),
            topology=self.topology,
            handler=member_companies.opening(make_handler(live), self.sealer),
            pool=self.pool,
            inbox_table="matcher.inbox",
            prefetch=4,
        )
        await consumer.start(self.amqp)
        self.consumers[shard] = consumer

    async def start_all(self) -> None:
        for shard in range(self.shards):
            await self.start(shard)

    async def stop(self, shard: int) -> None:
        consumer = self.consumers.pop(shard)
        await consumer.stop(5)
        self.done[shard] += _handled(consumer)

    async def stop_all(self) -> None:
        for shard in list(self.consumers):
            await self.stop(shard)

    def handled(self, shard: int | None = None) -> int:
        shards = range(self.shards) if shard is None else (shard,)
        return sum(
            self.done[k] + (_handled(self.consumers[k]) if k in self.consumers else 0)
            for k in shards
        )

    def expected(self, events: Sequence[Envelope], shard: int | None = None) -> int:
        """How many deliveries the events make: a job event reaches every
        shard, a member event its owner only."""
        count = 0
        for event in events:
            member_id = getattr(event.data, "member_id", None)
            if isinstance(member_id, str):
                count += shard is None or shard_of(member_id, self.shards) == shard
            else:
                count += self.shards if shard is None else 1
        return count

    async def caught_up(self, events: Sequence[Envelope], shard: int) -> None:
        want = self.expected(events, shard)

        async def done() -> bool:
            return self.handled(shard) >= want

        await eventually(done, what=f"shard {shard} caught up")

    async def settled(self, events: Sequence[Envelope]) -> None:
        want = self.expected(events)
        await eventually(
            lambda: _true(self.handled() >= want), what=f"{want} deliveries on {self.shards}"
        )
        assert self.handled() == want
        assert all(
            c.outcomes["ok"] + c.outcomes["duplicate"] == _all(c) for c in self.consumers.values()
        )

    async def matches(self) -> set[tuple[Any, ...]]:
        rows = await self.pool.fetch(
            "SELECT posting_id, member_id, state, reason, round(score::numeric, 9) AS score"
            " FROM matcher.matches"
        )
        return {tuple(r.values()) for r in rows}

    async def told(self) -> Counter[tuple[Any, ...]]:
        """The match events written, without their random ids."""
        out: Counter[tuple[Any, ...]] = Counter()
        for row in await self.pool.fetch("SELECT body FROM matcher.outbox"):
            event = Envelope.decode(bytes(row["body"])).to_json()
            data = event["data"]
            data.pop("match_id")
            out[(event["type"], json.dumps(data, sort_keys=True))] += 1
        return out


def _handled(consumer: Consumer) -> int:
    return consumer.outcomes["ok"] + consumer.outcomes["duplicate"]


def _all(consumer: Consumer) -> int:
    return sum(consumer.outcomes.values())


async def _true(value: bool) -> bool:
    return value


@pytest.fixture
async def other_pool(settings: Settings, template_db: str) -> AsyncIterator[Pool]:
    """A second database with every migration: the sharded matcher's."""
    name = f"t_{uuid.uuid4().hex[:12]}"
    admin_url = settings.database_url.rsplit("/", 1)[0] + "/passaparola"
    admin = await asyncpg.connect(admin_url)
    try:
        await admin.execute(f'CREATE DATABASE "{name}" TEMPLATE "{template_db}"')
    finally:
        await admin.close()
    pool = await create_pool(
        dataclasses.replace(settings, database_url=_with_db(admin_url, name)), name="test-shards"
    )
    yield pool
    await pool.close()
    admin = await asyncpg.connect(admin_url)
    try:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await admin.close()


@pytest.fixture
async def publisher(amqp: AbstractRobustConnection, topology: Topology) -> Publisher:
    return await Publisher.create(await amqp.channel(), topology)


@pytest.fixture
def sealer(settings: Settings) -> Sealer:
    """The key list the services' processes read from the same environment."""
    return sealer_for(settings.secret_keys)


def as_published(payload: Payload, sealer: Sealer) -> Payload:
    """As ingest publishes it: a member's companies sealed (member.changed v2)."""
    return (
        member_companies.sealed(payload, sealer) if isinstance(payload, MemberChanged) else payload
    )


async def publish(
    publisher: Publisher, payloads: Sequence[Payload], sealer: Sealer
) -> list[Envelope]:
    events = [Envelope.wrap(as_published(p, sealer), source="/tests") for p in payloads]
    for event in events:
        await publisher.publish(event)
    return events


async def both_settled(one: Run, sharded: Run, events: Sequence[Envelope]) -> None:
    await one.settled(events)
    await sharded.settled(events)


async def assert_identical(one: Run, sharded: Run) -> None:
    matches = await one.matches()
    assert await sharded.matches() == matches
    told = await one.told()
    assert await sharded.told() == told
    # The scenario means something: the cap bound (see ``more_fit_than_the_cap``),
    # and matches were withdrawn.
    first = [
        data
        for kind, body in told
        if kind == "match.found"
        and (data := json.loads(body))["posting_id"] == "p-1"
        and data["posting_revision"] == 1
    ]
    assert len(first) == WEIGHTS.posting_cap
    assert max(Counter(m[0] for m in matches if m[2] == "active").values()) <= WEIGHTS.posting_cap
    assert any(m[2] == "withdrawn" for m in matches)
    left = await sharded.pool.fetchval("SELECT count(*) FROM matcher.shard_candidates")
    assert left == 0  # every posting revision was merged


def later_openings() -> list[Payload]:
    """Updates and a close on top of the first openings."""
    return [
        job("p-1", revision=2, kind=JobUpdated, city="Roma", region="Lazio"),
        job("p-2", revision=2, kind=JobUpdated, title="Office Manager"),
        JobClosed(posting_id="p-3", company_id="c-acme", revision=2),
    ]


# An erasure and an opt-out, after ``later_openings`` has settled: events from
# the company and from the members' platform have no order between them, and
# on shards they take different queues, so a run that mixes them may see them
# in either order (each correct, the withdrawal reason differing).
LATER_MEMBERS: list[Payload] = [
    MemberErased(member_id="m-001"),
    member("m-000", revision=2, opted_in=False),
]


def more_fit_than_the_cap(people: Sequence[Payload]) -> bool:
    """More members fit opening p-1 than its cap lets through."""
    index = MemberIndex(weights=WEIGHTS)
    for person in people:
        assert isinstance(person, MemberChanged)
        index.upsert(person)
    return len(index.match(openings()[0]).matches) > WEIGHTS.posting_cap  # type: ignore[arg-type]


async def resharded(amqp: AbstractRobustConnection, old: Topology, shards: int) -> Topology:
    """``reshard`` once the broker has seen the stopped consumers go (a
    queue's consumer count follows a cancel a moment later)."""
    done: list[Topology] = []

    async def attempt() -> bool:
        try:
            done.append(await reshard(amqp, old, shards))
        except ReshardRefused as exc:
            if exc.reason != "matchers still consuming":
                raise
            return False
        return True

    await eventually(attempt, what=f"resharded to {shards}")
    return done[0]


# --- the tests ---------------------------------------------------------------------------------


def test_a_bucket_is_the_same_in_python_and_in_postgres_and_covers_every_shard() -> None:
    ids = [str(uuid.UUID(int=i * 7919)) for i in range(2000)]
    seen = {bucket(i) for i in ids}
    assert seen == set(range(BUCKETS))
    for shards in (1, 2, 3, 4):
        assert {shard_of(i, shards) for i in ids} == set(range(shards))
        # Each bucket, and so each member, in exactly one shard queue's bindings.
        owners = Counter(
            key
            for k in range(shards)
            for key in matcher_shard(k, shards).bindings
            if key.startswith("member.")
        )
        assert set(owners.values()) == {1}
        assert len(owners) in (1, BUCKETS)


async def test_python_and_postgres_agree_on_every_members_bucket(pool: Pool) -> None:
    ids = [f"m-{i}" for i in range(300)] + [str(uuid.uuid4()) for _ in range(300)] + ["è-ü-ø"]
    async with pool.acquire() as conn, conn.transaction():
        for i, member_id in enumerate(ids):
            await conn.execute(
                "INSERT INTO matcher.members (member_id, revision, opted_in, profile, seq)"
                " VALUES ($1, 1, true, '{}'::jsonb, $2)",
                member_id,
                i,
            )
        rows = await conn.fetch("SELECT member_id, bucket FROM matcher.members")
        await conn.execute("DELETE FROM matcher.members")
    assert {r["member_id"]: r["bucket"] for r in rows} == {m: bucket(m) for m in ids}


async def test_one_shard_and_three_shards_match_identically_and_a_stopped_shard_loses_nothing(
    amqp: AbstractRobustConnection,
    pool: Pool,
    other_pool: Pool,
    topology: Topology,
    publisher: Publisher,
    sealer: Sealer,
) -> None:
    one = Run(amqp, pool, topology, sealer=sealer)
    sharded = Run(amqp, other_pool, dataclasses.replace(topology, matcher_shards=3), sealer=sealer)
    await one.start_all()
    await sharded.start_all()
    people = members(24)
    assert more_fit_than_the_cap(people)
    events = await publish(publisher, people, sealer)
    await both_settled(one, sharded, events)

    # Shard 1 goes away; openings keep coming.
    await sharded.stop(1)
    events += await publish(publisher, openings(), sealer)
    await one.settled(events)
    for shard in (0, 2):
        await sharded.caught_up(events, shard)
    # Without shard 1's members the best overall is unknown: nothing is told yet.
    assert await sharded.matches() == set()
    assert await sharded.pool.fetchval("SELECT count(*) FROM matcher.shard_reports") == 8

    # Back, with an empty index: it rebuilds from the read model, then its backlog.
    await sharded.start(1)
    await both_settled(one, sharded, events)
    for batch in (later_openings(), LATER_MEMBERS):
        events += await publish(publisher, batch, sealer)
        await both_settled(one, sharded, events)

    await assert_identical(one, sharded)


async def test_changing_the_shard_count_is_refused_while_running_and_then_matches_the_same(
    amqp: AbstractRobustConnection,
    pool: Pool,
    other_pool: Pool,
    topology: Topology,
    publisher: Publisher,
    sealer: Sealer,
) -> None:
    one = Run(amqp, pool, topology, sealer=sealer)
    two = Run(amqp, other_pool, dataclasses.replace(topology, matcher_shards=2), sealer=sealer)
    await one.start_all()
    await two.start_all()
    people = members(24)
    events: list[Envelope] = []
    for batch in (people, openings()[:2]):
        events += await publish(publisher, batch, sealer)
        await both_settled(one, two, events)

    with pytest.raises(ReshardRefused) as refused:
        await reshard(amqp, two.topology, 3)
    assert refused.value.reason == "matchers still consuming"

    # The procedure: stop every matcher shard (their queues are drained), re-split, start.
    await two.stop_all()
    three = Run(amqp, other_pool, await resharded(amqp, two.topology, 3), sealer=sealer)
    assert three.topology.matcher_shards == 3
    await three.start_all()
    newcomers = members(9, prefix="n")
    more: list[Envelope] = []
    for batch in (newcomers, openings()[2:], later_openings(), LATER_MEMBERS):
        more += await publish(publisher, batch, sealer)
        await one.settled([*events, *more])
        await three.settled(more)
    await assert_identical(one, three)

    # And back to one queue: the shard queues are gone, today's queue is bound again.
    await three.stop_all()
    back = await resharded(amqp, three.topology, 1)
    assert back.service_queues()[0].name == "matcher"
    missing = await amqp.channel()
    with pytest.raises(Exception, match="NOT_FOUND"):
        await missing.declare_queue(three.topology.queue(matcher_shard(2, 3)), passive=True)


async def test_the_reshard_command_refuses_a_queue_with_work_then_re_splits(
    amqp: AbstractRobustConnection,
    topology: Topology,
    stack_env: dict[str, str],
    namespace: str,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    sealer: Sealer,
) -> None:
    for key, value in stack_env.items():
        monkeypatch.setenv(key, value)
    monkeypatch.setenv("PASSAPAROLA_BROKER_NAMESPACE", namespace)
    monkeypatch.setenv("PASSAPAROLA_MATCHER_SHARDS", "2")
    monkeypatch.setenv("PASSAPAROLA_RETRY_DELAYS_MS", ",".join(map(str, topology.retry_delays_ms)))
    monkeypatch.setenv("PASSAPAROLA_DELIVERY_LIMIT", str(topology.delivery_limit))
    two = dataclasses.replace(topology, matcher_shards=2)
    channel = await amqp.channel()
    await two.declare_all(channel)
    publisher = await Publisher.create(channel, two)
    waiting = member("m-waiting")
    await publisher.publish(Envelope.wrap(as_published(waiting, sealer), source="/tests"))
    owner = two.queue(matcher_shard(shard_of("m-waiting", 2), 2))

    code = await asyncio.to_thread(main, ["shards", "reshard", "--to", "3"])
    out, err = capsys.readouterr()
    assert code == 75
    assert "ReshardRefused" in err and owner in err and "m-waiting" not in err

    queue = await channel.declare_queue(owner, passive=True)
    await queue.purge()
    code = await asyncio.to_thread(main, ["shards", "reshard", "--to", "3"])
    out, err = capsys.readouterr()
    assert code == 0, err
    assert json.loads(out) == {
        "from": 2,
        "to": 3,
        "queues": [f"{namespace}.matcher.shard-{k}" for k in range(3)],
    }
    # A member event now reaches its owner among three.
    await publisher.publish(Envelope.wrap(as_published(waiting, sealer), source="/tests"))
    owner = two.queue(matcher_shard(shard_of("m-waiting", 3), 3))
    fresh = await amqp.channel()

    async def arrived() -> bool:
        found = await fresh.declare_queue(owner, passive=True)
        return found.declaration_result.message_count == 1

    await eventually(arrived, what="the member event in its new owner's queue")


async def test_retention_removes_the_shards_bookkeeping_of_postings_that_are_gone(
    pool: Pool, settings: Settings
) -> None:
    async with pool.acquire() as conn:
        await conn.execute(
            "INSERT INTO matcher.postings (posting_id, company_id, revision, state, closed_at)"
            " VALUES ('p-old', 'c', 1, 'closed', now() - interval '400 days'),"
            " ('p-open', 'c', 1, 'open', NULL)"
        )
        for posting in ("p-old", "p-open"):
            await conn.execute(
                "INSERT INTO matcher.shard_reports"
                " (posting_id, revision, shards, shard, candidates) VALUES ($1, 1, 2, 0, 0)",
                posting,
            )
            await conn.execute(
                "INSERT INTO matcher.shard_merges (posting_id, revision) VALUES ($1, 1)", posting
            )
            await conn.execute(
                "INSERT INTO matcher.shard_candidates"
                " (posting_id, revision, shard, member_id, kind, score, explanation)"
                " VALUES ($1, 1, 0, 'm-1', 'top', 1.0, '{}'::jsonb)",
                posting,
            )
        counts = await privacy.purge(conn, settings)
        assert counts["postings"] == 1
        for table in ("shard_reports", "shard_merges", "shard_candidates"):
            assert counts[table] == 1
            left = await conn.fetch(f"SELECT posting_id FROM matcher.{table}")  # noqa: S608
            assert [r["posting_id"] for r in left] == ["p-open"]


def test_dead_letter_commands_name_the_shard_queues(
    stack_env: dict[str, str], namespace: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    for key, value in stack_env.items():
        monkeypatch.setenv(key, value)
    monkeypatch.setenv("PASSAPAROLA_BROKER_NAMESPACE", namespace)
    monkeypatch.setenv("PASSAPAROLA_MATCHER_SHARDS", "2")
    assert _queue_name("matcher.shard-1") == f"{namespace}.matcher.shard-1.dlq"
    with pytest.raises(
        CliError, match=re.escape("matcher.shard-0, matcher.shard-1, notifier, ingest")
    ):
        _queue_name("matcher")


async def handled_in(pool: Pool, shard: int | None = None) -> int:
    """Events a matcher process has handled, from its inbox (shard-k:<id>)."""
    prefix = "shard-%" if shard is None else f"shard-{shard}:%"
    return int(
        await pool.fetchval("SELECT count(*) FROM matcher.inbox WHERE event_id LIKE $1", prefix)
    )


async def test_three_matcher_processes_one_killed_mid_run_lose_nothing(
    amqp: AbstractRobustConnection,
    pool: Pool,
    other_pool: Pool,
    topology: Topology,
    publisher: Publisher,
    service_env: dict[str, str],
    tmp_path: Path,
    sealer: Sealer,
) -> None:
    """The real service, three processes (PASSAPAROLA_MATCHER_SHARD 0-2); shard 1
    is killed with SIGKILL right after the openings are published, and comes
    back. A one-shard matcher in this process, fed the same events, is the
    reference (the service's own weights: the cap of 100 does not bind here)."""

    def process(shard: int) -> ServiceProcess:
        port = free_port()
        env = {
            **service_env,
            "PASSAPAROLA_MATCHER_PORT": str(port),
            "PASSAPAROLA_MATCHER_SHARDS": "3",
            "PASSAPAROLA_MATCHER_SHARD": str(shard),
        }
        return ServiceProcess(
            ["-m", "services.matcher"], env, port, tmp_path / f"matcher-{shard}.log"
        )

    three = dataclasses.replace(topology, matcher_shards=3)
    one = Run(amqp, other_pool, topology, sealer=sealer, weights=DEFAULT_WEIGHTS)
    await one.start_all()
    shards = [process(k) for k in range(3)]
    try:
        for shard in shards:
            await shard.start()
        sharded = Run(amqp, pool, three, sealer=sealer)  # only to count what each shard should get

        async def processes_handled(events: Sequence[Envelope], *only: int) -> None:
            for k in only or range(3):
                want = sharded.expected(events, k)

                async def done(k: int = k, want: int = want) -> bool:
                    return await handled_in(pool, k) >= want

                await eventually(done, timeout=120, what=f"matcher process {k} caught up")

        events = await publish(publisher, members(24), sealer)
        await one.settled(events)
        await processes_handled(events)

        events += await publish(publisher, openings(), sealer)
        shards[1].kill()
        await one.settled(events)
        await processes_handled(events, 0, 2)
        shards[1] = process(1)
        await shards[1].start()
        await processes_handled(events)
        for batch in (later_openings(), LATER_MEMBERS):
            events += await publish(publisher, batch, sealer)
            await one.settled(events)
            await processes_handled(events)
        assert await handled_in(pool) == sharded.expected(events)

        left = await pool.fetchval("SELECT count(*) FROM matcher.shard_candidates")
        assert left == 0
        assert await sharded.matches() == await one.matches()
        assert await sharded.told() == await one.told()
        assert len(await one.matches()) > 10
    finally:
        await one.stop_all()
        for shard in shards:
            shard.kill()
