"""The broker topology, declared in one place.

One durable topic exchange carries every event, routed by its type. Each
consumer group has a quorum queue bound to the types it needs, with:
- ``x-delivery-limit``: a message that keeps crashing its consumer (redelivered
  without an ack) is dead-lettered by RabbitMQ itself;
- one retry queue per back-off step, whose TTL sends the message back to the
  main queue (never through the exchange, so no other queue sees it twice);
- a dead-letter queue, where poison messages and exhausted retries wait for an
  operator to inspect, replay or discard them.
Events nobody is bound to go to an ``unrouted`` queue through the exchange's
alternate exchange, so a publisher never loses one silently.

A ``Topology`` carries a namespace so that tests can declare an isolated copy.

Matcher shards (``docs/scaling.md``): with ``matcher_shards`` above one, the
single matcher queue becomes one queue per shard. Every shard queue is bound
to every job event; a member event is routed by a bucket in its routing key
(``member.changed.<bucket>``, a stable hash of the member id, set by the
publisher) and each bucket is bound to exactly one shard queue. The topic
exchange does the routing: no extra plugin, nothing home-made in between.
"""

from __future__ import annotations

import dataclasses
import hashlib
from dataclasses import dataclass
from typing import TYPE_CHECKING

import aio_pika
from aio_pika.abc import (
    AbstractChannel,
    AbstractConnection,
    AbstractExchange,
    AbstractQueue,
)
from pamqp.common import FieldTable

if TYPE_CHECKING:
    from shared.events import Envelope


@dataclass(frozen=True)
class QueueSpec:
    name: str
    bindings: tuple[str, ...]
    # Set when several queues' consumers share one inbox table and must each
    # handle the same event (matcher shards): see shared.consumer.
    inbox_scope: str | None = None


# Who listens to what. Routing keys are event types (see shared.events).
MATCHER = QueueSpec("matcher", ("job.#", "member.#", "system.#"))
NOTIFIER = QueueSpec("notifier", ("match.#", "job.#", "member.#", "referral.#", "system.#"))
# Ingest owns the companies: it delivers the referrals members consented to,
# and gathers the services' parts of a member's data export. It owns the
# member profiles too: it applies a member's own edits from the preference page.
INGEST = QueueSpec(
    "ingest", ("referral.requested", "referral.withdrawn", "export.part", "profile.edited")
)
SERVICE_QUEUES = (MATCHER, NOTIFIER, INGEST)

# Member ids hash into a fixed number of buckets; a shard owns the buckets
# whose number modulo the shard count is its index. Fixed, so that the bucket
# in a routing key (and in the matcher's member rows) never changes when the
# shard count does: resharding moves bindings, not data. It is also the most
# shards there can be.
BUCKETS = 256
MEMBER_PREFIX = "member."


def bucket(member_id: str) -> int:
    """A member's bucket: the first 32 bits of the MD5 of its id, modulo
    ``BUCKETS``. MD5 because PostgreSQL computes the same (migration 004 of
    the matcher stores it), not for secrecy; it is stable across processes,
    unlike Python's ``hash``."""
    digest = hashlib.md5(member_id.encode(), usedforsecurity=False).digest()
    return int.from_bytes(digest[:4], "big") % BUCKETS


def shard_of(member_id: str, shards: int) -> int:
    return bucket(member_id) % shards


def routing_key(envelope: Envelope) -> str:
    """The routing key of an event: its type, and for an event about one
    member (``member.*``) the member's bucket after it, so that it reaches
    only the shard that owns the member. Bindings on ``member.#`` still match."""
    member_id = getattr(envelope.data, "member_id", None)
    if envelope.type.startswith(MEMBER_PREFIX) and isinstance(member_id, str):
        return f"{envelope.type}.{bucket(member_id)}"
    return envelope.type


def event_type(key: str) -> str:
    """The event type of a routing key (without a member bucket)."""
    return ".".join(key.split(".")[:2])


