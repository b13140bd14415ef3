"""The matcher's handlers on the real runner, RabbitMQ and PostgreSQL.

Events go in as real CloudEvents on the test's own exchange; the matcher's
answers come out of its outbox through the relay and are read from a test
queue bound to ``match.#`` in the test's namespace.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import threading
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from aio_pika.abc import AbstractQueue, AbstractRobustConnection

from services.matcher import live as live_module
from services.matcher.handlers import make_handler
from services.matcher.index import MemberIndex
from services.matcher.live import LiveIndex, store_taxonomy
from services.matcher.taxonomy import Role, default_taxonomy
from shared import member_companies, metrics
from shared.consumer import Consumer
from shared.db import Pool
from shared.events import (
    Envelope,
    JobClosed,
    JobCreated,
    JobPosting,
    JobUpdated,
    MatchFound,
    MemberChanged,
    MemberErased,
    Payload,
)
from shared.outbox import OutboxRelay
from shared.publisher import Publisher
from shared.sealing import Sealer, sealer_for
from shared.settings import Settings
from shared.topology import MATCHER, Topology, bucket
from tests.helpers import eventually

pytestmark = pytest.mark.real

CANARY_NAME = "Canarina Bergström-Rossi"
CANARY_EMAIL = "canary.matcher@example.se"


def member(member_id: str, revision: int = 1, **fields: Any) -> MemberChanged:
    base: dict[str, Any] = {
        "member_id": member_id,
        "revision": revision,
        "opted_in": True,
        "language": "it",
        "desired_roles": ("Executive Assistant",),
        "languages": ("it", "en"),
        "cities": ("Milano",),
        "regions": ("Lombardia",),
        "country": "IT",
        "remote": "hybrid",
        "employer_names": ("Globex SpA",),
    }
    base.update(fields)
    return MemberChanged(**base)


def job(posting_id: str = "p-1", revision: int = 1, kind: type[JobPosting] = JobCreated, **fields):
    base: dict[str, Any] = {
        "posting_id": posting_id,
        "company_id": "c-acme",
        "revision": revision,
        "title": "Assistente di Direzione",
        "city": "Milano",
        "region": "Lombardia",
        "country": "IT",
        "remote": "no",
        "languages_required": ("it",),
        "company_name": "Acme S.p.A.",
        "company_names": ("Acme S.p.A.", "Acme Group"),
        "apply_url": "https://acme.example/jobs/1",
        "valid_through": "2099-12-31",
    }
    base.update(fields)
    return kind(**base)


@dataclass
class Matcher:
    """The matcher's handler on a real consumer, its relay, and a tap on match.#."""

    pool: Pool
    publisher: Publisher
    consumer: Consumer
    tap: AbstractQueue
    live: LiveIndex
    sealer: Sealer
    seen: list[tuple[Envelope, bytes]] = field(default_factory=list)

    async def send(self, payload: Payload, envelope: Envelope | None = None) -> Envelope:
        if isinstance(payload, MemberChanged):
            # As ingest publishes it: the companies sealed (member.changed v2).
            payload = member_companies.sealed(payload, self.sealer)
        envelope = envelope or Envelope.wrap(payload, source="/tests")
        before = self.handled()
        await self.publisher.publish(envelope)
        await eventually(lambda: _true(self.handled() > before), what=f"{payload.TYPE} handled")
        return envelope

    def handled(self) -> int:
        return sum(self.consumer.outcomes[k] for k in ("ok", "duplicate"))

    async def events(self) -> list[Envelope]:
        """Every match event the matcher has written to its outbox so far, as
        read off the exchange (all of them: waits until each has arrived)."""
        written = await self.pool.fetchval("SELECT count(*) FROM matcher.outbox")

        async def arrived() -> bool:
            while (message := await self.tap.get(no_ack=True, fail=False)) is not None:
                self.seen.append((Envelope.decode(message.body), message.body))
            return len(self.seen) >= written

        await eventually(arrived, what=f"{written} match events on the exchange")
        assert len(self.seen) == written
        return [e for e, _ in self.seen]

    async def index(self) -> MemberIndex:
        """The member index as the next handler sees it (it catches up first)."""
        async with self.pool.acquire() as conn, conn.transaction():
            await self.live.lock_and_sync(conn)
        return self.live.index

    async def rows(self, sql: str, *args: Any) -> list[dict[str, Any]]:
        return [dict(r) for r in await self.pool.fetch(sql, *args)]


