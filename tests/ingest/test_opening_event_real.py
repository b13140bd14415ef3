"""The job events carry what a member's opening page shows (payload version 2)."""

from __future__ import annotations

import pytest

from shared.events import Envelope, JobCreated, JobUpdated
from tests.ingest.conftest import posting

pytestmark = pytest.mark.real


async def _events(pool) -> list[Envelope]:
    rows = await pool.fetch("SELECT body FROM ingest.outbox ORDER BY id")
    return [Envelope.decode(bytes(r["body"])) for r in rows]


async def test_description_and_salary_travel_with_the_job(company, send, pool):
    response, _ = await send(company, "job.created", posting())
    assert response.status == 202
    description = "Supporto al CEO.\n\nDue lingue: italiano e inglese."
    without_salary = posting(description=description)
    del without_salary["salary"]
    response, _ = await send(company, "job.updated", without_salary)
    assert response.status == 202
    created, updated = await _events(pool)
    assert created.dataversion == updated.dataversion == 2
    job = created.payload(JobCreated)
    assert job.description == "Supporto al CEO di un gruppo industriale."
    assert (job.salary_min, job.salary_max) == (45000, 55000)
    assert (job.salary_currency, job.salary_period) == ("EUR", "YEAR")
    changed = updated.payload(JobUpdated)
    assert changed.description == description
    assert (changed.salary_min, changed.salary_currency, changed.salary_period) == (None,) * 3
