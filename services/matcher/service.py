"""Wiring of the matcher service."""

from __future__ import annotations

import asyncio
from pathlib import Path

from services.matcher import handlers, privacy
from services.matcher.live import LiveIndex
from shared import logs, member_companies
from shared.consumer import Handler
from shared.db import Connection
from shared.events import Envelope, MemberExportRequested
from shared.retention import scheduled
from shared.sealing import sealer_for
from shared.service import Runtime, ServiceSpec
from shared.settings import Settings
from shared.topology import QueueSpec, matcher_shard

SCHEMA = "matcher"
INDEX = "member_index"

log = logs.get_logger(__name__)


def live_index(runtime: Runtime) -> LiveIndex:
    """The process's one member index (created on first use)."""
    found = runtime.extras.get(INDEX)
    if not isinstance(found, LiveIndex):
        settings = runtime.settings
        found = runtime.extras[INDEX] = LiveIndex(
            shard=settings.matcher_shard, shards=settings.matcher_shards
        )
    return found


def make_handler(runtime: Runtime) -> Handler:
    # The member's companies are opened here, once, for every handler.
    matching = member_companies.opening(
        handlers.make_handler(live_index(runtime)), sealer_for(runtime.settings.secret_keys)
    )
    export = privacy.make_export_handler(runtime.settings)

    async def handle(event: Envelope, conn: Connection) -> None:
        # A data export reads the matcher's tables only: no index lock needed.
        if event.type == MemberExportRequested.TYPE:
            await export(event, conn)
        else:
            await matching(event, conn)

    return handle


async def build_index(runtime: Runtime, stop: asyncio.Event) -> None:
    """Rebuild the member index from the database at start-up (a message that
    arrives first builds it itself, under the same lock)."""
    index = live_index(runtime)
    pause = 0.5
    while not index.loaded and not stop.is_set():
        try:
            await index.load(runtime.pool)
        except Exception as exc:
            log.warning("member index not built yet", error=type(exc).__name__, pause_s=pause)
            await asyncio.sleep(pause)
            pause = min(pause * 2, 5.0)


def shard_queue(settings: Settings) -> QueueSpec:
    """This process's queue: its shard's (the one matcher queue without shards)."""
    return matcher_shard(settings.matcher_shard, settings.matcher_shards)


SPEC = ServiceSpec(
    name="matcher",
    schema=SCHEMA,
    migrations=Path(__file__).parent / "migrations",
    port=lambda settings: settings.matcher_port,
    operator_port=lambda settings: settings.matcher_operator_port,
    queue=shard_queue,
    handler=make_handler,
    # The same opening of the member's companies for batches of member changes.
    batch_handlers=lambda runtime: member_companies.opening_batches(
        handlers.make_batch_handlers(live_index(runtime)),
        sealer_for(runtime.settings.secret_keys),
    ),
    background=(build_index, scheduled(privacy.purge)),
    # No session advisory lock, SET or cursor outside a transaction, and the
    # listeners remove themselves: connections go back without the reset query
    # (a round trip on every release, ~6 % of the notifier's CPU under load).
    reset_sessions=False,
)
