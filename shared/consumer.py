"""The one consumer runner: ack, retry with back-off, dead-lettering, idempotency.

A service hands it a queue and a handler ``async (event, conn) -> None``. For
each message the runner:
1. decodes the CloudEvent (a message that does not decode is poison);
2. opens a database transaction, records the event id in the service's
   ``inbox`` table and, only if the id is new, runs the handler in that same
   transaction, so a redelivered event has no second effect;
3. acks after the commit.
Failures are decided here and nowhere else: ``Poison`` (and contract errors) go
straight to the dead-letter queue with the reason; anything else is retried
after the next back-off delay, and dead-lettered once the delays are used up.
A process that dies mid-message leaves it unacked: RabbitMQ redelivers it, and
dead-letters it itself after ``x-delivery-limit`` crashes.

Handlers stay short and never catch broadly: raising is how they ask for a retry.
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

import aio_pika
from aio_pika.abc import AbstractChannel, AbstractIncomingMessage, AbstractQueue

from shared import logs, metrics
from shared.db import UNAVAILABLE, Connection, Pool
from shared.events import ContractError, Envelope
from shared.topology import QueueSpec, Topology

log = logs.get_logger(__name__)

ATTEMPT_HEADER = "x-passaparola-attempt"
REASON_HEADER = "x-passaparola-reason"
QUEUE_HEADER = "x-passaparola-queue"
FAILED_AT_HEADER = "x-passaparola-failed-at"
MAX_REASON = 500

Handler = Callable[[Envelope, Connection], Awaitable[None]]


# How long one close or cancel on the broker may take at shutdown.
CLOSE_TIMEOUT_S = 5.0


class Poison(Exception):
    """The message can never be handled: dead-letter it now, do not retry."""


class Consumer:
    def __init__(
        self,
        *,
        spec: QueueSpec,
        topology: Topology,
        handler: Handler,
        pool: Pool,
        inbox_table: str,
        prefetch: int = 16,
    ) -> None:
        self.spec = spec
        self.topology = topology
        self.handler = handler
        self.pool = pool
        self.inbox_table = inbox_table
        # Consumers that share an inbox table but must each handle every event
        # (matcher shards) record "<scope>:<event id>" instead of the id.
        self.inbox_prefix = "" if spec.inbox_scope is None else f"{spec.inbox_scope}:"
        self.prefetch = prefetch
        self.queue_name = topology.queue(spec)
        self.outcomes: Counter[str] = Counter()
        metrics.prepare_consumer(spec.name)
        self._in_flight = 0
        self._idle = asyncio.Event()
        self._idle.set()
        self._channel: AbstractChannel | None = None
        self._queue: AbstractQueue | None = None
        self._tag: str | None = None
        self._stopping = False

    async def start(self, connection: aio_pika.abc.AbstractConnection) -> None:
        self._channel = await connection.channel()
        await self._channel.set_qos(prefetch_count=self.prefetch)
        self._queue = await self.topology.declare_queue(self._channel, self.spec)
        await self.topology.declare_exchange(self._channel)
        self._tag = await self._queue.consume(self._on_message)
        log.info("consuming", queue=self.queue_name, prefetch=self.prefetch)

    async def stop(self, grace_s: float) -> None:
        """Stop taking messages, let the ones in hand finish, then close."""
        self._stopping = True
        if self._queue is not None and self._tag is not None:
            try:
                # Bounded: with the broker gone, a robust channel's cancel
                # waits for it to come back.
                await asyncio.wait_for(self._queue.cancel(self._tag), timeout=CLOSE_TIMEOUT_S)
            except Exception as exc:  # a closed channel has no consumer left to cancel
                log.warning("cancel failed", queue=self.queue_name, error=type(exc).__name__)
        try:
            await asyncio.wait_for(self._idle.wait(), timeout=grace_s)
        except TimeoutError:
            # Unacked messages go back to the queue when the channel closes.
            log.warning("in-flight messages left to redelivery", count=self._in_flight)
        if self._channel is not None and not self._channel.is_closed:
            try:
                await asyncio.wait_for(self._channel.close(), timeout=CLOSE_TIMEOUT_S)
            except Exception as exc:  # unacked messages go back when the broker notices
                log.warning("channel not closed", queue=self.queue_name, error=type(exc).__name__)

    async def _on_message(self, message: AbstractIncomingMessage) -> None:
        self._in_flight += 1
        self._idle.clear()
        try:
            await self._process(message)
        finally:
            self._in_flight -= 1
            if self._in_flight == 0:
                self._idle.set()

    async def _process(self, message: AbstractIncomingMessage) -> None:
        started = time.perf_counter()
        headers = message.headers or {}
        attempt = _int(headers.get(ATTEMPT_HEADER), 1)
        logs.bind(
            queue=self.queue_name,
            message_id=message.message_id,
            attempt=attempt,
            redelivered=bool(message.redelivered),
        )
        try:
            outcome = await self._handle_while_infrastructure_down(message)
        except ContractError as exc:
            outcome = await self._dead_letter(message, f"contract: {exc}", attempt)
        except Poison as exc:
            outcome = await self._dead_letter(message, f"poison: {_describe(exc)}", attempt)
        except Exception as exc:
            if attempt > len(self.topology.retry_delays_ms):
                reason = f"failed {attempt} times, last: {_describe(exc)}"
                outcome = await self._dead_letter(message, reason, attempt)
            else:
                outcome = await self._retry(message, attempt, exc)
        self.outcomes[outcome] += 1
        elapsed = time.perf_counter() - started
        metrics.observe_consumed(self.spec.name, outcome, elapsed)
        log.info("message handled", outcome=outcome, duration_ms=round(elapsed * 1000, 2))

    async def _handle_while_infrastructure_down(self, message: AbstractIncomingMessage) -> str:
        """An unreachable database says nothing about the message: keep it in
        hand and try again, instead of spending its retries or its delivery
        limit on an outage."""
        pause = 0.2
        while True:
            try:
                return await self._handle(message)
            except UNAVAILABLE as exc:
                if self._stopping:
                    await self._settle(message.nack(requeue=True))
                    return "requeued"
                log.warning(
                    "database unavailable; holding the message", error=_describe(exc), pause_s=pause
                )
                await asyncio.sleep(pause)
                pause = min(pause * 2, 5.0)

    async def _handle(self, message: AbstractIncomingMessage) -> str:
        event = Envelope.decode(message.body)
        logs.bind(
            queue=self.queue_name,
            event_id=event.id,
            event_type=event.type,
            attempt=_int((message.headers or {}).get(ATTEMPT_HEADER), 1),
        )
        async with self.pool.acquire() as conn, conn.transaction():
            first = await conn.fetchval(
                f"INSERT INTO {self.inbox_table} (event_id, event_type) VALUES ($1, $2)"  # noqa: S608 - table name is ours, not input
                " ON CONFLICT (event_id) DO NOTHING RETURNING true",
                self.inbox_prefix + event.id,
                event.type,
            )
            if first:
                await self.handler(event, conn)
        await self._settle(message.ack())
        return "ok" if first else "duplicate"

    async def _retry(self, message: AbstractIncomingMessage, attempt: int, exc: Exception) -> str:
        step = attempt  # attempt 1 failed: wait the first delay
        queue = self.topology.retry_queue(self.spec, step)
        log.warning(
            "retrying later",
            error=_describe(exc),
            retry_queue=queue,
            delay_ms=self.topology.retry_delays_ms[step - 1],
        )
        return await self._forward(
            message, "", queue, {ATTEMPT_HEADER: attempt + 1}, outcome="retried"
        )

    async def _dead_letter(
        self, message: AbstractIncomingMessage, reason: str, attempt: int
    ) -> str:
        reason = logs.scrub(reason)[:MAX_REASON]
        log.error("dead-lettered", reason=reason)
        headers: dict[str, Any] = {
            REASON_HEADER: reason,
            QUEUE_HEADER: self.queue_name,
            FAILED_AT_HEADER: datetime.now(UTC).isoformat(timespec="seconds"),
            ATTEMPT_HEADER: attempt,
        }
        return await self._forward(
            message,
            self.topology.dead_letter_exchange,
            self.queue_name,
            headers,
            outcome="dead_lettered",
        )

    async def _forward(
        self,
        message: AbstractIncomingMessage,
        exchange_name: str,
        routing_key: str,
        headers: dict[str, Any],
        *,
        outcome: str,
    ) -> str:
        """Publish a copy (confirmed) and only then ack the original: at worst
        the copy exists twice, never zero times."""
        assert self._channel is not None
        copy = aio_pika.Message(
            message.body,
            headers={**(message.headers or {}), **headers},
            content_type=message.content_type,
            message_id=message.message_id,
            type=message.type,
            delivery_mode=aio_pika.DeliveryMode.PERSISTENT,
        )
        try:
            exchange = (
                self._channel.default_exchange
                if exchange_name == ""
                else await self._channel.get_exchange(exchange_name, ensure=False)
            )
            await exchange.publish(copy, routing_key=routing_key, timeout=10)
        except Exception as exc:
            log.warning(
                "could not forward; message goes back to the queue", error=type(exc).__name__
            )
            await self._settle(message.nack(requeue=True))
            return "requeued"
        await self._settle(message.ack())
        return outcome

    @staticmethod
    async def _settle(action: Awaitable[None]) -> None:
        # When the channel died under us, the broker requeues the message by
        # itself; the inbox makes the redelivery harmless.
        try:
            await action
        except Exception as exc:
            log.warning("ack/nack lost with the channel", error=type(exc).__name__)


def _int(value: Any, default: int) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        return default


def _describe(exc: BaseException) -> str:
    """What a dead-letter reason and the log say about a failure. Only a
    ContractError's text is ours alone (shared/events.py quotes no value);
    any other exception's text can quote the message or a row (a driver's
    "invalid input syntax ... 'Mario'"), so only its type is told."""
    text = str(exc) if isinstance(exc, ContractError) else ""
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def dispatch(handlers: dict[str, Handler]) -> Handler:
    """One handler per event type; other types on the queue are recorded in
    the inbox and otherwise ignored (a queue's bindings can be wider than what
    its service acts on)."""

    async def handle(event: Envelope, conn: Connection) -> None:
        handler = handlers.get(event.type)
        if handler is None:
            log.debug("event type not handled here", event_type=event.type)
            return
        await handler(event, conn)

    return handle
