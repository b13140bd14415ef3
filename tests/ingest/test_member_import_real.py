"""The CSV import's batch write (``member_changes.upsert_members``) against
the real database: the same outcome, rows, consents and events as the one
member at a time path (``upsert_member``) that the member API takes."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import pytest
from hypothesis import HealthCheck, given
from hypothesis import settings as examples
from hypothesis import strategies as st

from services.ingest import member_changes, queries
from shared import member_companies
from shared.db import Connection, create_pool
from shared.events import Envelope, MemberChanged
from shared.sealing import derive_key, sealer_for
from shared.settings import Settings

pytestmark = pytest.mark.real

ROLES = (["Executive Assistant"], ["Office Manager", "Team Assistant"], ["Ledningsassistent"])
EMPLOYERS = ("Ferretti & Bianchi S.p.A.", "Volvo AB", "")


def doc(key: int, variant: int, opted_in: bool) -> dict[str, Any]:
    """A member profile as the CSV import reads it; the variant changes its content."""
    profile: dict[str, Any] = {
        "consent": {
            "opted_in": opted_in,
            "at": f"2026-11-0{1 + variant}T10:00:00+01:00",
            "text_version": "2026-10",
        },
        "language": ("it", "en", "sv")[variant],
        "email": f"member{key}@example.it",
        "name": f"Member {key}",
        "desired_roles": ROLES[variant],
        "skills": ["SAP Concur"],
        "languages": ["it", "en"],
        "locations": {"cities": [f"City {key}"], "regions": [], "country": "IT"},
        "blocked_companies": ["Rossi Holding"] if variant == 1 else [],
        "notifications": {"frequency": "instant"},
    }
    if EMPLOYERS[variant]:
        profile["current_employer"] = EMPLOYERS[variant]
    return profile


Batch = dict[int, tuple[int, bool]]  # member key -> (variant, opted in)


async def _apply(conn: Connection, app: Settings, path: str, batch: Batch) -> list[tuple[str, int]]:
    sealer = sealer_for(app.secret_keys)
    key = derive_key(app.secret_key, "member-content/v1")
    members = [(f"{path}-{k}", doc(k, *plan)) for k, plan in batch.items()]
    if path == "bulk":
        results = await member_changes.upsert_members(conn, sealer, key, members)
    else:
        results = [
            await member_changes.upsert_member(conn, sealer, key, external_id, profile)
            for external_id, profile in members
        ]
    assert [r.external_id for r in results] == [external_id for external_id, _ in members]
    return [(r.outcome, r.revision) for r in results]


async def _state(conn: Connection, app: Settings, path: str) -> dict[str, Any]:
    """What a path left, by member key: rows, consents and the events in order."""
    sealer = sealer_for(app.secret_keys)
    rows = await conn.fetch(
        "SELECT m.id, m.external_id, m.revision, m.opted_in, m.profile, m.sealed_contact,"
        " (SELECT array_agg(c.opted_in ORDER BY c.id) FROM ingest.member_consents c"
        "  WHERE c.member_id = m.id) AS consents"
        " FROM ingest.members m WHERE m.external_id LIKE $1 || '-%'",
        path,
    )
    keys = {str(r["id"]): r["external_id"].split("-", 1)[1] for r in rows}
    stored = {
        keys[str(r["id"])]: (
            r["revision"],
            r["opted_in"],
            r["profile"],
            sealer.open(r["sealed_contact"]),
            r["consents"],
        )
        for r in rows
    }
    events = []
    for body in await conn.fetch("SELECT body FROM ingest.outbox ORDER BY id"):
        member = Envelope.decode(bytes(body["body"])).payload(MemberChanged)
        if member.member_id not in keys:
            continue
        assert member.employer_names == ()  # companies travel sealed only
        opened = member_companies.opened(member, sealer)
        assert member.sealed_contact is not None
        fields = {
            **opened.to_json(),
            "member_id": keys[member.member_id],
            "sealed_contact": sealer.open(member.sealed_contact),
        }
        events.append(fields)
    return {"stored": stored, "events": events}


batches = st.dictionaries(
    st.integers(0, 6), st.tuples(st.integers(0, 2), st.booleans()), max_size=7
)


@examples(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(first=batches, second=batches)
def test_a_batch_import_does_what_the_same_members_one_by_one_do(pool, settings, first, second):
    # The test's own event loop and pool: hypothesis runs each example as a
    # plain function (the database is the test's, created by ``pool``).
    app = settings

    async def run() -> None:
        db = await create_pool(app, name="test-import")
        try:
            async with db.acquire() as conn:
                await conn.execute(
                    "TRUNCATE ingest.members, ingest.member_consents, ingest.outbox CASCADE"
                )
                outcomes = {}
                for path in ("one", "bulk"):
                    said = []
                    for batch in (first, second):
                        async with conn.transaction():
                            said.append(await _apply(conn, app, path, batch))
                    outcomes[path] = said
                assert outcomes["bulk"] == outcomes["one"]
                assert await _state(conn, app, "bulk") == await _state(conn, app, "one")
        finally:
            await db.close()

    asyncio.run(run())


async def test_a_member_created_meanwhile_is_compared_again_not_lost(pool, settings, monkeypatch):
    """Between the batch's lock and its insert, another writer (the member
    API) created one of its members: that one goes the one-by-one way and is
    updated (or unchanged), the others are created."""
    app = settings
    sealer = sealer_for(app.secret_keys)
    key = derive_key(app.secret_key, "member-content/v1")
    async with pool.acquire() as conn:
        await member_changes.upsert_member(conn, sealer, key, "m-1", doc(1, 0, True))
    locked = queries.lock_members

    async def not_seeing_m1(conn: Connection, external_ids: list[str]) -> Any:
        found = await locked(conn, external_ids)
        found.pop("m-1", None)  # as if it was created after the lock
        return found

    monkeypatch.setattr(queries, "lock_members", not_seeing_m1)
    members = [("m-0", doc(0, 0, True)), ("m-1", doc(1, 2, True)), ("m-2", doc(2, 1, False))]
    async with pool.acquire() as conn, conn.transaction():
        results = await member_changes.upsert_members(conn, sealer, key, members)
    assert [(r.external_id, r.outcome, r.revision) for r in results] == [
        ("m-0", "created", 1),
        ("m-1", "updated", 2),
        ("m-2", "created", 1),
    ]
    assert await pool.fetchval("SELECT count(*) FROM ingest.members") == 3
    revisions = [
        Envelope.decode(bytes(r["body"])).payload(MemberChanged).revision
        for r in await pool.fetch("SELECT body FROM ingest.outbox ORDER BY id")
    ]
    assert sorted(revisions) == [1, 1, 1, 2]
    assert await pool.fetchval("SELECT count(*) FROM ingest.member_consents") == 4


async def test_an_import_batch_writes_its_events_in_file_order(pool, settings):
    app = settings
    sealer = sealer_for(app.secret_keys)
    key = derive_key(app.secret_key, "member-content/v1")
    members = [(f"order-{uuid.uuid4().hex[:6]}-{i}", doc(i, i % 3, True)) for i in range(40)]
    async with pool.acquire() as conn, conn.transaction():
        results = await member_changes.upsert_members(conn, sealer, key, members)
    ids = [str(r.member_id) for r in results]
    bodies = await pool.fetch("SELECT body FROM ingest.outbox ORDER BY id")
    published = [Envelope.decode(bytes(b["body"])).payload(MemberChanged).member_id for b in bodies]
    assert published == ids