def matcher_shard(shard: int, shards: int) -> QueueSpec:
    """The queue of one matcher shard: every job event and system event, and
    the member events of its buckets. One shard is today's single queue."""
    if shards == 1:
        return MATCHER
    owned = tuple(f"member.*.{b}" for b in range(BUCKETS) if b % shards == shard)
    return QueueSpec(
        f"matcher.shard-{shard}", ("job.#", "system.#", *owned), inbox_scope=f"shard-{shard}"
    )


@dataclass(frozen=True)
class Topology:
    namespace: str = "passaparola"
    delivery_limit: int = 5
    retry_delays_ms: tuple[int, ...] = (1000, 10000, 60000)
    matcher_shards: int = 1

    def service_queues(self) -> tuple[QueueSpec, ...]:
        """Every service's queue, the matcher's once per shard."""
        shards = tuple(matcher_shard(k, self.matcher_shards) for k in range(self.matcher_shards))
        return (*shards, NOTIFIER, INGEST)

    @property
    def exchange(self) -> str:
        return f"{self.namespace}.events"

    @property
    def dead_letter_exchange(self) -> str:
        return f"{self.namespace}.dead-letter"

    @property
    def unrouted_exchange(self) -> str:
        return f"{self.namespace}.unrouted"

    def queue(self, spec: QueueSpec) -> str:
        return f"{self.namespace}.{spec.name}"

    def retry_queue(self, spec: QueueSpec, step: int) -> str:
        return f"{self.queue(spec)}.retry.{step}"

    def dead_letter_queue(self, spec: QueueSpec) -> str:
        return f"{self.queue(spec)}.dlq"

    @property
    def unrouted_queue(self) -> str:
        return f"{self.namespace}.unrouted"

    def queue_arguments(self, spec: QueueSpec) -> FieldTable:
        """A service queue's arguments (also declared, identically, for the
        Messaging Topology Operator in deploy/kubernetes: a queue declared
        twice with different arguments is refused by the broker)."""
        return {
            "x-queue-type": "quorum",
            "x-delivery-limit": self.delivery_limit,
            "x-dead-letter-exchange": self.dead_letter_exchange,
            "x-dead-letter-routing-key": self.queue(spec),
            "x-dead-letter-strategy": "at-least-once",
            "x-overflow": "reject-publish",
        }

    async def declare_exchange(self, channel: AbstractChannel) -> AbstractExchange:
        unrouted = await channel.declare_exchange(
            self.unrouted_exchange, aio_pika.ExchangeType.FANOUT, durable=True
        )
        queue = await channel.declare_queue(
            self.unrouted_queue, durable=True, arguments={"x-queue-type": "quorum"}
        )
        await queue.bind(unrouted)
        await channel.declare_exchange(
            self.dead_letter_exchange, aio_pika.ExchangeType.DIRECT, durable=True
        )
        return await channel.declare_exchange(
            self.exchange,
            aio_pika.ExchangeType.TOPIC,
            durable=True,
            arguments={"alternate-exchange": self.unrouted_exchange},
        )

    async def declare_queue(self, channel: AbstractChannel, spec: QueueSpec) -> AbstractQueue:
        """Declare the spec's queue with its retry and dead-letter queues; bind it."""
        exchange = await self.declare_exchange(channel)
        name = self.queue(spec)
        dlq = await channel.declare_queue(
            self.dead_letter_queue(spec), durable=True, arguments={"x-queue-type": "quorum"}
        )
        await dlq.bind(self.dead_letter_exchange, routing_key=name)
        for step, delay in enumerate(self.retry_delays_ms, start=1):
            await channel.declare_queue(
                self.retry_queue(spec, step),
                durable=True,
                arguments={
                    "x-queue-type": "quorum",
                    "x-message-ttl": delay,
                    # "" is the default exchange: straight back to the main queue.
                    "x-dead-letter-exchange": "",
                    "x-dead-letter-routing-key": name,
                    "x-dead-letter-strategy": "at-least-once",
                    "x-overflow": "reject-publish",
                },
            )
        queue = await channel.declare_queue(
            name, durable=True, arguments=self.queue_arguments(spec)
        )
        for key in spec.bindings:
            await queue.bind(exchange, routing_key=key)
        return queue

    async def declare_all(
        self, channel: AbstractChannel, specs: tuple[QueueSpec, ...] | None = None
    ) -> None:
        """Every service's queues: declared by whichever process starts first,
        so an event published before its consumer ever ran waits in its queue
        instead of going to ``unrouted``."""
        for spec in self.service_queues() if specs is None else specs:
            await self.declare_queue(channel, spec)

    def all_queue_names(self, specs: tuple[QueueSpec, ...] | None = None) -> list[str]:
        names = [self.unrouted_queue]
        for spec in self.service_queues() if specs is None else specs:
            names.append(self.queue(spec))
            names.extend(self.retry_queue(spec, s) for s in range(1, len(self.retry_delays_ms) + 1))
            names.append(self.dead_letter_queue(spec))
        return names


