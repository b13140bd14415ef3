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

Batches, for event types whose handler can take many events at once (member
changes: an import sends them by the ten thousand). Messages of such a type
are collected: whatever is ready is taken, up to ``batch_size`` (a few
milliseconds' wait at most, never for a batch to fill). One transaction
records every id in the inbox with one statement, applies the batch handler
to the new ones only (each id once, in arrival order), and commits; then the
whole batch is acked with one ``multiple`` ack (its highest delivery tag,
"this and every earlier one") when no earlier message of the channel is still
in hand (one on the one-by-one path, or of an unfinished batch), else each
message alone. A batch that fails for any reason is rolled back whole
and its messages go through the one-by-one path above, so a poison event is
isolated, retried or dead-lettered exactly as it would be alone, and the
others are applied once. Other types on the same queue keep the one-by-one
path, as many at once as ``prefetch``.
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Mapping, Sequence
from collections.abc import Set as AbstractSet
from datetime import UTC, datetime
from typing import Any, TypeVar

import aio_pika
import aiormq
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
# Many events of one type, in arrival order, each id new to the inbox.
BatchHandler = Callable[[list[Envelope], Connection], Awaitable[None]]


# How long one close or cancel on the broker may take at shutdown.
CLOSE_TIMEOUT_S = 5.0
# How long a batch waits for more messages once one is in hand: long enough
# for what the broker has already sent to arrive, short next to the work.
BATCH_WAIT_S = 0.005


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
        batch_handlers: Mapping[str, BatchHandler] | None = None,
        batch_size: int = 1,
    ) -> None:
        self.spec = spec
        self.topology = topology
        self.handler = handler
        self.pool = pool
        self.inbox_table = inbox_table
        # Consumers that share an inbox table but must each handle every event
        # (matcher shards) record "<scope>:<event id>" instead of the id.
        self.inbox_prefix = "" if spec.inbox_scope is None else f"{spec.inbox_scope}:"
        # With a batch size of 1 every message takes the one-by-one path.
        self.batch_handlers = dict(batch_handlers or {}) if batch_size > 1 else {}
        self.batch_size = batch_size
        # The broker must be able to hand over a full batch while the one
        # before is being applied; the one-by-one path keeps its own limit.
        self.prefetch = max(prefetch, 2 * batch_size) if self.batch_handlers else prefetch
        self._singles = asyncio.Semaphore(prefetch)
        self._pending: list[tuple[AbstractIncomingMessage, Envelope]] = []
        # Every message received and not yet acked or nacked, by its channel
        # and delivery tag: what a ``multiple`` ack must not reach.
        self._unsettled: set[Tag] = set()
        self._drainer: asyncio.Task[None] | None = None
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
        tag = _tag(message)
        if tag is not None:
            self._unsettled.add(tag)
        event = self._batchable(message)
        if event is not None:
            self._pending.append((message, event))
            if self._drainer is None or self._drainer.done():
                self._drainer = asyncio.create_task(self._drain())
            return
        try:
            async with self._singles:
                await self._process(message)
        finally:
            self._done(1)

    def _done(self, count: int) -> None:
        self._in_flight -= count
        if self._in_flight == 0:
            self._idle.set()

    def _batchable(self, message: AbstractIncomingMessage) -> Envelope | None:
        """The event, when its type is handled in batches (a message that
        does not decode takes the one-by-one path, which dead-letters it)."""
        if message.type not in self.batch_handlers:
            return None
        try:
            event = Envelope.decode(message.body)
        except ContractError:
            return None
        return event if event.type in self.batch_handlers else None

    async def _drain(self) -> None:
        """Apply the collected messages, one batch at a time, until none is left."""
        while self._pending:
            if len(self._pending) < self.batch_size:
                await asyncio.sleep(BATCH_WAIT_S)
            batch = self._pending[: self.batch_size]
            del self._pending[: self.batch_size]
            try:
                await self._process_batch(batch)
            except Exception as exc:  # never lose the drainer: the messages stay unacked
                log.error("batch not settled", error=type(exc).__name__, size=len(batch))
            finally:
                self._done(len(batch))

    async def _process_batch(self, batch: list[tuple[AbstractIncomingMessage, Envelope]]) -> None:
        # Runs of one type, in arrival order: each run is one handler's batch.
        runs: list[list[tuple[AbstractIncomingMessage, Envelope]]] = []
        for item in batch:
            if runs and runs[-1][0][1].type == item[1].type:
                runs[-1].append(item)
            else:
                runs.append([item])
        for run in runs:
            if len(run) == 1:
                await self._process(run[0][0])
                continue
            started = time.perf_counter()
            try:
                outcomes = await self._handle_batch(run)
            except Exception as exc:
                # Rolled back whole: one by one, each message meets its own fate.
                log.warning(
                    "batch failed; handling its messages one by one",
                    queue=self.queue_name,
                    error=_describe(exc),
                    size=len(run),
                )
                for message, _event in run:
                    await self._process(message)
                continue
            elapsed = time.perf_counter() - started
            for outcome in outcomes:
                self.outcomes[outcome] += 1
                metrics.observe_consumed(self.spec.name, outcome, elapsed / len(run))
            logs.bind(queue=self.queue_name, event_type=run[0][1].type)
            log.info(
                "batch handled",
                size=len(run),
                ok=outcomes.count("ok"),
                duplicate=outcomes.count("duplicate"),
                duration_ms=round(elapsed * 1000, 2),
            )

    async def _handle_batch(self, run: list[tuple[AbstractIncomingMessage, Envelope]]) -> list[str]:
        """One transaction for the run; each message's outcome, in order."""
        handler = self.batch_handlers[run[0][1].type]
        keys = [self.inbox_prefix + event.id for _message, event in run]
        async with self.pool.acquire() as conn, conn.transaction():
            rows = await conn.fetch(
                f"INSERT INTO {self.inbox_table} (event_id, event_type)"  # noqa: S608 - table name is ours, not input
                " SELECT * FROM unnest($1::text[], $2::text[])"
                " ON CONFLICT (event_id) DO NOTHING RETURNING event_id",
                keys,
                [event.type for _message, event in run],
            )
            new = {r["event_id"] for r in rows}
            outcomes: list[str] = []
            fresh: list[Envelope] = []
            for key, (_message, event) in zip(keys, run, strict=True):
                # The same id twice in one run: the second is a redelivery.
                first = key in new
                new.discard(key)
                outcomes.append("ok" if first else "duplicate")
                if first:
                    fresh.append(event)
            if fresh:
                await handler(fresh, conn)
        await self._ack_all([message for message, _event in run])
        return outcomes

    async def _ack_all(self, messages: list[AbstractIncomingMessage]) -> None:
        """Ack a committed batch: with one frame when that acks these
        messages and no other, else one by one."""
        tags = [_tag(message) for message in messages]
        known = [tag for tag in tags if tag is not None]
        top = covering(self._unsettled, known) if len(known) == len(tags) else None
        if top is None:
            for message in messages:
                await self._settle(message.ack(), message)
            return
        last = messages[tags.index(top)]
        await self._settle(last.ack(multiple=True))
        self._unsettled.difference_update(known)

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
                    await self._settle(message.nack(requeue=True), message)
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
        await self._settle(message.ack(), message)
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
            await self._settle(message.nack(requeue=True), message)
            return "requeued"
        await self._settle(message.ack(), message)
        return outcome

    async def _settle(
        self, action: Awaitable[None], message: AbstractIncomingMessage | None = None
    ) -> None:
        # When the channel died under us, the broker requeues the message by
        # itself; the inbox makes the redelivery harmless.
        tag = None if message is None else _tag(message)
        try:
            await action
        except Exception as exc:
            log.warning("ack/nack lost with the channel", error=type(exc).__name__)
            # Tags of a closed channel settle nothing any more: its messages
            # went back to the queue with it.
            self._unsettled = {t for t in self._unsettled if not t[0].is_closed}
        finally:
            if tag is not None:
                self._unsettled.discard(tag)


# A delivery tag counts on its channel only (a reopened channel starts again at 1).
Tag = tuple[aiormq.abc.AbstractChannel, int]


def _tag(message: AbstractIncomingMessage) -> Tag | None:
    try:
        channel = message.channel
    except Exception:  # its channel is closed: the broker has requeued it
        return None
    tag = message.delivery_tag
    return None if tag is None else (channel, tag)


C = TypeVar("C")


def covering(
    unsettled: AbstractSet[tuple[C, int]], batch: Sequence[tuple[C, int]]
) -> tuple[C, int] | None:
    """The tag whose ``multiple`` ack settles exactly ``batch`` among the
    messages in hand (``unsettled``): the batch's highest, when every message
    in hand with a lower tag on that channel is in the batch; else None."""
    if len(batch) < 2 or len({channel for channel, _ in batch}) != 1:
        return None
    top = max(batch, key=lambda tag: tag[1])
    mine = set(batch)
    channel, highest = top
    for tag in unsettled:
        if tag[0] is channel and tag[1] < highest and tag not in mine:
            return None
    return top


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
