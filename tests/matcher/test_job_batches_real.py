"""Openings in batches through the matcher (``handlers.on_jobs``), on the real
PostgreSQL: the same matches and the same events, in the same order, as one
by one, with the caps (the members' and the postings'), revisions, stale
events and a match renewed after it was withdrawn."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import HealthCheck, given
from hypothesis import settings as examples
from hypothesis import strategies as st

from services.matcher import handlers
from services.matcher.handlers import make_handler
from services.matcher.live import LiveIndex
from shared.db import Pool
from shared.events import Envelope, JobCreated, JobPosting, JobUpdated, Payload
from tests.matcher.test_service_real import job, member

pytestmark = pytest.mark.real

MEMBERS = [
    member("m-1"),
    member("m-2", cities=("Torino",), regions=("Piemonte",)),
    member("m-3"),
    member("m-4", languages=("sv",)),
    member("m-5", remote="remote"),
    *(member(f"m-{k}") for k in range(6, 14)),  # more fits than a posting's cap
]
CITIES = ["Milano", "Torino"]


def wrap(payload: Payload) -> Envelope:
    return Envelope.wrap(payload, source="/tests")


def opening(posting: str, revision: int, city: str, title: str) -> JobPosting:
    kind = JobUpdated if revision > 1 else JobCreated
    region = "Piemonte" if city == "Torino" else "Lombardia"
    return job(posting, revision, kind, city=city, region=region, title=title)


async def run(pool: Pool, jobs: list[Envelope], *, batched: bool) -> tuple[list[Any], ...]:
    """``jobs`` on fresh tables with the same members: one by one, or the
    job events in runs of one type, each run one batch (as the consumer)."""
    live = LiveIndex()
    handle = make_handler(live)
    async with pool.acquire() as conn:
        for change in MEMBERS:
            async with conn.transaction():
                await handle(wrap(change), conn)
        if batched:
            runs: list[list[Envelope]] = []
            for event in jobs:
                if runs and runs[-1][0].type == event.type:
                    runs[-1].append(event)
                else:
                    runs.append([event])
            batch = handlers.make_batch_handlers(live)
            for events in runs:
                async with conn.transaction():
                    await batch[events[0].type](events, conn)
        else:
            for event in jobs:
                async with conn.transaction():
                    await handle(event, conn)
        matches = await conn.fetch(
            "SELECT posting_id, member_id, state, score, posting_revision, reason"
            " FROM matcher.matches ORDER BY posting_id, member_id"
        )
        # The events as the relay will publish them: their order, and each one's
        # content but its own id and time (the match ids are new in each run).
        outbox = await conn.fetch(
            "SELECT routing_key, body FROM matcher.outbox WHERE routing_key LIKE 'match.%'"
            " ORDER BY id"
        )
        await conn.execute(
            "TRUNCATE matcher.members, matcher.matches, matcher.postings, matcher.outbox,"
            " matcher.inbox"
        )
    told = []
    for r in outbox:
        data = json.loads(r["body"])["data"]
        told.append((r["routing_key"], data["posting_id"], data["member_id"], data.get("score")))
    return [tuple(r) for r in matches], told


async def test_a_batch_of_openings_matches_as_one_by_one(pool: Pool):
    jobs = [
        wrap(opening("p-1", 1, "Milano", "Assistente di Direzione")),
        wrap(opening("p-2", 1, "Milano", "Executive Assistant")),
        wrap(opening("p-3", 1, "Torino", "Executive Assistant")),
        wrap(opening("p-1", 1, "Milano", "Assistente di Direzione")),  # stale: same revision
        # Moved to Torino: the Milano fits withdrawn, Torino's told.
        wrap(opening("p-2", 2, "Torino", "Executive Assistant")),
        # Back to Milano: the withdrawn matches renewed under their ids.
        wrap(opening("p-2", 3, "Milano", "Executive Assistant")),
        wrap(opening("p-4", 1, "Milano", "Executive Assistant")),
    ]
    one_by_one = await run(pool, jobs, batched=False)
    in_a_batch = await run(pool, jobs, batched=True)
    assert in_a_batch == one_by_one
    matches, told = in_a_batch
    states = {(p, m): s for p, m, s, *_ in matches}
    assert states[("p-2", "m-2")] == "withdrawn"  # fitted revision 2 only
    assert "withdrawn" in {s for (p, _m), s in states.items() if p == "p-2"}
    assert any(key == "match.withdrawn" for key, *_ in told)


def generated() -> list[list[tuple[int, int, int, int]]]:
    """(posting, revision, city, title) runs: repeated and stale revisions,
    postings competing for the same members' caps."""
    collected: list[list[tuple[int, int, int, int]]] = []

    @examples(
        max_examples=10, deadline=None, derandomize=True, suppress_health_check=list(HealthCheck)
    )
    @given(
        st.lists(
            st.tuples(st.integers(1, 6), st.integers(1, 3), st.integers(0, 1), st.integers(0, 1)),
            min_size=1,
            max_size=14,
        )
    )
    def collect(spec: list[tuple[int, int, int, int]]) -> None:
        collected.append(spec)

    collect()
    return collected


async def test_generated_batches_of_openings_match_as_one_by_one(pool: Pool):
    titles = ["Executive Assistant", "Assistente di Direzione"]
    for spec in generated():
        jobs = [wrap(opening(f"p-{p}", r, CITIES[c], titles[t])) for p, r, c, t in spec]
        assert await run(pool, jobs, batched=True) == await run(pool, jobs, batched=False), spec
