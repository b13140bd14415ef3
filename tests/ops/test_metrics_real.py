"""/metrics of a real service process after real events went through its
consumer and its outbox relay (the probe service, on the real runtime)."""

from __future__ import annotations

import contextlib
import uuid

import aiohttp
import asyncpg
import pytest
from prometheus_client.parser import text_string_to_metric_families

from shared import metrics
from shared.events import Envelope, Ping
from shared.outbox import enqueue
from shared.publisher import Publisher
from shared.service import QUARANTINE_TASK, RELAY_TASK
from tests.helpers import ServiceProcess, eventually, free_port, publish_pings

pytestmark = pytest.mark.real

CANARY_EMAIL = "canary.giulia@example.it"
CANARY_PHONE = "+39 347 123 4567"
CANARY_NAME = "Giulia Canarino"


@pytest.fixture
async def probe(service_env, tmp_path):
    port = free_port()
    env = {**service_env, "PASSAPAROLA_MATCHER_PORT": str(port)}
    process = ServiceProcess(["-m", "tests.fixtures.probe_service"], env, port, tmp_path / "p.log")
    await process.start()
    yield process
    process.kill()


async def scrape(port: int) -> tuple[str, dict[tuple[str, frozenset[tuple[str, str]]], float]]:
    async with (
        aiohttp.ClientSession() as http,
        http.get(f"http://127.0.0.1:{port}/metrics") as resp,
    ):
        assert resp.status == 200
        assert resp.content_type == "text/plain"
        text = await resp.text()
    samples = {
        (s.name, frozenset(s.labels.items())): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }
    return text, samples


def value(samples, name: str, **labels: str) -> float:
    return samples.get((name, frozenset(labels.items())), 0.0)


async def test_consumer_and_outbox_metrics_after_real_events(probe, amqp, topology, pool):
    publisher = await Publisher.create(await amqp.channel(), topology)
    await publish_pings(publisher, ["ok", "ok", "poison", "fail:1"])

    async def settled() -> bool:
        _, samples = await scrape(probe.operator_port)
        name = "passaparola_events_consumed_total"
        return (
            value(samples, name, queue="probe", outcome="ok") == 3
            and value(samples, name, queue="probe", outcome="dead_lettered") == 1
            and value(samples, name, queue="probe", outcome="retried") == 1
        )

    await eventually(settled, what="the outcomes on /metrics")
    _, samples = await scrape(probe.operator_port)
    # Every outcome exists from the start (0 when nothing happened).
    assert (
        value(samples, "passaparola_events_consumed_total", queue="probe", outcome="duplicate") == 0
    )
    # One latency observation per settled message: 3 ok + 1 retried + 1 dead-lettered.
    assert value(samples, "passaparola_handler_duration_seconds_count", queue="probe") == 5
    assert (
        value(samples, "passaparola_handler_duration_seconds_bucket", queue="probe", le="+Inf") == 5
    )

    # The relay measures its outbox each loop: publish one event through it.
    envelope = Envelope.wrap(Ping(ping_id=str(uuid.uuid4()), note="ok"), source="/tests")
    async with pool.acquire() as conn:
        await enqueue(conn, "probe", envelope)

    async def published() -> bool:
        _, s = await scrape(probe.operator_port)
        return value(s, "passaparola_outbox_published_total", schema="probe") == 1

    await eventually(published, what="the outbox publication on /metrics")
    _, samples = await scrape(probe.operator_port)
    assert value(samples, "passaparola_outbox_depth", schema="probe") == 0
    assert value(samples, "passaparola_outbox_oldest_age_seconds", schema="probe") == 0


async def test_outbox_depth_and_age_of_a_row_that_waits(probe, pool):
    """A row the relay cannot take (locked by another transaction, as while
    a publication hangs) shows in depth and age; once free, it is published
    and the gauges go back to 0."""
    holder = await pool.acquire()
    tx = holder.transaction()
    try:
        for _ in range(50):  # the relay may take a fresh row first: then try another
            row_id = await pool.fetchval(
                "INSERT INTO probe.outbox (event_id, routing_key, body, created_at)"
                " VALUES ($1, 'nothing.routes.this', $2, now() - interval '10 minutes')"
                " RETURNING id",
                str(uuid.uuid4()),
                b"{}",
            )
            await tx.start()
            try:
                locked = await holder.fetchval(
                    "SELECT id FROM probe.outbox WHERE id = $1 AND published_at IS NULL"
                    " FOR UPDATE NOWAIT",
                    row_id,
                )
            except asyncpg.LockNotAvailableError:
                locked = None
            if locked is not None:
                break
            await tx.rollback()
            tx = holder.transaction()
        else:
            pytest.fail("the relay always took the row first")

        async def waiting() -> bool:
            _, s = await scrape(probe.operator_port)
            return (
                value(s, "passaparola_outbox_depth", schema="probe") == 1
                and value(s, "passaparola_outbox_oldest_age_seconds", schema="probe") >= 600
            )

        await eventually(waiting, what="the waiting row on /metrics")
    finally:
        with contextlib.suppress(asyncpg.InterfaceError):  # not started: nothing to undo
            await tx.rollback()
        await pool.release(holder)

    async def drained() -> bool:
        _, s = await scrape(probe.operator_port)
        return (
            value(s, "passaparola_outbox_depth", schema="probe") == 0
            and value(s, "passaparola_outbox_oldest_age_seconds", schema="probe") == 0
        )

    await eventually(drained, what="the relay to publish and measure")


async def test_canary_no_label_value_carries_personal_data(probe, amqp, topology):
    """Personal data in a failing message reaches no metric: every label value
    of every passaparola_* series comes from a fixed set."""
    publisher = await Publisher.create(await amqp.channel(), topology)
    await publish_pings(
        publisher,
        [
            f"raise:cannot mail {CANARY_EMAIL} ({CANARY_NAME}, {CANARY_PHONE})",
            f"poison-{CANARY_NAME}",
            "ok",
        ],
    )

    async def settled() -> bool:
        _, s = await scrape(probe.operator_port)
        return (
            value(s, "passaparola_events_consumed_total", queue="probe", outcome="dead_lettered")
            >= 1
        )

    await eventually(settled, what="dead-lettering")
    text, samples = await scrape(probe.operator_port)
    for canary in (CANARY_EMAIL, CANARY_PHONE, CANARY_NAME, "canary", "Giulia"):
        assert canary not in text
    allowed = {
        "queue": {"probe"},
        "schema": {"probe"},
        "outcome": {*metrics.CONSUMER_OUTCOMES, *metrics.EMAIL_OUTCOMES},
        "kind": set(metrics.EMAIL_KINDS),
        "state": set(metrics.REFERRAL_STATES),
        "reason": {*metrics.WEBHOOK_REASONS.values(), metrics.WEBHOOK_OTHER},
        "status": {str(s) for s in metrics.WEBHOOK_REASONS},
        # The probe's supervised tasks: names from the code.
        "task": {"beat", RELAY_TASK, QUARANTINE_TASK},
    }
    for name, labels in samples:
        if not name.startswith("passaparola_"):
            continue
        for key, label_value in labels:
            if key == "le":
                float(label_value)  # a bucket bound, a number
                continue
            assert label_value in allowed[key], (name, key, label_value)
