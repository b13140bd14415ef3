"""What the notifier's one-off emails share as delivery-runner adapters (a
forward to a colleague, a referral's confirmation): one row, one message,
one recipient, sent over the notifier's own SMTP connections.

A subclass names its ``table`` and says how to ``load`` a claimed row (with
``prepare``) and what to record once it is settled; claiming, sending,
classifying the server's answer and closing are here, once.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from email.utils import parseaddr
from typing import Any

from services.notifier.compose import InvalidAddress, UnsafeMessage
from services.notifier.sender import Mailer
from shared import delivery, logs
from shared.db import Connection, Pool
from shared.settings import Settings

POLL_S = 1.0


@dataclass(frozen=True)
class Prepared:
    """A finished message, its one recipient, and the values that must never
    reach a log line while it is sent."""

    data: bytes
    address: str
    sensitive: tuple[str | None, ...]


class SingleMailSender:
    table: delivery.Table  # each subclass's own

    def __init__(self, pool: Pool, settings: Settings) -> None:
        self.pool = pool
        self.settings = settings
        self.mailer = Mailer(settings)
        self.runner = delivery.Runner(pool, settings, self, poll_s=POLL_S)

    @property
    def sent(self) -> int:
        return self.runner.done

    async def run(self, stop: asyncio.Event) -> None:
        await self.runner.run(stop)

    async def send_due(self) -> int:
        return await self.runner.run_once()

    @staticmethod
    def prepare(
        address: object, sensitive: Sequence[object], build: Callable[[], bytes]
    ) -> Prepared | delivery.Outcome:
        """The message ``build`` makes, with ``sensitive`` masked in any log
        line meanwhile; a message that cannot be built safely fails for good."""
        masked = tuple(v if isinstance(v, str) else None for v in sensitive)
        with logs.sensitive(*masked):
            try:
                data = build()
            except InvalidAddress:
                return delivery.Outcome("permanent", "invalid address")
            except UnsafeMessage:
                return delivery.Outcome("permanent", "unsafe message")
        return Prepared(data, str(address), masked)

    async def deliver(self, prepared: Prepared) -> delivery.Outcome:
        sender = parseaddr(self.settings.mail_from)[1]
        try:
            with logs.sensitive(*prepared.sensitive):
                reply = await self.mailer.send(sender, prepared.address, prepared.data)
        except Exception as exc:
            return delivery.classify_smtp(exc)
        return delivery.Outcome("done", None, 250, delivery.short(reply))

    async def load(self, conn: Connection, claim: delivery.Claim) -> Any:
        raise NotImplementedError

    async def recorded(
        self,
        conn: Connection,
        claim: delivery.Claim,
        prepared: Prepared | None,
        outcome: delivery.Outcome,
        state: str,
    ) -> None:
        raise NotImplementedError

    async def close(self) -> None:
        await self.mailer.close()
