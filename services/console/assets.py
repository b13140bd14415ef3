"""The console's pages, stylesheet and script: served by the console itself
(no external JavaScript or CSS, and a Content-Security-Policy that allows
nothing else)."""

from __future__ import annotations

from jinja2 import DictLoader, Environment, select_autoescape

from services.console.deliveries import TEMPLATE as DELIVERIES

CSS = """
:root { --ink:#1d2430; --muted:#5b6575; --line:#d9dee6; --bg:#f5f7fa; --card:#fff;
  --ok:#1f7a3f; --warn:#a15c00; --bad:#b3261e; --accent:#2f5da8; }
* { box-sizing: border-box; }
body { margin:0; font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;
  color:var(--ink); background:var(--bg); }
header { display:flex; align-items:center; gap:1.5rem; padding:.7rem 1.5rem;
  background:#1d2430; color:#fff; }
header h1 { font-size:1.05rem; margin:0; font-weight:600; letter-spacing:.02em; }
header nav a { color:#cfd8e6; text-decoration:none; margin-right:1rem; }
header nav a:hover { color:#fff; }
header form { margin-left:auto; }
header button { background:transparent; color:#cfd8e6; border:1px solid #56627a;
  border-radius:4px; padding:.25rem .7rem; cursor:pointer; }
main { max-width:1200px; margin:1.2rem auto; padding:0 1.5rem; }
section { background:var(--card); border:1px solid var(--line); border-radius:6px;
  padding:1rem 1.2rem; margin-bottom:1.2rem; }
h2 { font-size:1rem; margin:0 0 .7rem; }
table { width:100%; border-collapse:collapse; }
th, td { text-align:left; padding:.35rem .5rem; border-bottom:1px solid var(--line);
  vertical-align:top; }
th { font-weight:600; color:var(--muted); font-size:.85rem; }
td.n, th.n { text-align:right; font-variant-numeric:tabular-nums; }
tr.retry td { color:var(--muted); }
.badge { display:inline-block; padding:0 .45rem; border-radius:9px; font-size:.8rem;
  font-weight:600; }
.ok { color:var(--ok); } .warn { color:var(--warn); } .bad { color:var(--bad); }
.badge.bad { background:#fbe9e7; } .badge.ok { background:#e7f4ec; }
.badge.warn { background:#fff3e0; }
.muted { color:var(--muted); font-size:.85rem; }
.flash { padding:.6rem .9rem; border-radius:5px; background:#e7f4ec; color:var(--ok);
  margin-bottom:1rem; border:1px solid #b9dcc6; }
.flash.error { background:#fbe9e7; color:var(--bad); border-color:#f0c2bd; }
.actions { display:flex; gap:.6rem; margin-top:.8rem; }
button.primary, button.danger { border:0; border-radius:4px; padding:.45rem 1rem;
  color:#fff; cursor:pointer; font-weight:600; }
button.primary { background:var(--accent); } button.danger { background:var(--bad); }
code { font-size:.85rem; background:#eef1f5; padding:0 .25rem; border-radius:3px; }
.login { max-width:360px; margin:12vh auto; }
.login input { width:100%; padding:.5rem; margin:.4rem 0 1rem; border:1px solid var(--line);
  border-radius:4px; font-size:1rem; }
.grid { display:grid; grid-template-columns:repeat(auto-fit,minmax(260px,1fr)); gap:1.2rem; }
"""

JS = """
// Live overview: the server renders the fragment; this only swaps it in.
(function () {
  var live = document.getElementById('live');
  if (!live) { return; }
  var every = parseInt(live.getAttribute('data-refresh-ms'), 10) || 5000;
  function refresh() {
    fetch('/fragment/overview', {credentials: 'same-origin', cache: 'no-store'})
      .then(function (r) {
        if (r.status === 401) { window.location = '/login'; return null; }
        return r.ok ? r.text() : null;
      })
      .then(function (html) { if (html !== null) { live.innerHTML = html; } })
      .catch(function () {})
      .then(function () { setTimeout(refresh, every); });
  }
  setTimeout(refresh, every);
})();
"""

LAYOUT = """<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{% block title %}passaparola console{% endblock %}</title>
<link rel="stylesheet" href="/static/console.css"></head>
<body>
{% if authenticated %}
<header><h1>passaparola · operator console</h1>
<nav><a href="/">Overview</a><a href="/deliveries">Deliveries</a>
<a href="/quarantine">Quarantine</a><a href="/audit">Audit log</a></nav>
<form method="post" action="/logout"><input type="hidden" name="csrf" value="{{ csrf }}">
<button type="submit">Sign out</button></form></header>
{% endif %}
<main>{% block main %}{% endblock %}</main>
<script src="/static/console.js"></script>
</body></html>
"""

