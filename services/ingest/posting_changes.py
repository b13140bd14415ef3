"""Applying a verified company webhook: the posting row and its event, in the
caller's transaction (the outbox makes the two one)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from services.ingest import queries
from services.ingest.new_postings import NewPosting, NewPostings
from services.ingest.postings import Decision, decide
from shared.db import Connection
from shared.events import Envelope, JobClosed, JobCreated, JobUpdated, Payload
from shared.outbox import enqueue

SCHEMA = "ingest"
SOURCE = "/ingest/webhooks"


@dataclass(frozen=True)
class Applied:
    posting_id: uuid.UUID
    external_id: str
    decision: Decision

    def to_json(self) -> dict[str, Any]:
        return {
            "posting_id": str(self.posting_id),
            "external_id": self.external_id,
            "revision": self.decision.revision,
            "status": self.decision.status,
            "outcome": self.decision.outcome,
        }


async def accept_new(
    new_postings: NewPostings,
    company: queries.Company,
    event_type: str,
    data: dict[str, Any],
    source_time: datetime,
    webhook_id: str,
) -> Applied | None:
    """The common delivery (a new posting under a new webhook-id) without a
    transaction of its own: posting, delivery record and event written by
    ``ingest.accept_new_posting`` (migration 004), grouped with concurrent
    deliveries (``NewPostings``). None when the posting exists or the
    webhook-id was delivered before; then ``apply_change`` decides, in a
    transaction, with the row locked."""
    external_id = data["external_id"]
    decision = decide(None, event_type, data, source_time)
    applied = Applied(uuid.uuid4(), external_id, decision)
    envelope = (
        Envelope.wrap(_payload(decision, applied.posting_id, company, data), source=SOURCE)
        if decision.event is not None
        else None
    )
    done = await new_postings.accept(
        NewPosting(
            posting_id=applied.posting_id,
            company_id=company.id,
            external_id=external_id,
            status=decision.status,
            data=data if decision.status == "open" else {"external_id": external_id},
            source_time=source_time,
            webhook_id=webhook_id,
            response=applied.to_json(),
            event_id=envelope.id if envelope else None,
            routing_key=envelope.type if envelope else None,
            body=envelope.encode() if envelope else None,
        )
    )
    return applied if done else None


async def apply_change(
    conn: Connection,
    company: queries.Company,
    event_type: str,
    data: dict[str, Any],
    source_time: datetime,
) -> Applied:
    external_id = data["external_id"]
    # Most deliveries create a posting: try that first (one statement), and
    # only when it exists already lock it and decide again.
    fresh = decide(None, event_type, data, source_time)
    posting_id = await queries.insert_posting(
        conn,
        company.id,
        external_id,
        fresh.status,
        data if fresh.status == "open" else {"external_id": external_id},
        source_time,
    )
    decision = fresh
    if posting_id is None:
        found = await queries.lock_posting(conn, company.id, external_id)
        if found is None:  # not reachable: postings are never deleted
            raise RuntimeError("posting vanished while locked")
        posting_id, current = found
        decision = decide(current, event_type, data, source_time)
        if decision.event is not None:
            kept = data if decision.status == "open" else current.data
            await queries.update_posting(
                conn, posting_id, decision.revision, decision.status, kept, source_time
            )
        elif decision.outcome == "unchanged":
            await queries.touch_posting_time(conn, posting_id, source_time)
    if decision.event is not None:
        payload = _payload(decision, posting_id, company, data)
        await enqueue(conn, SCHEMA, Envelope.wrap(payload, source=SOURCE))
    return Applied(posting_id, external_id, decision)


def _payload(
    decision: Decision, posting_id: uuid.UUID, company: queries.Company, data: dict[str, Any]
) -> Payload:
    if decision.event == "job.closed":
        return JobClosed(
            posting_id=str(posting_id), company_id=str(company.id), revision=decision.revision
        )
    kind = JobCreated if decision.event == "job.created" else JobUpdated
    location = data.get("location", {})
    salary = data.get("salary") or {}
    return kind(
        posting_id=str(posting_id),
        company_id=str(company.id),
        revision=decision.revision,
        title=data["title"],
        employment_type=data.get("employment_type"),
        city=location.get("city"),
        region=location.get("region"),
        country=location.get("country"),
        remote=data.get("remote", "no"),
        languages_required=tuple(data.get("languages_required", ())),
        languages_nice=tuple(data.get("languages_nice", ())),
        skills=tuple(data.get("skills", ())),
        seniority=data.get("seniority"),
        valid_through=data.get("valid_through"),
        company_name=company.name,
        company_names=company.names,
        apply_url=data.get("how_to_apply", {}).get("url"),
        description=data.get("description"),
        salary_min=salary.get("min"),
        salary_max=salary.get("max"),
        salary_currency=salary.get("currency"),
        salary_period=salary.get("period"),
    )
