"""A signed webhook whose data is a schema.org JobPosting, through the real
ingest app and database: stored with its language, salary and employment
type, announced to the matcher; refused by name when it cannot be mapped."""

from __future__ import annotations

import json

import pytest

from shared.events import Envelope, JobCreated
from tests.ingest.test_jobposting import ld

pytestmark = pytest.mark.real


async def test_a_jobposting_webhook_is_stored_as_a_posting(company, send, pool):
    response, body = await send(company, "job.created", ld())
    assert response.status == 202, body
    assert body["outcome"] == "created"
    stored = await pool.fetchrow(
        "SELECT external_id, data FROM ingest.postings WHERE id = $1::uuid", body["posting_id"]
    )
    data = stored["data"] if isinstance(stored["data"], dict) else json.loads(stored["data"])
    assert stored["external_id"] == "FB-2026-014"
    assert data["language"] == "it"
    assert data["salary"] == {"currency": "EUR", "min": 38000, "max": 45000, "period": "YEAR"}
    assert data["employment_type"] == "FULL_TIME"
    (row,) = await pool.fetch("SELECT body FROM ingest.outbox WHERE routing_key = 'job.created'")
    job = Envelope.from_json(json.loads(row["body"])).payload(JobCreated)
    assert (job.title, job.city, job.country) == ("Assistente di Direzione", "Milano", "IT")
    assert job.apply_url == "https://careers.example.it/fb-2026-014"

    # The same opening updated through the same format keeps its id.
    changed = ld(title="Assistente di Direzione Senior")
    response, again = await send(company, "job.updated", changed)
    assert response.status == 202, again
    assert again["posting_id"] == body["posting_id"]


async def test_a_jobposting_that_cannot_be_mapped_is_a_422_naming_the_property(company, send, pool):
    weekly = ld(baseSalary={"currency": "EUR", "value": {"value": 612, "unitText": "WEEK"}})
    response, body = await send(company, "job.created", weekly)
    assert response.status == 422
    assert response.headers["Content-Type"].startswith("application/problem+json")
    assert [e["field"] for e in body["errors"]] == ["data.baseSalary.value.unitText"]
    assert "612" not in json.dumps(body)
    assert await pool.fetchval("SELECT count(*) FROM ingest.postings") == 0
