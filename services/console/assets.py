"""The console's pages, stylesheet and script: served by the console itself
(no external JavaScript or CSS, and a Content-Security-Policy that allows
nothing else)."""

from __future__ import annotations

from jinja2 import DictLoader, Environment, select_autoescape

from services.console.charts import line_chart, number
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
.grid { display:grid; grid-template-columns:repeat(auto-fit,minmax(min(260px,100%),1fr));
  gap:1.2rem; }
/* Wide tables scroll inside their own box, never the page (375 px phones). */
.scroll { overflow-x:auto; max-width:100%; }
.scroll table { min-width:100%; }
.titlebar { display:flex; flex-wrap:wrap; align-items:baseline; gap:.4rem 1rem; }
.windows a { margin-right:.6rem; color:var(--accent); }
.windows a[aria-current] { font-weight:700; color:var(--ink); text-decoration:none; }
.charts { display:grid; grid-template-columns:repeat(auto-fill,minmax(min(240px,100%),1fr));
  gap:.8rem 1.2rem; }
figure.chart-card { margin:0; }
figure.chart-card figcaption { display:flex; justify-content:space-between; gap:.5rem;
  font-size:.85rem; color:var(--muted); }
figure.chart-card .latest { color:var(--ink); font-variant-numeric:tabular-nums; }
svg.chart { display:block; width:100%; height:auto; }
svg.chart .axis { stroke:var(--line); stroke-width:1; }
svg.chart .line { fill:none; stroke:var(--accent); stroke-width:1.5; }
svg.chart .area { fill:#2f5da822; stroke:none; }
svg.chart .dot { fill:var(--accent); }
svg.chart .tick { font-size:9px; fill:var(--muted); }
table.current td.n { white-space:nowrap; }
.flash.warn { background:#fff3e0; color:var(--warn); border-color:#f3d19c; }
a:focus-visible, button:focus-visible { outline:2px solid var(--accent); outline-offset:2px; }
@media (max-width: 600px) {
  header { flex-wrap:wrap; gap:.4rem 1rem; padding:.6rem .8rem; }
  header nav { display:flex; flex-wrap:wrap; gap:.2rem .9rem; }
  header nav a { margin-right:0; }
  header form { margin-left:0; }
  main { padding:0 .6rem; margin:.8rem auto; }
  section { padding:.8rem .7rem; }
  /* Wide tables become one block per row, each value with its column's name. */
  table.stack thead { position:absolute; width:1px; height:1px; overflow:hidden;
    clip-path:inset(50%); }
  table.stack, table.stack tbody, table.stack tr, table.stack td { display:block; width:100%; }
  table.stack tr { border-bottom:1px solid var(--line); padding:.45rem 0; }
  table.stack td { display:flex; justify-content:space-between; gap:1rem; border:0;
    padding:.1rem 0; text-align:right; white-space:normal; }
  table.stack td::before { content:attr(data-label); color:var(--muted); font-size:.85rem;
    text-align:left; flex:none; }
  table.stack td:first-child { font-weight:600; }
}
"""

JS = """
// Live pages: the server renders the fragment; this only swaps it in, and
// puts the keyboard focus back on the same control (a link or a field with
// an id) so a refresh never throws an operator's place away.
(function () {
  var live = document.getElementById('live');
  if (!live) { return; }
  var every = parseInt(live.getAttribute('data-refresh-ms'), 10) || 5000;
  var source = live.getAttribute('data-fragment') || '/fragment/overview';
  function keyOf(el) {
    if (!el || el === live || !live.contains(el)) { return null; }
    if (el.id) { return '#' + CSS.escape(el.id); }
    var href = el.getAttribute('href');
    if (href) { return el.tagName.toLowerCase() + '[href="' + CSS.escape(href) + '"]'; }
    return null;
  }
  function swap(html) {
    var key = keyOf(document.activeElement);
    live.innerHTML = html;
    if (key) {
      var again = live.querySelector(key);
      if (again) { again.focus({preventScroll: true}); }
    }
  }
  function refresh() {
    fetch(source + window.location.search, {credentials: 'same-origin', cache: 'no-store'})
      .then(function (r) {
        if (r.status === 401) { window.location = '/login'; return null; }
        return r.ok ? r.text() : null;
      })
      .then(function (html) { if (html !== null) { swap(html); } })
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
<nav><a href="/">Overview</a><a href="/queues">Queues</a><a href="/deliveries">Deliveries</a>
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
{% block main %}<div id="live" data-refresh-ms="{{ refresh_ms }}" data-fragment="{{ fragment }}">
{% include "live" %}</div>
{% endblock %}
"""

QUEUES = """{% extends "layout" %}
{% block title %}Queues · passaparola console{% endblock %}
{% block main %}<div id="live" data-refresh-ms="{{ refresh_ms }}" data-fragment="{{ fragment }}">
{% include "queues_live" %}</div>
{% endblock %}
"""

NODES = """<section><h2>RabbitMQ nodes
{% if connections is not none %} · {{ connections }} connection(s){% endif %}</h2>
{% if nodes_error %}<p class="muted">{{ nodes_error }}</p>{% endif %}
<div class="scroll"><table class="stack"><thead><tr><th>Node</th><th>State</th>
<th class="n">Memory</th><th class="n">Disk free</th></tr></thead>
<tbody>{% for n in nodes %}<tr><td data-label="Node"><code>{{ n.name }}</code></td>
<td data-label="State">{% if not n.running %}<span class="badge bad">down</span>
{% elif n.mem_alarm or n.disk_alarm %}<span class="badge bad" role="alert">
{{ 'memory alarm ' if n.mem_alarm }}{{ 'disk alarm ' if n.disk_alarm }}(publishers blocked)</span>
{% else %}<span class="badge ok">ok</span>{% endif %}</td>
<td class="n" data-label="Memory">{{ n.mem_used|bytes }} of {{ n.mem_limit|bytes }}</td>
<td class="n" data-label="Disk free">{{ n.disk_free|bytes }}
(alarm under {{ n.disk_free_limit|bytes }})</td></tr>
{% else %}<tr><td colspan="4" class="muted">No node reported.</td></tr>
{% endfor %}</tbody></table></div></section>
"""

HISTORY = """{% if history is defined and history %}
<section aria-labelledby="history-h"><div class="titlebar"><h2 id="history-h">History,
last {{ history.window }}</h2>
{% if not history.error %}<nav class="windows" aria-label="Chart window">{% for w in windows %}
<a href="?window={{ w }}"{% if w == history.window %} aria-current="page"{% endif %}>{{ w }}</a>
{% endfor %}</nav>{% endif %}</div>
{% if history.error %}
<p class="flash warn" role="status">{{ history.error }}. Current values:</p>
<div class="scroll"><table class="current"><tbody>
{% if current %}
<tr><th>Queue depth</th><td class="n">{{ current.depth|int }} messages</td></tr>
<tr><th>Dead letters</th><td class="n">{{ current.dead|int }} messages</td></tr>
<tr><th>Published</th><td class="n">{{ '%.1f'|format(current.publish) }}/s</td></tr>
<tr><th>Delivered</th><td class="n">{{ '%.1f'|format(current.deliver) }}/s</td></tr>
<tr><th>Acknowledged</th><td class="n">{{ '%.1f'|format(current.ack) }}/s</td></tr>
{% endif %}
<tr><td colspan="2" class="muted">Counted by the console, {{ window }}:</td></tr>
<tr><th>Emails sent</th><td class="n">{{ totals.emails_sent|int }}</td></tr>
<tr><th>Emails failed or deferred</th><td class="n">{{ totals.emails_failed|int }}</td></tr>
<tr><th>Webhooks accepted</th><td class="n">{{ totals.webhooks|int }}</td></tr>
<tr><th>Webhooks refused</th><td class="n">{{ totals.webhooks_refused|int }}</td></tr>
</tbody></table></div>
{% else %}
<div class="charts">{% for s in history.series %}
<figure class="chart-card" data-chart="{{ s.chart.key }}"><figcaption>{{ s.chart.title }}
<strong class="latest">{{ number(s.latest, s.chart.unit) }}</strong></figcaption>
{{ chart(s, history.window, 'c-' ~ s.chart.key) }}</figure>
{% endfor %}</div>
{% endif %}</section>
{% endif %}
"""

LIVE = """{% if error %}<div class="flash error" role="alert">{{ error }}</div>{% endif %}
<p class="muted">Namespace <code>{{ namespace }}</code> · updated {{ updated }} UTC ·
refreshes every {{ refresh_ms // 1000 }} s</p>
{% include "history" %}
<div class="grid">
{% include "nodes" %}
<section><h2>Outbox (events waiting to be published)</h2>
<div class="scroll"><table><thead><tr><th>Service</th><th class="n">Depth</th>
<th class="n">Oldest</th></tr></thead>
<tbody>{% for s in services %}<tr><td>{{ s.name }}</td>
{% if s.error %}<td colspan="2" class="n bad">{{ s.error }}</td>
{% elif s.outbox_depth is none %}<td colspan="2" class="n muted">no outbox</td>
{% else %}<td class="n">{{ s.outbox_depth|int }}</td>
<td class="n {{ 'bad' if s.outbox_age_s > 60 else ('warn' if s.outbox_age_s > 5 else 'ok') }}">
{{ s.outbox_age_s|duration }}</td>{% endif %}</tr>{% endfor %}</tbody></table></div></section>
<section><h2>Throughput, {{ window }}</h2>
<div class="scroll"><table><thead><tr><th>Service</th><th class="n">Webhooks accepted</th>
<th class="n">Events handled</th>
<th class="n">Events published</th><th class="n">Dead-lettered</th></tr></thead>
<tbody>{% for s in services %}{% set t = throughput.get(s.name, {}) %}<tr><td>{{ s.name }}</td>
<td class="n">{{ t.get('webhooks', 0)|int }}</td><td class="n">{{ t.get('handled', 0)|int }}</td>
<td class="n">{{ t.get('published', 0)|int }}</td>
{% set dead = t.get('dead_lettered', 0)|int %}
<td class="n {{ 'bad' if dead else '' }}">{{ dead }}</td>
</tr>{% endfor %}</tbody></table></div></section>
</div>
<section><h2>Dead-letter queues</h2>
<div class="scroll"><table class="stack"><thead><tr><th>Queue</th><th class="n">Messages</th>
<th>Actions</th></tr></thead><tbody>
{% for q in dead_letter_queues %}<tr><td data-label="Queue"><code>{{ q.name }}</code></td>
<td class="n" data-label="Messages">
<span class="badge {{ 'bad' if q.messages else 'ok' }}">{{ q.messages }}</span></td>
<td data-label="Actions">
{% if q.spec in browsable %}<a href="/dlq/{{ q.spec }}">Browse</a>{% endif %}</td></tr>
{% else %}<tr><td colspan="3" class="muted">No dead-letter queue declared yet.</td></tr>
{% endfor %}</tbody></table></div>
<p><a href="/queues">Every queue: depth, consumers, rates →</a></p></section>
"""

QUEUES_LIVE = """{% if error %}<div class="flash error" role="alert">{{ error }}</div>{% endif %}
<p class="muted">Namespace <code>{{ namespace }}</code> · updated {{ updated }} UTC ·
refreshes every {{ refresh_ms // 1000 }} s</p>
{% include "nodes" %}
<section><h2>Queues</h2>
<p class="muted">A main queue without consumers holds every event for its service.
Dead letters can be browsed, replayed or discarded; purging a live queue is left to
RabbitMQ's own tools on purpose (it loses events that cannot be replayed).</p>
<div class="scroll"><table class="queues stack"><thead><tr><th>Queue</th><th>Kind</th>
<th class="n">Ready</th><th class="n">Unacked</th><th class="n">Consumers</th>
<th class="n">In /s</th><th class="n">Delivered /s</th><th class="n">Acked /s</th>
<th>Actions</th></tr></thead><tbody>
{% for q in queues %}<tr class="{{ q.kind }}">
<td data-label="Queue"><code>{{ q.name }}</code></td>
<td data-label="Kind">
{{ {'main': 'main', 'retry': 'retry', 'dlq': 'dead letters', 'unrouted': 'unrouted'}[q.kind] }}
</td><td class="n" data-label="Ready">{{ q.ready }}</td>
<td class="n" data-label="Unacked">{{ q.unacked }}</td>
<td class="n" data-label="Consumers">
{% if q.kind == 'main' %}<span class="badge {{ 'ok' if q.consumers else 'bad' }}">
{{ q.consumers }}</span>{% else %}{{ q.consumers }}{% endif %}</td>
<td class="n" data-label="In /s">{{ '%.1f'|format(q.publish_rate) }}</td>
<td class="n" data-label="Delivered /s">{{ '%.1f'|format(q.deliver_rate) }}</td>
<td class="n" data-label="Acked /s">{{ '%.1f'|format(q.ack_rate) }}</td>
<td data-label="Actions">
{% if q.kind == 'dlq' and q.spec in browsable %}<a href="/dlq/{{ q.spec }}">Browse,
replay or discard</a>{% elif q.kind == 'main' and q.spec in browsable %}<a
href="/dlq/{{ q.spec }}">Its dead letters</a>{% endif %}</td></tr>
{% else %}<tr><td colspan="9" class="muted">No queue declared yet.</td></tr>
{% endfor %}</tbody></table></div></section>
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
                "queues": QUEUES,
                "queues_live": QUEUES_LIVE,
                "nodes": NODES,
                "history": HISTORY,
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
    env.globals["chart"] = line_chart
    env.globals["number"] = number
    return env