def of(events: list[Envelope], kind: str) -> dict[str, Envelope]:
    """Events of one type by member id."""
    return {e.data.member_id: e for e in events if e.type == kind}  # type: ignore[attr-defined]


async def _true(value: bool) -> bool:
    return value


async def start_matcher(
    amqp: AbstractRobustConnection, pool: Pool, topology: Topology, live: LiveIndex, sealer: Sealer
) -> tuple[Consumer, asyncio.Event, asyncio.Task[None], Publisher]:
    channel = await amqp.channel()
    publisher = await Publisher.create(channel, topology)
    consumer = Consumer(
        spec=MATCHER,
        topology=topology,
        # Wired as services/matcher/service.py wires it: companies opened first.
        handler=member_companies.opening(make_handler(live), sealer),
        pool=pool,
        inbox_table="matcher.inbox",
        prefetch=8,
    )
    await consumer.start(amqp)
    relay = OutboxRelay(pool=pool, schema="matcher", publisher=publisher)
    stop = asyncio.Event()
    return consumer, stop, asyncio.create_task(relay.run(stop)), publisher


@pytest.fixture
async def matcher(amqp, pool, topology, namespace, settings) -> AsyncIterator[Matcher]:
    channel = await amqp.channel()
    exchange = await topology.declare_exchange(channel)
    tap = await channel.declare_queue(f"{namespace}.test-matches", durable=False)
    await tap.bind(exchange, routing_key="match.#")
    live = LiveIndex()
    sealer = sealer_for(settings.secret_keys)
    consumer, stop, relay, publisher = await start_matcher(amqp, pool, topology, live, sealer)
    yield Matcher(pool, publisher, consumer, tap, live, sealer)
    await consumer.stop(5)
    stop.set()
    with contextlib.suppress(Exception):
        await relay


# --- the tests ---------------------------------------------------------------------------------


async def test_an_italian_title_reaches_english_and_swedish_titles_but_never_the_own_employer(
    matcher: Matcher, settings: Settings
):
    sealed = Sealer([settings.secret_key]).seal({"name": CANARY_NAME, "email": CANARY_EMAIL})
    await matcher.send(
        member("m-en", desired_roles=("Executive Assistant",), sealed_contact=sealed)
    )
    await matcher.send(
        member("m-sv", desired_roles=("Ledningsassistent",), languages=("sv", "it", "en"))
    )
    # The member works for Acme, written another way: never told about Acme's opening.
    await matcher.send(member("m-own", employer_names=("ACME SpA",), sealed_contact=sealed))
    await matcher.send(member("m-blocked", blocked_companies=("acme",)))
    await matcher.send(member("m-lab", desired_roles=("Assistente di laboratorio",)))
    await matcher.send(member("m-nolang", languages=("en",)))
    await matcher.send(job("p-1"))

    found = of(await matcher.events(), "match.found")
    assert set(found) == {"m-en", "m-sv"}
    event = found["m-sv"].payload(MatchFound)
    assert (event.posting_id, event.posting_revision) == ("p-1", 1)
    assert (event.title, event.company_name) == ("Assistente di Direzione", "Acme S.p.A.")
    assert (event.city, event.region, event.country, event.remote) == (
        "Milano",
        "Lombardia",
        "IT",
        "no",
    )
    assert (event.apply_url, event.valid_through) == ("https://acme.example/jobs/1", "2099-12-31")
    assert event.explanation["title"]["posting_role"] == "executive-assistant"
    assert event.explanation["place"] == {"kind": "same_city"}
    assert 0.6 <= event.score <= 1.0
    # The dashboard's figures moved: members indexed, and one posting's matches.
    assert (metrics.REGISTRY.get_sample_value("passaparola_members_indexed") or 0) >= 3
    assert (metrics.REGISTRY.get_sample_value("passaparola_matches_per_posting_count") or 0) >= 1

    # Canary: no name, no address, not even the sealed contact, in what went out or was kept.
    bodies = b"".join(body for _, body in matcher.seen).decode()
    stored = json.dumps(await matcher.rows("SELECT * FROM matcher.members"), default=str)
    for text in (bodies, stored):
        assert CANARY_NAME not in text
        assert CANARY_EMAIL not in text
        assert sealed not in text
    rows = await matcher.rows("SELECT member_id, state FROM matcher.matches ORDER BY member_id")
    assert rows == [
        {"member_id": "m-en", "state": "active"},
        {"member_id": "m-sv", "state": "active"},
    ]


