"""The community platform's privacy endpoints (same bearer tokens as the member API).

``POST /v1/members/{external_id}/export`` starts an export and answers 202
with its URL; ``GET /v1/exports/{export_id}`` answers 202 (with
``Retry-After``) until every service has sent its part, then 200 with the
whole document, once: the assembled copy is not kept, and the hand-over is
written to the audit log under the token's label.
"""

from __future__ import annotations

import uuid

from aiohttp import web

from services.ingest import privacy
from services.ingest.bounds import check_external_id
from services.ingest.views import INGEST, token_hash
from shared import logs
from shared.db import transaction
from shared.http import Problem

log = logs.get_logger(__name__)


async def _token_label(request: web.Request) -> str:
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not token:
        raise Problem(
            401,
            "Unauthorized",
            "Send 'Authorization: Bearer <token>'.",
            headers={"WWW-Authenticate": 'Bearer realm="passaparola"'},
        )
    async with request.app[INGEST].runtime.pool.acquire() as conn:
        label = await conn.fetchval(
            "SELECT label FROM ingest.api_tokens WHERE token_hash = $1 AND revoked_at IS NULL",
            token_hash(token.strip()),
        )
    if label is None:
        raise Problem(
            401,
            "Unauthorized",
            "The token is unknown or revoked.",
            headers={"WWW-Authenticate": 'Bearer error="invalid_token"'},
        )
    return f"token:{label}"


async def start_export(request: web.Request) -> web.Response:
    actor = await _token_label(request)
    external_id = request.match_info["external_id"]
    if not check_external_id(external_id):  # NUL, a surrogate, 10 kB: no such member
        raise Problem(404, "Not Found", "No member has this id.")
    try:
        async with transaction(request.app[INGEST].runtime.pool) as conn:
            export_id = await privacy.request_export(conn, external_id, actor)
    except privacy.UnknownMember:
        raise Problem(404, "Not Found", "No member has this id.") from None
    location = f"/v1/exports/{export_id}"
    log.info("member export requested", export_id=str(export_id))
    return web.json_response(
        {"export_id": str(export_id), "status": "pending", "location": location},
        status=202,
        headers={"Location": location, "Retry-After": "1"},
    )


async def get_export(request: web.Request) -> web.Response:
    actor = await _token_label(request)
    try:
        export_id = uuid.UUID(request.match_info["export_id"])
    except ValueError:
        raise Problem(404, "Not Found", "No export has this id.") from None
    ingest = request.app[INGEST]
    async with transaction(ingest.runtime.pool) as conn:
        try:
            document, missing = await privacy.export_status(conn, export_id, ingest.sealer)
        except privacy.UnknownExport:
            raise Problem(404, "Not Found", "No export has this id (or it was read).") from None
        if document is None:
            return web.json_response(
                {"export_id": str(export_id), "status": "pending", "waiting_for": missing},
                status=202,
                headers={"Retry-After": "1"},
            )
        await privacy.finish_export(conn, export_id, actor, document["member_id"])
    log.info("member export handed over", export_id=str(export_id))
    return web.json_response(document, headers={"Cache-Control": "no-store"})


def routes(app: web.Application) -> None:
    """Added after ``views.routes`` (which creates the INGEST state)."""
    app.router.add_post("/v1/members/{external_id}/export", start_export)
    app.router.add_get("/v1/exports/{export_id}", get_export)