LOGIN = """{% extends "layout" %}
{% block title %}Sign in · passaparola console{% endblock %}
{% block main %}<section class="login"><h2>Operator console</h2>
{% if error %}<div class="flash error" role="alert">{{ error }}</div>{% endif %}
<form method="post" action="/login">
<label for="password">Operator password</label>
<input id="password" name="password" type="password" autocomplete="current-password" autofocus>
<button class="primary" type="submit">Sign in</button></form></section>{% endblock %}
"""

OVERVIEW = """{% extends "layout" %}
{% block main %}<div id="live" data-refresh-ms="{{ refresh_ms }}">{% include "live" %}</div>
{% endblock %}
"""

LIVE = """{% if error %}<div class="flash error" role="alert">{{ error }}</div>{% endif %}
<p class="muted">Namespace <code>{{ namespace }}</code> · updated {{ updated }} UTC ·
refreshes every {{ refresh_ms // 1000 }} s</p>
<div class="grid">
<section><h2>RabbitMQ nodes
{% if connections is not none %} · {{ connections }} connection(s){% endif %}</h2>
{% if nodes_error %}<p class="muted">{{ nodes_error }}</p>{% endif %}
<table><thead><tr><th>Node</th><th>State</th><th class="n">Memory</th>
<th class="n">Disk free</th></tr></thead>
<tbody>{% for n in nodes %}<tr><td><code>{{ n.name }}</code></td>
<td>{% if not n.running %}<span class="badge bad">down</span>
{% elif n.mem_alarm or n.disk_alarm %}<span class="badge bad" role="alert">
{{ 'memory alarm ' if n.mem_alarm }}{{ 'disk alarm ' if n.disk_alarm }}(publishers blocked)</span>
{% else %}<span class="badge ok">ok</span>{% endif %}</td>
<td class="n">{{ n.mem_used|bytes }} of {{ n.mem_limit|bytes }}</td>
<td class="n">{{ n.disk_free|bytes }} (alarm under {{ n.disk_free_limit|bytes }})</td></tr>
{% else %}<tr><td colspan="4" class="muted">No node reported.</td></tr>
{% endfor %}</tbody></table></section>
<section><h2>Outbox (events waiting to be published)</h2>
<table><thead><tr><th>Service</th><th class="n">Depth</th><th class="n">Oldest</th></tr></thead>
<tbody>{% for s in services %}<tr><td>{{ s.name }}</td>
{% if s.error %}<td colspan="2" class="n bad">{{ s.error }}</td>
{% elif s.outbox_depth is none %}<td colspan="2" class="n muted">no outbox</td>
{% else %}<td class="n">{{ s.outbox_depth|int }}</td>
<td class="n {{ 'bad' if s.outbox_age_s > 60 else ('warn' if s.outbox_age_s > 5 else 'ok') }}">
{{ s.outbox_age_s|duration }}</td>{% endif %}</tr>{% endfor %}</tbody></table></section>
<section><h2>Throughput, {{ window }}</h2>
<table><thead><tr><th>Service</th><th class="n">Webhooks accepted</th>
<th class="n">Events handled</th>
<th class="n">Events published</th><th class="n">Dead-lettered</th></tr></thead>
<tbody>{% for s in services %}{% set t = throughput.get(s.name, {}) %}<tr><td>{{ s.name }}</td>
<td class="n">{{ t.get('webhooks', 0)|int }}</td><td class="n">{{ t.get('handled', 0)|int }}</td>
<td class="n">{{ t.get('published', 0)|int }}</td>
{% set dead = t.get('dead_lettered', 0)|int %}
<td class="n {{ 'bad' if dead else '' }}">{{ dead }}</td>
</tr>{% endfor %}</tbody></table></section>
</div>
<section><h2>Dead-letter queues</h2>
<table><thead><tr><th>Queue</th><th class="n">Messages</th><th></th></tr></thead><tbody>
{% for q in dead_letter_queues %}<tr><td><code>{{ q.name }}</code></td>
<td class="n"><span class="badge {{ 'bad' if q.messages else 'ok' }}">{{ q.messages }}</span></td>
<td>{% if q.service in browsable %}<a href="/dlq/{{ q.service }}">Browse</a>{% endif %}</td></tr>
{% else %}<tr><td colspan="3" class="muted">No dead-letter queue declared yet.</td></tr>
{% endfor %}</tbody></table></section>
<section><h2>Queues</h2>
<table><thead><tr><th>Queue</th><th class="n">Ready</th><th class="n">Unacked</th>
<th class="n">Consumers</th><th class="n">In /s</th><th class="n">Delivered /s</th>
<th class="n">Acked /s</th></tr></thead><tbody>
{% for q in queues %}<tr class="{{ q.kind }}"><td><code>{{ q.name }}</code></td>
<td class="n">{{ q.ready }}</td><td class="n">{{ q.unacked }}</td>
<td class="n">{% if q.kind == 'main' %}<span class="badge {{ 'ok' if q.consumers else 'bad' }}">
{{ q.consumers }}</span>{% else %}{{ q.consumers }}{% endif %}</td>
<td class="n">{{ '%.1f'|format(q.publish_rate) }}</td>
<td class="n">{{ '%.1f'|format(q.deliver_rate) }}</td>
<td class="n">{{ '%.1f'|format(q.ack_rate) }}</td></tr>
{% endfor %}</tbody></table></section>
"""