async def test_a_redelivered_job_created_creates_no_second_match(matcher: Matcher):
    await matcher.send(member("m-1"))
    envelope = await matcher.send(job("p-1"))
    await matcher.send(job("p-1"), envelope)  # the same event again
    await matcher.send(job("p-1"))  # the same revision under a new event id
    assert matcher.consumer.outcomes["duplicate"] == 1
    events = await matcher.events()
    assert [e.type for e in events] == ["match.found"]
    assert await matcher.pool.fetchval("SELECT count(*) FROM matcher.matches") == 1


async def test_an_update_rematches_new_fits_and_withdraws_those_that_no_longer_fit(
    matcher: Matcher,
):
    await matcher.send(member("m-milano"))
    await matcher.send(
        member(
            "m-stockholm",
            desired_roles=("Ledningsassistent",),
            languages=("sv", "en", "it"),
            cities=("Stockholm",),
            regions=("Stockholms län",),
            country="SE",
        )
    )
    await matcher.send(job("p-1"))
    first = await matcher.events()
    assert set(of(first, "match.found")) == {"m-milano"}

    moved = {"city": "Stockholm", "region": "Stockholms län", "country": "SE"}
    await matcher.send(job("p-1", 2, JobUpdated, title="Executive Assistant to the CEO", **moved))
    events = (await matcher.events())[len(first) :]
    found, withdrawn = of(events, "match.found"), of(events, "match.withdrawn")
    assert set(found) == {"m-stockholm"}
    assert found["m-stockholm"].data.posting_revision == 2  # type: ignore[attr-defined]
    assert found["m-stockholm"].data.title == "Executive Assistant to the CEO"  # type: ignore[attr-defined]
    assert set(withdrawn) == {"m-milano"}
    assert withdrawn["m-milano"].data.reason == "no_longer_fits"  # type: ignore[attr-defined]

    # An older revision arriving late changes nothing.
    await matcher.send(job("p-1", 1, JobUpdated))
    assert len(await matcher.events()) == len(first) + 2
    state = await matcher.rows("SELECT member_id, state FROM matcher.matches ORDER BY member_id")
    assert state == [
        {"member_id": "m-milano", "state": "withdrawn"},
        {"member_id": "m-stockholm", "state": "active"},
    ]


async def test_closing_withdraws_and_a_close_before_create_wins(matcher: Matcher):
    await matcher.send(member("m-1"))
    await matcher.send(job("p-1"))
    await matcher.send(JobClosed(posting_id="p-1", company_id="c-acme", revision=2))
    events = await matcher.events()
    assert [e.type for e in events] == ["match.found", "match.withdrawn"]
    assert events[1].data.reason == "closed"  # type: ignore[attr-defined]
    assert events[1].data.match_id == events[0].data.match_id  # type: ignore[attr-defined]

    # Out of order: the close of p-2 arrives before its creation.
    await matcher.send(JobClosed(posting_id="p-2", company_id="c-acme", revision=2))
    await matcher.send(job("p-2", 1))
    await matcher.send(job("p-2", 3, JobUpdated))  # closed is final
    assert len(await matcher.events()) == 2
    # A member who arrives later is not told about closed postings either.
    await matcher.send(member("m-2"))
    assert len(await matcher.events()) == 2