# --- changing the shard count ------------------------------------------------------------------


class ReshardRefused(Exception):
    """The matcher queues are not ready to be re-split; nothing was changed."""

    def __init__(self, reason: str, queues: list[str]) -> None:
        self.reason = reason
        self.queues = queues
        super().__init__(f"{reason}: {', '.join(queues)}")


def _matcher_specs(topology: Topology) -> dict[str, QueueSpec]:
    return {
        topology.queue(spec): spec for spec in topology.service_queues()[: topology.matcher_shards]
    }


async def reshard(connection: AbstractConnection, old: Topology, shards: int) -> Topology:
    """Re-split the matcher's queues from ``old.matcher_shards`` to ``shards``.

    The operator procedure (docs/scaling.md): every matcher stopped, their
    queues drained. Then the new shard queues are declared and bound, bucket
    bindings a kept queue no longer owns are removed, and queues of shards
    that no longer exist are deleted. Refused, changing nothing, while a
    matcher still consumes or a queue that matters still holds messages: an
    event in it could belong to a shard that is about to change."""
    if not 1 <= shards <= BUCKETS:
        raise ValueError(f"shards must be from 1 to {BUCKETS}")
    new = dataclasses.replace(old, matcher_shards=shards)
    before, after = _matcher_specs(old), _matcher_specs(new)
    running: list[str] = []
    busy: list[str] = []
    # A channel of its own: a channel answers a second declaration of the
    # same queue with the counts of its first.
    channel = await connection.channel()
    for name, spec in before.items():
        names = [name, *(old.retry_queue(spec, s) for s in range(1, len(old.retry_delays_ms) + 1))]
        if name not in after:
            names.append(old.dead_letter_queue(spec))  # deleted with its queue
        for queue_name in names:
            queue = await channel.declare_queue(queue_name, passive=True)
            result = queue.declaration_result
            if queue_name == name and result.consumer_count:
                running.append(queue_name)
            if result.message_count:
                busy.append(queue_name)
    if running or busy:
        await channel.close()
    if running:
        raise ReshardRefused("matchers still consuming", running)
    if busy:
        raise ReshardRefused("queues not drained", busy)
    for spec in after.values():
        await new.declare_queue(channel, spec)
    exchange = await new.declare_exchange(channel)
    for name, spec in before.items():
        if name in after:
            queue = await channel.get_queue(name, ensure=False)
            for key in sorted(set(spec.bindings) - set(after[name].bindings)):
                await queue.unbind(exchange, routing_key=key)
            continue
        await channel.queue_delete(name)
        for step in range(1, len(old.retry_delays_ms) + 1):
            await channel.queue_delete(old.retry_queue(spec, step))
        await channel.queue_delete(old.dead_letter_queue(spec))
    await channel.close()
    return new
