"""Dead-letter queues as an operator sees them: list, replay, discard.

Listing takes messages without acking them and then closes the channel, which
returns them all to the queue in their order: looking never changes anything.
Replay publishes a message back to the queue it failed on (confirmed) before
removing it from the dead-letter queue, so a crash in between leaves a copy in
both places, never in neither; consumers are idempotent on the event id.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import aio_pika
from aio_pika.abc import AbstractChannel, AbstractConnection, AbstractIncomingMessage

from shared import logs
from shared.consumer import ATTEMPT_HEADER, FAILED_AT_HEADER, QUEUE_HEADER, REASON_HEADER

MAX_SCAN = 10_000


@dataclass(frozen=True)
class DeadLetter:
    message_id: str | None
    event_type: str | None
    queue: str | None
    reason: str
    failed_at: str | None
    attempts: int | None
    ids: dict[str, Any]

    def to_json(self) -> dict[str, Any]:
        return {
            "message_id": self.message_id,
            "event_type": self.event_type,
            "queue": self.queue,
            "reason": self.reason,
            "failed_at": self.failed_at,
            "attempts": self.attempts,
            "ids": self.ids,
        }


def describe(message: AbstractIncomingMessage) -> DeadLetter:
    headers = message.headers or {}
    queue = headers.get(QUEUE_HEADER)
    reason = headers.get(REASON_HEADER)
    deaths = headers.get("x-death")
    if reason is None and isinstance(deaths, list) and deaths and isinstance(deaths[0], dict):
        # Dead-lettered by RabbitMQ itself (delivery limit): it says why in x-death.
        first = deaths[0]
        reason = f"broker: {_text(first.get('reason'))}"
        queue = queue or first.get("queue")
    attempts = headers.get(ATTEMPT_HEADER)
    failed_at = headers.get(FAILED_AT_HEADER)
    return DeadLetter(
        message_id=message.message_id,
        event_type=message.type,
        queue=_text(queue),
        reason=logs.scrub(_text(reason) or "unknown"),
        failed_at=_text(failed_at),
        attempts=int(attempts) if isinstance(attempts, int) else None,
        ids=_ids(message.body),
    )


def _text(value: Any) -> str | None:
    if value is None:
        return None
    return value.decode() if isinstance(value, bytes) else str(value)


def _ids(body: bytes) -> dict[str, Any]:
    """Only the ids of the payload: an operator view never shows personal data."""
    try:
        data = json.loads(body).get("data", {})
    except (ValueError, AttributeError):
        return {}
    if not isinstance(data, dict):
        return {}
    return {k: v for k, v in data.items() if k.endswith("_id") and isinstance(v, str | int)}


async def _take(
    channel: AbstractChannel, queue_name: str, limit: int
) -> list[AbstractIncomingMessage]:
    queue = await channel.get_queue(queue_name, ensure=True)
    taken: list[AbstractIncomingMessage] = []
    while len(taken) < limit:
        message = await queue.get(no_ack=False, fail=False)
        if message is None:
            break
        taken.append(message)
    return taken


async def peek(
    connection: AbstractConnection, queue_name: str, limit: int = 100
) -> list[DeadLetter]:
    channel = await connection.channel()
    try:
        return [describe(m) for m in await _take(channel, queue_name, limit)]
    finally:
        await channel.close()  # everything taken goes back, in order


async def replay(
    connection: AbstractConnection,
    queue_name: str,
    message_ids: set[str] | None = None,
    *,
    done_ids: set[str] | None = None,
) -> int:
    """Send dead letters back to their queue; all of them, or those with these
    ids. ``done_ids``, when given, collects the ids acted on, so a caller can
    name the ones that were not there."""
    return await _act(connection, queue_name, message_ids, replay=True, done_ids=done_ids)


async def discard(
    connection: AbstractConnection,
    queue_name: str,
    message_ids: set[str] | None = None,
    *,
    done_ids: set[str] | None = None,
) -> int:
    return await _act(connection, queue_name, message_ids, replay=False, done_ids=done_ids)


async def _act(
    connection: AbstractConnection,
    queue_name: str,
    message_ids: set[str] | None,
    *,
    replay: bool,
    done_ids: set[str] | None = None,
) -> int:
    channel = await connection.channel(publisher_confirms=True)
    done = 0
    try:
        for message in await _take(channel, queue_name, MAX_SCAN):
            if message_ids is not None and message.message_id not in message_ids:
                continue
            if replay:
                target = describe(message).queue
                if not target:
                    continue
                headers = {
                    k: v
                    for k, v in (message.headers or {}).items()
                    if not k.startswith("x-passaparola-") and k != "x-death"
                }
                await channel.default_exchange.publish(
                    aio_pika.Message(
                        message.body,
                        headers=headers,
                        content_type=message.content_type,
                        message_id=message.message_id,
                        type=message.type,
                        delivery_mode=aio_pika.DeliveryMode.PERSISTENT,
                    ),
                    routing_key=target,
                    timeout=10,
                )
            await message.ack()
            done += 1
            if done_ids is not None and message.message_id is not None:
                done_ids.add(message.message_id)
    finally:
        await channel.close()
    return done


async def forget_member(
    connection: AbstractConnection, queue_names: list[str], member_id: str
) -> int:
    """Erasure reaches the dead-letter queues too: remove every dead letter
    whose payload names this member (it may carry their pseudonymous profile);
    the others go back untouched."""
    channel = await connection.channel()
    removed = 0
    try:
        for queue_name in queue_names:
            for message in await _take(channel, queue_name, MAX_SCAN):
                if _ids(message.body).get("member_id") == member_id:
                    await message.ack()
                    removed += 1
    finally:
        await channel.close()
    return removed