async def test_opting_out_withdraws_and_opting_in_again_renews_the_same_match(matcher: Matcher):
    await matcher.send(member("m-1"))
    await matcher.send(job("p-1"))
    await matcher.send(member("m-1", 2, opted_in=False))
    assert "m-1" not in await matcher.index()
    await matcher.send(member("m-1", 1))  # stale: does not opt them back in
    assert "m-1" not in await matcher.index()
    await matcher.send(member("m-1", 3))
    events = await matcher.events()
    assert [(e.type, getattr(e.data, "reason", None)) for e in events] == [
        ("match.found", None),
        ("match.withdrawn", "opted_out"),
        ("match.found", None),
    ]
    assert len({e.data.match_id for e in events}) == 1  # type: ignore[attr-defined]


async def test_a_changed_profile_is_re_evaluated_against_open_postings(matcher: Matcher):
    await matcher.send(job("p-1"))
    await matcher.send(job("p-2", title="Receptionist"))
    await matcher.send(member("m-1", desired_roles=("Segretaria di direzione",)))
    assert {e.data.posting_id for e in await matcher.events()} == {"p-1"}  # type: ignore[attr-defined]
    await matcher.send(member("m-1", 2, desired_roles=("Receptionist",)))
    events = (await matcher.events())[1:]
    assert [(e.type, e.data.posting_id) for e in events] == [  # type: ignore[attr-defined]
        ("match.found", "p-2"),
        ("match.withdrawn", "p-1"),
    ]
    # The new employer is the posting's company: withdrawn, fail-closed.
    await matcher.send(member("m-1", 3, desired_roles=("Receptionist",), employer_names=("acme",)))
    last = (await matcher.events())[3:]
    assert [(e.type, e.data.posting_id) for e in last] == [("match.withdrawn", "p-2")]  # type: ignore[attr-defined]


async def test_erasure_withdraws_and_forgets_the_member(matcher: Matcher):
    await matcher.send(member("m-1"))
    await matcher.send(job("p-1"))
    await matcher.send(MemberErased(member_id="m-1"))
    await matcher.send(member("m-1", 9))  # a late change cannot bring the profile back
    events = await matcher.events()
    assert [(e.type, getattr(e.data, "reason", None)) for e in events] == [
        ("match.found", None),
        ("match.withdrawn", "erased"),
    ]
    assert await matcher.rows("SELECT * FROM matcher.members") == []
    assert await matcher.rows("SELECT * FROM matcher.matches") == []
    assert "m-1" not in await matcher.index()


async def test_caps_limit_how_many_openings_one_member_hears_of(matcher: Matcher):
    cap = matcher.live.weights.member_cap
    for i in range(cap + 2):
        await matcher.send(job(f"p-{i}"))
    await matcher.send(member("m-1"))
    assert len(of_all(await matcher.events(), "match.found")) == cap
    await matcher.send(job("p-late"))
    assert len(of_all(await matcher.events(), "match.found")) == cap


def of_all(events: list[Envelope], kind: str) -> list[Envelope]:
    return [e for e in events if e.type == kind]


async def test_a_rolled_back_change_never_reaches_the_index(pool: Pool):
    live = LiveIndex()
    await live.load(pool)
    handler = make_handler(live)
    with contextlib.suppress(RuntimeError):
        async with pool.acquire() as conn, conn.transaction():
            await handler(Envelope.wrap(member("m-1"), source="/tests"), conn)
            raise RuntimeError("the transaction fails after the handler")
    async with pool.acquire() as conn, conn.transaction():
        await live.lock_and_sync(conn)
    assert "m-1" not in live.index
    async with pool.acquire() as conn, conn.transaction():
        await handler(Envelope.wrap(member("m-2"), source="/tests"), conn)
    assert "m-2" not in live.index  # not before the commit...
    async with pool.acquire() as conn, conn.transaction():
        await live.lock_and_sync(conn)
    assert "m-2" in live.index  # ...and as soon as anyone looks after it


