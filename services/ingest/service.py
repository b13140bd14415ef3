"""Wiring of the ingest service: the front door, its outbox relay, and the
consumer that delivers referrals to companies, gathers members' exports and
applies members' own profile edits."""

from __future__ import annotations

from pathlib import Path

from aiohttp import web

from services.ingest import (
    company_cache,
    privacy,
    privacy_views,
    profile_edits,
    referrals,
    views,
)
from shared.consumer import Handler, dispatch
from shared.db import Connection
from shared.events import (
    Envelope,
    ExportPart,
    ProfileEdited,
    ReferralRequested,
    ReferralWithdrawn,
)
from shared.retention import scheduled
from shared.sealing import sealer_for
from shared.service import Runtime, ServiceSpec
from shared.topology import INGEST

SCHEMA = "ingest"


def make_handler(runtime: Runtime) -> Handler:
    settings = runtime.settings

    sealer = sealer_for(settings.secret_keys)

    async def on_requested(event: Envelope, conn: Connection) -> None:
        await referrals.on_requested(event, conn, settings)

    async def on_profile_edited(event: Envelope, conn: Connection) -> None:
        await profile_edits.on_edited(event, conn, sealer)

    return dispatch(
        {
            ReferralRequested.TYPE: on_requested,
            ReferralWithdrawn.TYPE: referrals.on_withdrawn,
            ExportPart.TYPE: privacy.on_export_part,
            ProfileEdited.TYPE: on_profile_edited,
        }
    )


def routes(app: web.Application, runtime: Runtime) -> None:
    views.routes(app, runtime)
    privacy_views.routes(app)


SPEC = ServiceSpec(
    name="ingest",
    schema=SCHEMA,
    migrations=Path(__file__).parent / "migrations",
    port=lambda settings: settings.ingest_port,
    operator_port=lambda settings: settings.ingest_operator_port,
    queue=INGEST,
    handler=make_handler,
    routes=routes,
    background=(referrals.run, scheduled(privacy.purge), company_cache.run),
    # No session advisory locks, SET or cursors here, and the relay removes its
    # LISTEN itself: a webhook's connection goes back without the reset query.
    reset_sessions=False,
)
