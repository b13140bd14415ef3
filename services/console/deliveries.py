"""The console's Deliveries page: emails, forwards and referrals that failed
for good or are stuck (still retrying after PASSAPAROLA_DELIVERY_STUCK_AFTER_S),
by service and kind.

Like the overview, it reads each service's ``/metrics``
(``passaparola_deliveries``), never another service's tables: the console
shows counts; ``passaparola deliveries list`` shows the rows (ids, states and
reasons, never an address) and ``passaparola deliveries retry`` sends one again.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Protocol

from aiohttp import web

from services.console.overview import Overview

TEMPLATE = """{% extends "layout" %}
{% block title %}Deliveries · passaparola console{% endblock %}
{% block main %}{% if error %}<div class="flash error" role="alert">{{ error }}</div>{% endif %}
<section><h2>Deliveries that need an operator</h2>
<p class="muted">Failed: refused for good or retries used up; sent again with
<code>passaparola deliveries retry KIND ID</code>. Stuck: still retrying after
{{ stuck_after }}. The rows, with their reasons: <code>passaparola deliveries list</code>.</p>
<table><thead><tr><th>Service</th><th>Kind</th><th class="n">Failed</th>
<th class="n">Stuck</th></tr></thead><tbody>
{% for r in rows %}<tr><td>{{ r.service }}</td><td>{{ r.kind }}</td>
<td class="n"><span class="badge {{ 'bad' if r.failed else 'ok' }}">{{ r.failed }}</span></td>
<td class="n"><span class="badge {{ 'warn' if r.stuck else 'ok' }}">{{ r.stuck }}</span></td></tr>
{% else %}<tr><td colspan="4" class="muted">No service reports deliveries yet.</td></tr>
{% endfor %}</tbody></table></section>
{% endblock %}
"""


@dataclass(frozen=True)
class Row:
    service: str
    kind: str
    failed: int
    stuck: int


def rows(overview: Overview | None) -> list[Row]:
    found: list[Row] = []
    for service in overview.services if overview else []:
        counts = {(d.kind, d.state): d.count for d in service.deliveries}
        for kind in sorted({k for k, _ in counts}):
            found.append(
                Row(
                    service.name,
                    kind,
                    counts.get((kind, "failed"), 0),
                    counts.get((kind, "stuck"), 0),
                )
            )
    return found


class _Console(Protocol):
    runtime: Any

    async def overview(self) -> tuple[Overview | None, str | None]: ...

    def csrf(self, sid: str) -> str: ...

    def render(self, name: str, status: int = 200, **values: Any) -> web.Response: ...


def page(
    console_of: Callable[[web.Request], _Console],
) -> Callable[[web.Request], Awaitable[web.StreamResponse]]:
    async def view(request: web.Request) -> web.StreamResponse:
        console = console_of(request)
        overview, error = await console.overview()
        stuck_after_s = console.runtime.settings.delivery_stuck_after_s
        return console.render(
            "deliveries",
            authenticated=True,
            csrf=console.csrf(request["sid"]),
            rows=rows(overview),
            error=error,
            stuck_after=f"{stuck_after_s // 60} min",
        )

    return view
