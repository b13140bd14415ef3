"""Applying a member profile from the community's platform: the member row
(direct identifiers sealed), the consent record and the ``member.changed``
event, in the caller's transaction."""

from __future__ import annotations

import hashlib
import hmac
import json
import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from services.ingest import privacy, queries
from shared import member_companies
from shared.db import Connection
from shared.events import Envelope, MemberChanged, MemberErased
from shared.outbox import enqueue
from shared.sealing import Sealer

SCHEMA = "ingest"
SOURCE = "/ingest/members"
DEFAULT_ZONE = {"IT": "Europe/Rome", "SE": "Europe/Stockholm"}

Outcome = Literal["created", "updated", "unchanged"]


@dataclass(frozen=True)
class MemberResult:
    member_id: uuid.UUID
    external_id: str
    revision: int
    outcome: Outcome

    def to_json(self) -> dict[str, Any]:
        return {
            "member_id": str(self.member_id),
            "external_id": self.external_id,
            "revision": self.revision,
            "outcome": self.outcome,
        }


def profile_of(doc: dict[str, Any]) -> dict[str, Any]:
    """The pseudonymous part of a profile: everything but name and address."""
    locations = doc.get("locations", {})
    notifications = doc.get("notifications", {})
    quiet = notifications.get("quiet_hours")
    country = locations.get("country")
    return {
        "language": doc["language"],
        "timezone": doc.get("timezone") or DEFAULT_ZONE.get(country or "", "Europe/Rome"),
        "desired_roles": doc.get("desired_roles", []),
        "skills": doc.get("skills", []),
        "languages": doc.get("languages", []),
        "cities": locations.get("cities", []),
        "regions": locations.get("regions", []),
        "country": country,
        "remote": doc.get("remote", "no"),
        "seniority": doc.get("seniority"),
        "employer_names": [
            n for n in (doc.get("current_employer"), doc.get("employer_group")) if n
        ],
        "blocked_companies": doc.get("blocked_companies", []),
        "frequency": notifications.get("frequency", "instant"),
        "quiet_hours": [quiet["start"], quiet["end"]] if quiet else [],
    }


def content_hash(key: bytes, doc: dict[str, Any]) -> bytes:
    canonical = json.dumps(doc, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return hmac.new(key, canonical.encode(), hashlib.sha256).digest()


async def upsert_member(
    conn: Connection, sealer: Sealer, hash_key: bytes, external_id: str, doc: dict[str, Any]
) -> MemberResult:
    digest = content_hash(hash_key, doc)
    profile = profile_of(doc)
    opted_in = bool(doc["consent"]["opted_in"])
    for _ in range(2):
        stored = await queries.lock_member(conn, external_id)
        if stored is not None and stored.content_hash == digest:
            return MemberResult(stored.id, external_id, stored.revision, "unchanged")
        sealed = sealer.seal({"email": doc["email"], "name": doc["name"]})
        if stored is None:
            member_id = await queries.insert_member(
                conn, external_id, opted_in, profile, sealed, digest
            )
            if member_id is None:
                continue  # created concurrently: lock it and compare again
            revision, outcome = 1, "created"
        else:
            member_id, revision, outcome = stored.id, stored.revision + 1, "updated"
            await queries.update_member(
                conn, member_id, revision, opted_in, profile, sealed, digest
            )
        consent = doc["consent"]
        await queries.add_consent(
            conn,
            member_id,
            consent["opted_in"],
            datetime.fromisoformat(consent["at"]),
            consent["text_version"],
        )
        event = member_companies.sealed(
            MemberChanged(
                member_id=str(member_id),
                revision=revision,
                opted_in=opted_in,
                sealed_contact=sealed,
                **event_fields(profile),
            ),
            sealer,
        )
        await enqueue(conn, SCHEMA, Envelope.wrap(event, source=SOURCE))
        return MemberResult(member_id, external_id, revision, outcome)  # type: ignore[arg-type]
    raise RuntimeError("member changed concurrently twice")


def event_fields(profile: dict[str, Any]) -> dict[str, Any]:
    return {
        key: tuple(value) if isinstance(value, list) else value for key, value in profile.items()
    }


async def erase_member(conn: Connection, external_id: str) -> uuid.UUID | None:
    """Delete the member here and tell every service (``member.erased``)."""
    member_id = await queries.delete_member(conn, external_id)
    if member_id is not None:
        await privacy.forget(conn, member_id)
        await enqueue(
            conn, SCHEMA, Envelope.wrap(MemberErased(member_id=str(member_id)), source=SOURCE)
        )
    return member_id
