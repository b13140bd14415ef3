"""The baseline for the ingest benchmark: an aiohttp endpoint that only
verifies the Standard Webhooks signature and answers 202 (no database, no
schema, no outbox).

    bare_webhook.py SECRET PORT [READY_PORT]

The port is bound with SO_REUSEPORT, so the benchmark can start as many of
these as it starts ingest processes; each answers /readyz on its own
READY_PORT too, so each one's readiness can be told apart."""

from __future__ import annotations

import asyncio
import signal
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


async def serve(secret: str, port: int, ready_port: int | None) -> None:
    runner = web.AppRunner(app(secret), access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", port, reuse_port=True).start()
    if ready_port is not None:
        await web.TCPSite(runner, "127.0.0.1", ready_port).start()
    stop = asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        asyncio.get_running_loop().add_signal_handler(sig, stop.set)
    await stop.wait()
    await runner.cleanup()


if __name__ == "__main__":
    ready = int(sys.argv[3]) if len(sys.argv) > 3 else None
    asyncio.run(serve(sys.argv[1], int(sys.argv[2]), ready))
