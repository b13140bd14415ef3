"""Wiring of the notifier service: the consumer's handlers, the background
sender and the members' link pages."""

from __future__ import annotations

from pathlib import Path

from services.notifier import confirmations, consent, handlers, links, privacy, sender
from services.notifier.instant import InstantPlanner
from shared import member_companies
from shared.consumer import Handler, dispatch
from shared.events import MemberExportRequested
from shared.retention import scheduled
from shared.sealing import sealer_for
from shared.service import Runtime, ServiceSpec
from shared.topology import NOTIFIER

SCHEMA = "notifier"


def make_handler(runtime: Runtime) -> Handler:
    export = privacy.make_export_handler(runtime.settings)
    # The member's companies are opened here, once, for every handler.
    return member_companies.opening(
        dispatch({**handlers.HANDLERS, MemberExportRequested.TYPE: export}),
        sealer_for(runtime.settings.secret_keys),
    )


SPEC = ServiceSpec(
    name="notifier",
    schema=SCHEMA,
    migrations=Path(__file__).parent / "migrations",
    port=lambda settings: settings.notifier_port,
    operator_port=lambda settings: settings.notifier_operator_port,
    queue=NOTIFIER,
    handler=make_handler,
    # The same opening of the member's companies for batches of member changes.
    batch_handlers=lambda runtime: member_companies.opening_batches(
        handlers.make_batch_handlers(
            planner=InstantPlanner(runtime.settings, sealer_for(runtime.settings.secret_keys))
        ),
        sealer_for(runtime.settings.secret_keys),
    ),
    routes=links.routes,
    # No session advisory lock, SET or cursor outside a transaction, and the
    # listeners remove themselves: connections go back without the reset query
    # (a round trip on every release, ~6 % of the notifier's CPU under load).
    reset_sessions=False,
    background=(
        sender.run,
        consent.run_forwards,
        confirmations.run_confirmations,
        scheduled(privacy.purge),
    ),
)
