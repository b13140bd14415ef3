"""Ingest's HTTP edge: company webhooks, the member API, the OpenAPI document.

Checks run cheapest first, and nothing is written before a request is known to
be well-formed and authentic: size (413) and content type (415) before reading,
the company (404), the signature (401), the rate (429), the JSON (400) and the
schema (422). Only then does one transaction write the change and its event.
"""

from __future__ import annotations

import contextlib
import hashlib
import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import orjson
from aiohttp import web

from services.ingest import company_cache, jobposting, queries
from services.ingest.bounds import (
    BodyError,
    check_external_id,
    check_webhook_headers,
    drop_sentinels,
    parse_json,
)
from services.ingest.company_cache import CompanyCache
from services.ingest.member_changes import erase_member, upsert_member
from services.ingest.new_postings import NewPostings
from services.ingest.openapi import document
from services.ingest.posting_changes import Applied, accept_new, apply_change
from services.ingest.ratelimit import RateLimiter, retry_after
from services.ingest.schemas import (
    CLOSING,
    WEBHOOK,
    check_member,
    check_posting,
    unstorable,
    validate,
)
from services.ingest.signing import SignatureError, verify
from shared import dlq, logs
from shared.db import transaction
from shared.http import Problem, problem
from shared.metrics import observed_webhook
from shared.sealing import Sealer, SealError, derive_key, sealer_for
from shared.service import Runtime

log = logs.get_logger(__name__)


@dataclass
class Ingest:
    runtime: Runtime
    sealer: Sealer
    member_hash_key: bytes
    limiter: RateLimiter
    new_postings: NewPostings
    companies: CompanyCache


INGEST = web.AppKey("ingest", Ingest)


def _ingest(request: web.Request) -> Ingest:
    return request.app[INGEST]


def _require_json(request: web.Request, limit: int) -> None:
    if request.content_length is not None and request.content_length > limit:
        raise Problem(413, "Payload Too Large", f"The body is over the limit of {limit} bytes.")
    # The header as sent is nearly always exactly this; only another
    # spelling needs aiohttp's parse (parameters, case).
    sent = request.headers.get("Content-Type")
    if sent != "application/json" and request.content_type != "application/json":
        # The type sent is not repeated: a problem body quotes no input.
        raise Problem(415, "Unsupported Media Type", "Content-Type must be application/json.")


def _json(body: bytes) -> Any:
    try:
        return parse_json(body)
    except BodyError as exc:
        raise Problem(400, "Bad Request", exc.reason) from None


def _invalid(errors: list[Any]) -> Problem:
    return Problem(
        422,
        "Unprocessable Content",
        f"{len(errors)} field(s) do not match the schema; see errors.",
        errors=[e.to_json() for e in errors],
    )


async def receive_webhook(request: web.Request) -> web.Response:
    ingest = _ingest(request)
    settings = ingest.runtime.settings
    try:
        company_id = uuid.UUID(request.match_info["company_id"])
    except ValueError:
        raise Problem(404, "Not Found", "No company has this webhook URL.") from None
    reason = check_webhook_headers(request.headers)
    if reason is not None:
        raise Problem(400, "Bad Request", reason)
    company_key = str(company_id)  # canonical: one rate limit however the URL spells it
    logs.bind_more(company_id=company_key, webhook_id=request.headers.get("webhook-id", ""))
    _require_json(request, settings.webhook_max_bytes)
    body = await request.read()
    company, source_time = await _authentic(ingest, company_id, body, request)
    wait = ingest.limiter.take(company_key)
    if wait:
        return problem(
            429,
            "Too Many Requests",
            f"Over {settings.webhook_rate_per_s:g} requests per second.",
            headers={"Retry-After": retry_after(wait)},
        )
    payload = _json(body)
    errors = validate(WEBHOOK, payload)
    if not errors:
        data = payload["data"]
        if payload["type"] != "job.closed" and jobposting.is_jobposting(data):
            # schema.org JSON-LD: mapped first, then checked as a native posting.
            data, errors = jobposting.to_posting(data)
        errors = errors or (
            validate(CLOSING, data, "data") or unstorable(data, ["data"])
            if payload["type"] == "job.closed"
            else check_posting(data)
        )
    if errors:
        raise _invalid(errors)
    drop_sentinels(data)
    webhook_id = request.headers["webhook-id"]
    fresh = await accept_new(
        ingest.new_postings, company, payload["type"], data, source_time, webhook_id
    )
    if fresh is not None:
        return _accepted(fresh)
    try:
        async with transaction(ingest.runtime.pool) as conn:
            applied = await apply_change(conn, company, payload["type"], data, source_time)
            if applied.decision.outcome == "conflict_closed":
                # Nothing changed, and the delivery is not remembered: a
                # later fix under the same id is judged afresh.
                raise Problem(
                    409,
                    "Conflict",
                    "This posting is closed; publish the opening again under a new external_id.",
                    posting_id=applied.posting_id,
                )
            if not await queries.record_delivery(
                conn, company_id, webhook_id, 202, applied.to_json()
            ):
                raise _AlreadyDelivered
    except _AlreadyDelivered:
        # A repeat: whatever it computed is rolled back; the first answer stands.
        async with ingest.runtime.pool.acquire() as conn:
            stored = await queries.stored_response(conn, company_id, webhook_id)
        assert stored is not None
        return _respond(stored[0], stored[1], replayed=True)
    return _accepted(applied)


