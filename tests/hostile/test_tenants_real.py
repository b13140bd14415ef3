"""One company's delivery that the database refuses, sent at the same time as
another company's valid ones, fails alone (issue 11, finding 3)."""

from __future__ import annotations

import asyncio

import pytest

from tests.ingest.conftest import posting, signed

pytestmark = pytest.mark.real

POISON = "poison-row"


@pytest.fixture
async def refuses_poison(pool):
    """A fault only the database knows about: this test database (its own
    copy) refuses one external id, so the bad row still reaches the grouped
    write that every input check before it let through."""
    await pool.execute(
        """
        CREATE FUNCTION ingest.test_refuse_poison() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
          IF NEW.external_id = 'poison-row' THEN
            RAISE EXCEPTION 'refused by the test' USING ERRCODE = 'check_violation';
          END IF;
          RETURN NEW;
        END $$;
        CREATE TRIGGER test_refuse_poison BEFORE INSERT ON ingest.postings
          FOR EACH ROW EXECUTE FUNCTION ingest.test_refuse_poison();
        """
    )


async def test_a_poisoned_webhook_fails_alone_among_another_companys(
    client, make_company, refuses_poison, pool
):
    a = await make_company("Attacker S.r.l.")
    b = await make_company("Bystander AB")

    async def send(company, external_id):
        body, headers = signed(company, "job.created", posting(external_id))
        response = await client.post(company.url, data=body, headers=headers)
        return company, response.status

    for round_ in range(3):  # several rounds, so the poison lands in shared batches
        valid = [send(b, f"b-{round_}-{i}") for i in range(12)]
        results = await asyncio.gather(*valid[:6], send(a, POISON), *valid[6:])
        assert [status for company, status in results if company is b] == [202] * 12
        assert [status >= 400 for company, status in results if company is a] == [True]
    assert await pool.fetchval("SELECT count(*) FROM ingest.postings") == 36
    assert (
        await pool.fetchval("SELECT count(*) FROM ingest.postings WHERE external_id = $1", POISON)
        == 0
    )
