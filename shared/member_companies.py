"""A member's companies on the wire: sealed by the publisher, opened once by
each consumer, at its boundary.

``member.changed`` (version 2) carries the member's employer names and blocked
companies only inside ``sealed_companies``, sealed like ``sealed_contact``
(``shared.sealing``, the process's key list): an employer's name, beside the
member's cities and role, says who the member is to anyone reading a queue or
a dead-letter queue. Ingest seals (``sealed``); the matcher and the notifier
open (``opening`` around their handler, or ``open_event`` per event for a
batch consumer), so their handlers keep reading ``employer_names`` and
``blocked_companies`` as plain values.

Fail closed: a sealed value that cannot be opened (a key this process does
not hold, a tampered token) is poison, dead-lettered with a reason that names
no value, never handled as a member without companies (who would then be
matched to their own employer). A value sealed under a previous key opens
while that key is in ``Settings.secret_keys``, as ``sealed_contact`` does.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any

from shared.consumer import BatchHandler, Handler, Poison
from shared.db import Connection
from shared.events import Envelope, MemberChanged, MemberChangedV1
from shared.sealing import Sealer, SealError


class CompaniesUnreadable(Poison):
    """A ``member.changed`` whose sealed companies cannot be opened or read.

    Its class name is the dead-letter reason (``poison: CompaniesUnreadable``):
    the consumer runner quotes no text of a ``Poison``, and this one has none
    that could name a company."""


def sealed(member: MemberChanged, sealer: Sealer) -> MemberChanged:
    """The member as it travels (version 2): the companies moved into
    ``sealed_companies``."""
    values = {name: list(getattr(member, name)) for name in MemberChanged.OPENED}
    fields = {**member.to_json(), "employer_names": (), "blocked_companies": ()}
    return MemberChanged(**{**fields, "sealed_companies": sealer.seal(values)})


def opened(member: MemberChanged, sealer: Sealer) -> MemberChanged:
    """The member as handlers read it: companies in plain values,
    ``sealed_companies`` empty. Version 1 (companies in clear) is upcast."""
    fields = member.to_json()
    if isinstance(member, MemberChangedV1):
        return MemberChanged(**{**fields, "sealed_companies": None})
    if member.sealed_companies is None:
        raise CompaniesUnreadable()
    try:
        values = sealer.open(member.sealed_companies)
    except SealError:
        raise CompaniesUnreadable() from None
    for name in MemberChanged.OPENED:
        fields[name] = _texts(values.get(name))
    return MemberChanged(**{**fields, "sealed_companies": None})


def require_opened(member: object) -> None:
    """Refuse a member whose companies were never opened: a handler reached
    without ``opening`` would read "no employer, nothing blocked" and match
    the member to their own company. Called where members are stored and
    scored, so a path that skips the boundary fails loudly instead."""
    if getattr(member, "sealed_companies", None) is not None:
        raise CompaniesUnreadable()


def _texts(value: Any) -> tuple[str, ...]:
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise CompaniesUnreadable()
    return tuple(value)


def open_event(event: Envelope, sealer: Sealer) -> Envelope:
    """``event`` with its member's companies opened (other events unchanged)."""
    if event.type != MemberChanged.TYPE:
        return event
    member = opened(event.payload(MemberChanged), sealer)
    return dataclasses.replace(event, data=member, dataversion=MemberChanged.VERSION)


def opening(handler: Handler, sealer: Sealer) -> Handler:
    """``handler``, handed every ``member.changed`` with its companies opened."""

    async def handle(event: Envelope, conn: Connection) -> None:
        await handler(open_event(event, sealer), conn)

    return handle


def opening_batches(
    handlers: Mapping[str, BatchHandler], sealer: Sealer
) -> dict[str, BatchHandler]:
    """``opening`` for batch handlers: every ``member.changed`` of a batch is
    opened before the handler sees it. One that cannot be opened fails the
    batch, which the consumer runner then takes one by one: that message is
    dead-lettered through ``opening``, the others applied."""

    def wrap(handler: BatchHandler) -> BatchHandler:
        async def handle(events: list[Envelope], conn: Connection) -> None:
            await handler([open_event(event, sealer) for event in events], conn)

        return handle

    return {event_type: wrap(handler) for event_type, handler in handlers.items()}
