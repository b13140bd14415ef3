"""Applying a member profile from the community's platform: the member row
(direct identifiers sealed), the consent record and the ``member.changed``
event, in the caller's transaction."""

from __future__ import annotations

import hashlib
import hmac
import json
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from services.ingest import privacy, queries
from shared import member_companies
from shared.db import Connection
from shared.events import Envelope, MemberChanged, MemberErased
from shared.outbox import enqueue, enqueue_many
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
        event = changed_event(sealer, member_id, revision, opted_in, profile, sealed)
        await enqueue(conn, SCHEMA, event)
        return MemberResult(member_id, external_id, revision, outcome)  # type: ignore[arg-type]
    raise RuntimeError("member changed concurrently twice")


def changed_event(
    sealer: Sealer,
    member_id: uuid.UUID,
    revision: int,
    opted_in: bool,
    profile: dict[str, Any],
    sealed_contact: str,
) -> Envelope:
    """The ``member.changed`` of a stored revision, its companies sealed."""
    event = member_companies.sealed(
        MemberChanged(
            member_id=str(member_id),
            revision=revision,
            opted_in=opted_in,
            sealed_contact=sealed_contact,
            **event_fields(profile),
        ),
        sealer,
    )
    return Envelope.wrap(event, source=SOURCE)


async def upsert_members(
    conn: Connection,
    sealer: Sealer,
    hash_key: bytes,
    members: Sequence[tuple[str, dict[str, Any]]],
) -> list[MemberResult]:
    """``upsert_member`` for many members (distinct external ids: a CSV
    import's batch), with a handful of statements for the whole batch
    instead of four per member: their rows locked and compared at once,
    the new ones inserted, the changed ones updated, their consents and
    their events written, each in one statement. The outcome per member is
    the one ``upsert_member`` gives; a member created by someone else
    between the lock and the insert takes ``upsert_member`` itself (which
    locks it and compares again). Results in the order given."""
    digests = [content_hash(hash_key, doc) for _external_id, doc in members]
    stored = await queries.lock_members(conn, [external_id for external_id, _doc in members])
    results: list[MemberResult | None] = []
    inserts: list[queries.NewMember] = []
    updates: list[queries.NewMember] = []
    events: list[tuple[int, queries.NewMember, dict[str, Any]]] = []
    for position, ((external_id, doc), digest) in enumerate(zip(members, digests, strict=True)):
        known = stored.get(external_id)
        if known is not None and known.content_hash == digest:
            results.append(MemberResult(known.id, external_id, known.revision, "unchanged"))
            continue
        row = queries.NewMember(
            id=uuid.uuid4() if known is None else known.id,
            external_id=external_id,
            revision=1 if known is None else known.revision + 1,
            opted_in=bool(doc["consent"]["opted_in"]),
            profile=profile_of(doc),
            sealed_contact=sealer.seal({"email": doc["email"], "name": doc["name"]}),
            content_hash=digest,
        )
        (inserts if known is None else updates).append(row)
        events.append((position, row, doc))
        results.append(None)  # filled once the row is written
    created = await queries.insert_members(conn, inserts)
    await queries.update_members(conn, updates)
    raced: list[int] = []
    written: list[tuple[queries.NewMember, dict[str, Any]]] = []
    for position, row, doc in events:
        if row.revision == 1 and row.external_id not in created:
            raced.append(position)
            continue
        outcome: Outcome = "created" if row.revision == 1 else "updated"
        results[position] = MemberResult(row.id, row.external_id, row.revision, outcome)
        written.append((row, doc))
    await queries.add_consents(
        conn,
        [
            (
                row.id,
                bool(doc["consent"]["opted_in"]),
                datetime.fromisoformat(doc["consent"]["at"]),
                doc["consent"]["text_version"],
            )
            for row, doc in written
        ],
    )
    await enqueue_many(
        conn,
        SCHEMA,
        [
            changed_event(
                sealer, row.id, row.revision, row.opted_in, row.profile, row.sealed_contact
            )
            for row, _doc in written
        ],
    )
    for position in raced:
        external_id, doc = members[position]
        results[position] = await upsert_member(conn, sealer, hash_key, external_id, doc)
    return [result for result in results if result is not None]


async def republish(
    conn: Connection, sealer: Sealer, after: uuid.UUID | None, limit: int
) -> tuple[int, uuid.UUID | None]:
    """Tell every service again what it was last told: the ``member.changed``
    of each member's stored revision, for the next ``limit`` members after
    ``after``. Returns how many, and the last id (None at the end).

    The revision is not raised, so nothing changes for a service that has it:
    the matcher ignores an equal revision, the notifier stores the same
    profile again. A service that kept less than the event carries (the
    notifier before it kept the profile for the preference page) gets it."""
    members = await queries.members_after(conn, after, limit)
    await enqueue_many(
        conn,
        SCHEMA,
        [
            changed_event(sealer, m.id, m.revision, m.opted_in, m.profile, m.sealed_contact)
            for m in members
        ],
    )
    return len(members), (members[-1].id if len(members) == limit else None)


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
