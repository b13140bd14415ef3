"""Applying a verified company webhook: the posting row and its event, in the
caller's transaction (the outbox makes the two one)."""

from __future__ import annotations

import json
import os
import time
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import orjson

from services.ingest import queries
from services.ingest.new_postings import NewPosting, NewPostings
from services.ingest.postings import Decision, decide
from shared.db import Connection
from shared.events import SPECVERSION, Envelope, JobClosed, JobCreated, JobUpdated, Payload
from shared.outbox import enqueue

SCHEMA = "ingest"
SOURCE = "/ingest/webhooks"


@dataclass(frozen=True, slots=True)
class Applied:
    posting_id: str
    external_id: str
    decision: Decision

    def to_json(self) -> dict[str, Any]:
        return {
            "posting_id": self.posting_id,
            "external_id": self.external_id,
            "revision": self.decision.revision,
            "status": self.decision.status,
            "outcome": self.decision.outcome,
        }


_VARIANT = "89ab" * 4


def random_uuid() -> str:
    """A version 4 UUID's text, from the same 16 random bytes ``uuid.uuid4``
    reads (as unguessable), without building a ``UUID`` and formatting it
    through an integer: a quarter of the cost, and a webhook makes two."""
    h = os.urandom(16).hex()
    # The version (4) and the variant (10xx) bits, as uuid4 sets them.
    return f"{h[:8]}-{h[8:12]}-4{h[13:16]}-{_VARIANT[int(h[16], 16)]}{h[17:20]}-{h[20:]}"


_second: tuple[int, str] = (-1, "")


def _event_time() -> str:
    """Now, as ``Envelope.wrap`` writes it (UTC, milliseconds, "Z"), with the
    date and time formatted once a second rather than once an event."""
    global _second
    now = time.time()
    whole = int(now)
    second = _second
    if second[0] != whole:
        second = _second = (whole, time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(whole)))
    return f"{second[1]}.{int((now - whole) * 1000):03d}Z"


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
    applied = Applied(random_uuid(), external_id, decision)
    event_id = body = None
    if decision.event is not None:  # a new open posting: job.created
        event_id = random_uuid()
        body = created_event(event_id, applied.posting_id, company, data)
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
            event_id=event_id,
            routing_key=decision.event,
            body=body,
        )
    )
    return applied if done else None


def created_event(
    event_id: str, posting_id: str, company: queries.Company, data: dict[str, Any]
) -> bytes:
    """The ``job.created`` event of a new posting, encoded: the JSON of
    ``Envelope.wrap(JobCreated(...)).encode()``, built as plain dicts (the
    dataclasses, their copy into dicts and the envelope's were a tenth of a
    webhook's cost). A test holds the two equal, field for field and byte
    for byte."""
    envelope = {
        "specversion": SPECVERSION,
        "id": event_id,
        "source": SOURCE,
        "type": JobCreated.TYPE,
        "time": _event_time(),
        "datacontenttype": "application/json",
        "dataversion": JobCreated.VERSION,
        "data": _job_fields(posting_id, 1, company, data),
    }
    try:
        return orjson.dumps(envelope)
    except TypeError:  # what orjson declines, as Envelope.encode
        return json.dumps(envelope, separators=(",", ":"), ensure_ascii=False).encode()


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
        payload = _payload(decision, str(posting_id), company, data)
        await enqueue(conn, SCHEMA, Envelope.wrap(payload, source=SOURCE))
    return Applied(str(posting_id), external_id, decision)


def _payload(
    decision: Decision, posting_id: str, company: queries.Company, data: dict[str, Any]
) -> Payload:
    if decision.event == "job.closed":
        return JobClosed(
            posting_id=posting_id, company_id=str(company.id), revision=decision.revision
        )
    kind = JobCreated if decision.event == "job.created" else JobUpdated
    fields = _job_fields(posting_id, decision.revision, company, data)
    # Tuples, as the payload's fields are typed (JSON writes lists alike).
    for name in ("languages_required", "languages_nice", "skills", "company_names"):
        fields[name] = tuple(fields[name])
    return kind(**fields)


def _job_fields(
    posting_id: str, revision: int, company: queries.Company, data: dict[str, Any]
) -> dict[str, Any]:
    """A job event's payload fields from a posting, in the contract's order
    (``JobPosting``)."""
    location = data.get("location", {})
    salary = data.get("salary") or {}
    return {
        "posting_id": posting_id,
        "company_id": str(company.id),
        "revision": revision,
        "title": data["title"],
        "employment_type": data.get("employment_type"),
        "city": location.get("city"),
        "region": location.get("region"),
        "country": location.get("country"),
        "remote": data.get("remote", "no"),
        "languages_required": data.get("languages_required", []),
        "languages_nice": data.get("languages_nice", []),
        "skills": data.get("skills", []),
        "seniority": data.get("seniority"),
        "valid_through": data.get("valid_through"),
        "company_name": company.name,
        "company_names": company.names,
        "apply_url": data.get("how_to_apply", {}).get("url"),
        "description": data.get("description"),
        "salary_min": salary.get("min"),
        "salary_max": salary.get("max"),
        "salary_currency": salary.get("currency"),
        "salary_period": salary.get("period"),
    }