async def test_a_restarted_matcher_rebuilds_its_index_from_the_database(
    amqp, pool, topology, namespace, settings
):
    sealer = sealer_for(settings.secret_keys)
    channel = await amqp.channel()
    tap = await channel.declare_queue(f"{namespace}.test-matches", durable=False)
    await tap.bind(await topology.declare_exchange(channel), routing_key="match.#")
    first = LiveIndex()
    consumer, stop, relay, publisher = await start_matcher(amqp, pool, topology, first, sealer)
    matcher = Matcher(pool, publisher, consumer, tap, first, sealer)
    await matcher.send(member("m-1"))
    await matcher.send(member("m-2", desired_roles=("Ledningsassistent",)))
    await matcher.send(member("m-3", opted_in=False))
    await consumer.stop(5)
    stop.set()
    await relay

    second = LiveIndex()  # a new process: nothing in memory
    await second.load(pool)
    assert len(second.index) == 2
    consumer, stop, relay, publisher = await start_matcher(amqp, pool, topology, second, sealer)
    matcher = Matcher(pool, publisher, consumer, tap, second, sealer)
    await matcher.send(job("p-1"))
    assert set(of(await matcher.events(), "match.found")) == {"m-1", "m-2"}
    await consumer.stop(5)
    stop.set()
    await relay


async def test_the_linker_is_built_while_loading_in_a_worker_thread(pool: Pool, monkeypatch):
    built_in: list[int] = []
    build = live_module.build_matcher

    def recording(rows: Any) -> Any:
        built_in.append(threading.get_ident())
        return build(rows)

    monkeypatch.setattr(live_module, "build_matcher", recording)
    live = LiveIndex()
    await live.load(pool)
    assert live.matcher.linker_built  # not left for the first unknown title
    assert built_in and threading.get_ident() not in built_in


async def test_a_taxonomy_import_reaches_the_running_matcher_at_its_next_message(
    matcher: Matcher,
):
    await matcher.send(member("m-keeper", desired_roles=("Lighthouse keeper",)))
    await matcher.send(job("p-before", title="Guardiano del faro"))
    assert "m-keeper" not in of(await matcher.events(), "match.found")

    keeper = Role(
        id="esco:test-lighthouse-keeper",
        family="esco-test",
        titles={"en": ("lighthouse keeper",), "it": ("guardiano del faro",)},
        source="esco:0000",
    )
    async with matcher.pool.acquire() as conn, conn.transaction():
        await store_taxonomy(conn, default_taxonomy().extended(new_roles=[keeper]))

    await matcher.send(job("p-after", title="Guardiano del faro"))
    found = of_all(await matcher.events(), "match.found")
    assert [e.data.posting_id for e in found if e.data.member_id == "m-keeper"] == ["p-after"]  # type: ignore[attr-defined]
    assert matcher.live.matcher.linker_built
    assert "esco:test-lighthouse-keeper" in matcher.live.matcher.taxonomy.roles


async def test_a_title_outside_the_roles_reaches_the_members_of_its_occupation_and_nobody_else(
    matcher: Matcher,
):
    # Imported occupations as ``taxonomy import-esco`` stores them: a sergeant
    # beside its sibling the corporal, and a plumber.
    from tests.matcher.test_titles import _IMPORTED

    async with matcher.pool.acquire() as conn, conn.transaction():
        await store_taxonomy(conn, default_taxonomy().extended(new_roles=_IMPORTED))
    for member_id, title in (
        ("m-sergeant", "Army Sergeant"),
        ("m-sergente", "Sergente maggiore"),
        ("m-corporal", "Lance Corporal"),
        ("m-plumber", "Plumber"),
        ("m-ea", "Executive Assistant"),
    ):
        # in the posting's region, not its city: the title has to carry the score
        await matcher.send(member(member_id, desired_roles=(title,), cities=("Monza",)))
    # No role has this title: the linker reads it as the sergeant's, and
    # ``titles similarity`` says so too.
    ad = "Sergente istruttore di fanteria"
    assert matcher.live.matcher.resolution(ad).roles[0].via == "profile"
    assert matcher.live.matcher.compare(ad, "Army Sergeant").match
    await matcher.send(job("p-army", title=ad))

    found = of(await matcher.events(), "match.found")
    assert set(found) == {"m-sergeant", "m-sergente"}
    for event in found.values():
        assert event.payload(MatchFound).explanation["title"]["posting_role"] == "esco:0310.1"


