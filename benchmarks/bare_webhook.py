"""The baseline for the ingest benchmark: an aiohttp endpoint that only
verifies the Standard Webhooks signature and answers 202 (no database, no
schema, no outbox)."""

from __future__ import annotations

import sys

from aiohttp import web
from standardwebhooks import Webhook, WebhookVerificationError


def app(secret: str) -> web.Application:
    webhook = Webhook(secret)

    async def receive(request: web.Request) -> web.Response:
        body = await request.read()
        try:
            webhook.verify(body, dict(request.headers), json_parse=False)
        except (WebhookVerificationError, ValueError):
            return web.Response(status=401)
        return web.json_response({"accepted": True}, status=202)

    async def ready(_: web.Request) -> web.Response:
        return web.json_response({"status": "ready"})

    application = web.Application()
    application.router.add_post("/v1/hooks/{company_id}", receive)
    application.router.add_get("/readyz", ready)
    return application


if __name__ == "__main__":
    web.run_app(
        app(sys.argv[1]), host="127.0.0.1", port=int(sys.argv[2]), access_log=None, print=None
    )
