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
"""

from __future__ import annotations

from dataclasses import dataclass

import aio_pika
from aio_pika.abc import AbstractChannel, AbstractExchange, AbstractQueue


@dataclass(frozen=True)
class QueueSpec:
    name: str
    bindings: tuple[str, ...]


# Who listens to what. Routing keys are event types (see shared.events).
MATCHER = QueueSpec("matcher", ("job.#", "member.#", "system.#"))
NOTIFIER = QueueSpec("notifier", ("match.#", "job.#", "member.#", "referral.#", "system.#"))
# Ingest owns the companies: it delivers the referrals members consented to,
# and gathers the services' parts of a member's data export.
INGEST = QueueSpec("ingest", ("referral.requested", "referral.withdrawn", "export.part"))
SERVICE_QUEUES = (MATCHER, NOTIFIER, INGEST)


@dataclass(frozen=True)
class Topology:
    namespace: str = "passaparola"
    delivery_limit: int = 5
    retry_delays_ms: tuple[int, ...] = (1000, 10000, 60000)

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
            name,
            durable=True,
            arguments={
                "x-queue-type": "quorum",
                "x-delivery-limit": self.delivery_limit,
                "x-dead-letter-exchange": self.dead_letter_exchange,
                "x-dead-letter-routing-key": name,
                "x-dead-letter-strategy": "at-least-once",
                "x-overflow": "reject-publish",
            },
        )
        for key in spec.bindings:
            await queue.bind(exchange, routing_key=key)
        return queue

    async def declare_all(
        self, channel: AbstractChannel, specs: tuple[QueueSpec, ...] = SERVICE_QUEUES
    ) -> None:
        """Every service's queues: declared by whichever process starts first,
        so an event published before its consumer ever ran waits in its queue
        instead of going to ``unrouted``."""
        for spec in specs:
            await self.declare_queue(channel, spec)

    def all_queue_names(self, specs: tuple[QueueSpec, ...] = SERVICE_QUEUES) -> list[str]:
        names = [self.unrouted_queue]
        for spec in specs:
            names.append(self.queue(spec))
            names.extend(self.retry_queue(spec, s) for s in range(1, len(self.retry_delays_ms) + 1))
            names.append(self.dead_letter_queue(spec))
        return names