async def _company(
    ingest: Ingest, company_id: uuid.UUID, *, fresh: bool
) -> tuple[queries.Company, list[str]]:
    try:
        company, secrets = await ingest.companies.get(company_id, fresh=fresh)
    except SealError:
        log.error("company secret cannot be opened: is PASSAPAROLA_SECRET_KEY the right one?")
        raise Problem(503, "Service Unavailable", "Try again later.") from None
    if company is None or company.disabled:
        raise Problem(404, "Not Found", "No company has this webhook URL.")
    return company, secrets


async def _authentic(
    ingest: Ingest, company_id: uuid.UUID, body: bytes, request: web.Request
) -> tuple[queries.Company, datetime]:
    """The live company and the signed time of its authentic delivery."""
    company, secrets = await _company(ingest, company_id, fresh=False)
    try:
        return company, verify(body, request.headers, secrets)
    except SignatureError as exc:
        error = exc
    if error.status == 401:
        # Perhaps a secret rotated a moment ago: judged again on the database's.
        company, secrets = await _company(ingest, company_id, fresh=True)
        with contextlib.suppress(SignatureError):
            return company, verify(body, request.headers, secrets)
    raise Problem(
        error.status, "Unauthorized" if error.status == 401 else "Bad Request", error.reason
    )


def _accepted(applied: Applied) -> web.Response:
    log.info(
        "webhook accepted",
        outcome=applied.decision.outcome,
        posting_id=applied.posting_id,
        revision=applied.decision.revision,
    )
    return _respond(202, applied.to_json(), replayed=False)


class _AlreadyDelivered(Exception):
    """This webhook-id was delivered before (the transaction is rolled back)."""


def _respond(status: int, body: dict[str, Any], *, replayed: bool) -> web.Response:
    headers = {"Idempotent-Replayed": "true"} if replayed else None
    # orjson: the answer's few fields, a few times faster than json.dumps.
    return web.Response(
        body=orjson.dumps(body),
        status=status,
        headers=headers,
        content_type="application/json",
        charset="utf-8",
    )


# --- member API ---------------------------------------------------------------------------


def token_hash(token: str) -> bytes:
    return hashlib.sha256(token.encode()).digest()


async def _authorise(request: web.Request) -> None:
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not token:
        raise Problem(
            401,
            "Unauthorized",
            "Send 'Authorization: Bearer <token>'.",
            headers={"WWW-Authenticate": 'Bearer realm="passaparola"'},
        )
    async with _ingest(request).runtime.pool.acquire() as conn:
        if not await queries.token_valid(conn, token_hash(token.strip())):
            raise Problem(
                401,
                "Unauthorized",
                "The token is unknown or revoked.",
                headers={"WWW-Authenticate": 'Bearer error="invalid_token"'},
            )


def _external_id(request: web.Request) -> str:
    external_id = request.match_info["external_id"]
    if not check_external_id(external_id):
        raise Problem(404, "Not Found", "No member has this id.")
    return external_id


async def put_member(request: web.Request) -> web.Response:
    ingest = _ingest(request)
    await _authorise(request)
    external_id = _external_id(request)
    _require_json(request, ingest.runtime.settings.webhook_max_bytes)
    doc = _json(await request.read())
    errors = check_member(doc)
    if errors:
        raise _invalid(errors)
    with logs.sensitive(doc.get("email"), doc.get("name")):
        async with transaction(ingest.runtime.pool) as conn:
            result = await upsert_member(
                conn, ingest.sealer, ingest.member_hash_key, external_id, doc
            )
    log.info(
        "member saved",
        member_id=str(result.member_id),
        outcome=result.outcome,
        revision=result.revision,
    )
    return web.json_response(result.to_json(), status=201 if result.outcome == "created" else 200)


async def delete_member(request: web.Request) -> web.Response:
    ingest = _ingest(request)
    await _authorise(request)
    external_id = _external_id(request)
    async with transaction(ingest.runtime.pool) as conn:
        member_id = await erase_member(conn, external_id)
    if member_id is None:
        raise Problem(404, "Not Found", "No member has this id (or it was already erased).")
    await forget_dead_letters(ingest.runtime, str(member_id))
    log.info("member erased", member_id=str(member_id))
    return web.Response(status=204)


async def forget_dead_letters(runtime: Runtime, member_id: str) -> None:
    """After the erasure committed: the member's dead letters go too. The
    broker being away does not undo the erasure; the operator is told how to
    finish it."""
    topology = runtime.topology
    queues = [topology.dead_letter_queue(spec) for spec in topology.service_queues()]
    try:
        removed = await dlq.forget_member(runtime.connection, queues, member_id)
    except Exception as exc:
        log.error(
            "dead letters not checked for an erased member; run 'passaparola dlq forget MEMBER_ID'",
            member_id=member_id,
            error=type(exc).__name__,
        )
        return
    if removed:
        log.info("erased member's dead letters removed", member_id=member_id, count=removed)


async def openapi(request: web.Request) -> web.Response:
    return web.json_response(document())


def routes(app: web.Application, runtime: Runtime) -> None:
    settings = runtime.settings
    sealer = sealer_for(settings.secret_keys)
    companies = company_cache.for_runtime(runtime)
    app[INGEST] = Ingest(
        runtime=runtime,
        sealer=sealer,
        member_hash_key=derive_key(settings.secret_key, "member-content/v1"),
        limiter=RateLimiter(settings.webhook_rate_per_s, settings.webhook_burst),
        new_postings=NewPostings(runtime.pool),
        companies=companies,
    )
    app.router.add_post("/v1/hooks/{company_id}", observed_webhook(receive_webhook))
    app.router.add_put("/v1/members/{external_id}", put_member)
    app.router.add_delete("/v1/members/{external_id}", delete_member)
    app.router.add_get("/openapi.json", openapi)
