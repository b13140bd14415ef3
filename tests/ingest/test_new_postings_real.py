"""Group commit of new postings, against the real database: concurrent
deliveries share one statement, and each still gets its own answer."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime

import asyncpg
import pytest

from services.ingest.new_postings import NewPosting, NewPostings
from services.ingest.posting_changes import accept_new
from services.ingest.queries import company as load_company
from tests.ingest.conftest import posting

pytestmark = pytest.mark.real

NOW = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)


async def counts(pool) -> tuple[int, int, int]:
    row = await pool.fetchrow(
        "SELECT (SELECT count(*) FROM ingest.postings) AS postings,"
        " (SELECT count(*) FROM ingest.webhook_deliveries) AS deliveries,"
        " (SELECT count(*) FROM ingest.outbox) AS events"
    )
    return row["postings"], row["deliveries"], row["events"]


@pytest.fixture
async def acme(pool, make_company):
    made = await make_company("ACME S.p.A.")
    async with pool.acquire() as conn:
        found = await load_company(conn, uuid.UUID(made.id))
    assert found is not None
    return found


def deliver(new_postings, company, external_id, webhook_id):
    return accept_new(new_postings, company, "job.created", posting(external_id), NOW, webhook_id)


async def test_concurrent_new_postings_share_one_statement(pool, acme):
    new_postings = NewPostings(pool)
    applied = await asyncio.gather(
        *(deliver(new_postings, acme, f"ea-{i}", f"msg_{i}") for i in range(20))
    )
    assert all(a is not None and a.decision.outcome == "created" for a in applied)
    assert new_postings.statements == 1
    assert await counts(pool) == (20, 20, 20)


async def test_a_reused_webhook_id_in_a_batch_is_answered_alone(pool, acme):
    new_postings = NewPostings(pool)
    assert await deliver(new_postings, acme, "first", "msg_seen") is not None
    applied = await asyncio.gather(
        deliver(new_postings, acme, "a", "msg_a"),
        deliver(new_postings, acme, "b", "msg_seen"),  # seen before, another posting
        deliver(new_postings, acme, "c", "msg_c"),
    )
    assert [a is not None for a in applied] == [True, False, True]
    # The batch failed as a whole, then each went alone: nothing of "b" kept.
    assert await counts(pool) == (3, 3, 3)
    assert await pool.fetchval("SELECT count(*) FROM ingest.postings WHERE external_id = 'b'") == 0


async def test_an_existing_posting_in_a_batch_is_left_to_the_general_path(pool, acme):
    new_postings = NewPostings(pool)
    assert await deliver(new_postings, acme, "known", "msg_1") is not None
    applied = await asyncio.gather(
        deliver(new_postings, acme, "known", "msg_2"),
        deliver(new_postings, acme, "fresh", "msg_3"),
    )
    assert [a is not None for a in applied] == [False, True]
    assert await counts(pool) == (2, 2, 2)


async def test_a_row_the_database_refuses_fails_only_its_own_delivery(pool, acme):
    new_postings = NewPostings(pool)

    def row(company_id):
        return NewPosting(
            posting_id=uuid.uuid4(),
            company_id=company_id,
            external_id=f"x-{uuid.uuid4()}",
            status="open",
            data={"external_id": "x"},
            source_time=NOW,
            webhook_id=f"msg_{uuid.uuid4()}",
            response={},
            event_id=None,
            routing_key=None,
            body=None,
        )

    # One row names no company: the foreign key fails the grouped statement,
    # which is then written again one delivery at a time.
    outcomes = await asyncio.gather(
        new_postings.accept(row(acme.id)),
        new_postings.accept(row(uuid.uuid4())),
        new_postings.accept(row(acme.id)),
        return_exceptions=True,
    )
    assert outcomes[0] is True and outcomes[2] is True
    assert isinstance(outcomes[1], asyncpg.ForeignKeyViolationError)
    assert await counts(pool) == (2, 2, 0)  # these rows carry no event
    # And the next delivery is written as usual.
    assert await new_postings.accept(row(acme.id)) is True