# --- "not for me": from the notifier's outbox to the member's later matches ----------------


async def _not_for_me(matcher: Matcher, member_id: str, posting_id: str, reason: str) -> None:
    """What the notifier's "not for me" form does (services/notifier/declines.py),
    on the real database; its outbox relay carries the event to the matcher."""
    from services.notifier import declines as notifier_declines

    n = {"id": uuid.uuid4(), "member_id": member_id, "posting_id": posting_id}
    async with matcher.pool.acquire() as conn, conn.transaction():
        await notifier_declines.not_for_me(conn, n, reason)
    relay = OutboxRelay(pool=matcher.pool, schema="notifier", publisher=matcher.publisher)
    stop = asyncio.Event()
    task = asyncio.create_task(relay.run(stop))
    try:
        await eventually(
            lambda: _exists(
                matcher.pool,
                "SELECT 1 FROM matcher.declines WHERE member_id = $1 AND posting_id = $2",
                member_id,
                posting_id,
            ),
            what=f"{member_id}'s decline of {posting_id} in the matcher",
        )
    finally:
        stop.set()
        await task


async def _exists(pool: Pool, sql: str, *args: Any) -> bool:
    return await pool.fetchval(sql, *args) is not None


def told(events: list[Envelope], posting_id: str) -> dict[str, float]:
    return {
        e.data.member_id: e.data.score  # type: ignore[attr-defined]
        for e in of_all(events, "match.found")
        if e.data.posting_id == posting_id  # type: ignore[attr-defined]
    }


async def test_a_company_decline_keeps_that_company_from_the_member_only(matcher: Matcher):
    await matcher.send(member("m-a"))
    await matcher.send(member("m-b"))
    await matcher.send(job("p-1"))
    assert set(told(await matcher.events(), "p-1")) == {"m-a", "m-b"}

    await _not_for_me(matcher, "m-a", "p-1", "company")
    row = await matcher.pool.fetchrow("SELECT routing_key, body FROM notifier.outbox")
    assert row is not None
    # Routed like every member event: to the shard that owns the member.
    assert row["routing_key"] == f"member.declined.{bucket('m-a')}"
    data = json.loads(row["body"])["data"]
    assert data == {"member_id": "m-a", "posting_id": "p-1", "reason": "company"}  # ids only

    await matcher.send(job("p-2", title="Executive Assistant"))
    await matcher.send(job("p-3", company_id="c-other", company_names=("Initech AB",)))
    events = await matcher.events()
    assert set(told(events, "p-2")) == {"m-b"}
    assert set(told(events, "p-3")) == {"m-a", "m-b"}

    # An update of the declined posting is not told again; its match ends.
    await matcher.send(job("p-1", revision=2, kind=JobUpdated, title="Executive Assistant"))
    events = await matcher.events()
    found = [e.payload(MatchFound) for e in of_all(events, "match.found")]
    found_a = [f.posting_id for f in found if f.member_id == "m-a"]
    assert sorted(found_a) == ["p-1", "p-3"]  # p-1 once, before the decline
    assert "m-a" in of(events, "match.withdrawn")

    # Erasure forgets the member's declines with the rest.
    await matcher.send(MemberErased(member_id="m-a"))
    assert await matcher.pool.fetchval("SELECT count(*) FROM matcher.declines") == 0


async def test_a_role_decline_rules_out_the_title_and_lowers_the_role_for_that_member(
    matcher: Matcher,
):
    await matcher.send(member("m-a"))
    await matcher.send(member("m-b"))
    await matcher.send(job("p-1", title="Segretaria di direzione"))
    await _not_for_me(matcher, "m-a", "p-1", "role")
    await matcher.send(job("p-2", title="Segretaria di Direzione (m/f)"))
    await matcher.send(job("p-3", title="Executive Assistant"))
    events = await matcher.events()
    assert set(told(events, "p-2")) == {"m-b"}  # the same title: ruled out
    p3 = told(events, "p-3")  # the same role, another title: lowered
    assert set(p3) == {"m-a", "m-b"}
    assert p3["m-a"] == pytest.approx(p3["m-b"] - matcher.live.weights.decline_penalty)