DLQ = """{% extends "layout" %}
{% block title %}{{ queue }} · passaparola console{% endblock %}
{% block main %}
{% if flash %}<div class="flash" role="status">{{ flash }}</div>{% endif %}
<section><h2>Dead letters of <code>{{ queue }}</code></h2>
<p class="muted">Ids and the failure reason only; personal data is never shown.
Replay sends a message back to the queue it failed on; discard removes it for good.
Both are written to the <a href="/audit">audit log</a>.</p>
{% if letters %}
<form method="post" action="/dlq/{{ service }}/act">
<input type="hidden" name="csrf" value="{{ csrf }}">
<table><thead><tr><th></th><th>Message id</th><th>Event</th><th>Failed at</th>
<th class="n">Attempts</th><th>Ids</th><th>Reason</th></tr></thead><tbody>
{% for d in letters %}<tr>
<td><input type="checkbox" name="id" value="{{ d.message_id }}"
 aria-label="select {{ d.message_id }}"></td>
<td><code>{{ d.message_id }}</code></td><td>{{ d.event_type or '' }}</td>
<td>{{ d.failed_at or '' }}</td><td class="n">{{ d.attempts or '' }}</td>
<td>{% for k, v in d.ids.items() %}<code>{{ k }}={{ v }}</code> {% endfor %}</td>
<td>{{ d.reason }}</td></tr>{% endfor %}</tbody></table>
<div class="actions"><button class="primary" type="submit" name="action" value="replay">
Replay selected</button>
<button class="danger" type="submit" name="action" value="discard">Discard selected</button></div>
</form>
{% else %}<p>This dead-letter queue is empty.</p>{% endif %}
</section>{% endblock %}
"""

AUDIT = """{% extends "layout" %}
{% block title %}Audit log · passaparola console{% endblock %}
{% block main %}<section><h2>Audit log</h2>
<table><thead><tr><th>When (UTC)</th><th>Action</th><th>Queue</th><th class="n">Asked</th>
<th class="n">Done</th><th>Message ids</th><th>From</th></tr></thead><tbody>
{% for a in entries %}<tr><td>{{ a.at.strftime('%Y-%m-%d %H:%M:%S') }}</td>
<td>{{ a.action }}</td><td>{{ a.queue or '' }}</td><td class="n">{{ a.requested or '' }}</td>
<td class="n">{{ a.done if a.done is not none else '' }}</td>
<td>{% for m in a.message_ids %}<code>{{ m }}</code> {% endfor %}</td><td>{{ a.remote or '' }}</td>
</tr>{% else %}<tr><td colspan="7" class="muted">Nothing yet.</td></tr>{% endfor %}
</tbody></table></section>{% endblock %}
"""


def duration(seconds: float | None) -> str:
    if seconds is None:
        return ""
    if seconds < 1:
        return "0 s"
    if seconds < 120:
        return f"{seconds:.0f} s"
    if seconds < 7200:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"


def size(count: int) -> str:
    """Bytes as an operator reads them (RabbitMQ's limits are in GB)."""
    value = float(count)
    for unit in ("B", "KB", "MB", "GB"):
        if value < 1000 or unit == "GB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1000
    return f"{value:.1f} GB"


def environment() -> Environment:
    env = Environment(
        loader=DictLoader(
            {
                "layout": LAYOUT,
                "login": LOGIN,
                "overview": OVERVIEW,
                "live": LIVE,
                "dlq": DLQ,
                "audit": AUDIT,
                "deliveries": DELIVERIES,
            }
        ),
        autoescape=select_autoescape(default=True, default_for_string=True),
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["duration"] = duration
    env.filters["bytes"] = size
    return env
