"""The console's quarantine page: records that made a background task fail
(shared/quarantine.py), each with its reason, and the operator's retry.

A retry is recorded in the audit log as a ``replay`` of ``quarantine:<task>``
(it is one: the record goes back to its task)."""

from __future__ import annotations

from aiohttp import web

from services.console import audit
from services.console.views import CONSOLE, View, signed_in, state_changing
from shared import logs, quarantine

log = logs.get_logger(__name__)

TEMPLATE = """{% extends "layout" %}
{% block title %}Quarantine · passaparola console{% endblock %}
{% block main %}<section><h2>Records set aside by background tasks</h2>
<p class="muted">Each made its task fail; the others kept flowing. Fix the cause
(the reason is the error's class; the service's log has the rest), then retry:
the task takes the record again on its next round.</p>
{% if flash %}<p class="flash">{{ flash }}</p>{% endif %}
<table><thead><tr><th>Service</th><th>Task</th><th>Record</th><th>Reason</th>
<th class="n">Failures</th><th>First (UTC)</th><th>Last (UTC)</th><th></th></tr></thead><tbody>
{% for h in held %}<tr><td>{{ h.service }}</td><td>{{ h.task }}</td>
<td><code>{{ h.record_id }}</code></td>
<td>{{ h.reason }}</td><td class="n">{{ h.failures }}</td>
<td>{{ h.first_failed_at.strftime('%Y-%m-%d %H:%M:%S') }}</td>
<td>{{ h.last_failed_at.strftime('%Y-%m-%d %H:%M:%S') }}</td>
<td><form method="post" action="/quarantine/retry">
<input type="hidden" name="csrf" value="{{ csrf }}">
<input type="hidden" name="id" value="{{ h.id }}"><button class="primary">Retry</button></form></td>
</tr>{% else %}<tr><td colspan="8" class="muted">Nothing held.</td></tr>{% endfor %}
</tbody></table></section>{% endblock %}
"""


async def page(request: web.Request) -> web.StreamResponse:
    console = request.app[CONSOLE]
    async with console.runtime.pool.acquire() as conn:
        held = await quarantine.listing(conn)
    flash = {"1": "Handed back to its task.", "0": "That record is not held any more."}
    return console.render(
        "quarantine",
        authenticated=True,
        csrf=console.csrf(request["sid"]),
        held=held,
        flash=flash.get(request.query.get("done", ""), ""),
    )


async def retry(request: web.Request) -> web.StreamResponse:
    console = request.app[CONSOLE]
    try:
        held_id = int(str(request["form"].get("id", "")))
    except ValueError:
        raise web.HTTPBadRequest(text="Which record?") from None
    async with console.runtime.pool.acquire() as conn, conn.transaction():
        row = await conn.fetchrow(
            "SELECT task, record_id FROM shared.quarantine WHERE id = $1", held_id
        )
        released = row is not None and await quarantine.release(conn, held_id)
        if row is not None:
            await audit.record(
                conn,
                "replay",
                queue=f"quarantine:{row['task']}",
                message_ids=[row["record_id"]],
                requested=1,
                done=int(released),
                remote=(request.remote or "")[:64],
            )
    log.info("console quarantine retry", held_id=held_id, done=released)
    raise web.HTTPSeeOther(f"/quarantine?done={int(released)}")


def routes(app: web.Application) -> None:
    # The page's template joins the console's own (assets.environment).
    app[CONSOLE].templates.loader.mapping["quarantine"] = TEMPLATE
    guarded: View = signed_in(page)
    app.router.add_get("/quarantine", guarded)
    app.router.add_post("/quarantine/retry", state_changing(retry))
