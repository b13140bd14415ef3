"""The console's charts of the last hours, read from Prometheus's HTTP API
(``/api/v1/query_range``). The console keeps no history of its own: when
Prometheus is not configured or does not answer, the page says so and shows
current values instead (``History.error``).

Queue figures come from RabbitMQ's per-queue metrics, limited to this
deployment's namespace; emails, webhooks and matches from the services' own
counters.
"""

from __future__ import annotations

import asyncio
import math
import re
import time
from dataclasses import dataclass, field

import aiohttp

# Prometheus answers a range query in milliseconds; a console page must not
# wait on one that hangs.
TIMEOUT = aiohttp.ClientTimeout(total=3)
# How many points a chart holds, whatever its window: enough for a line,
# few enough for a light page.
POINTS = 120

# The windows an operator can choose, in seconds, by the name in the URL.
WINDOWS = {"15m": 900, "1h": 3600, "6h": 6 * 3600, "24h": 24 * 3600}
DEFAULT_WINDOW = "6h"


@dataclass(frozen=True)
class Chart:
    """What one chart shows: a PromQL query and how to read its value."""

    key: str
    title: str
    unit: str  # shown after the value: "messages", "/s", "/min"
    query: str


@dataclass(frozen=True)
class Series:
    chart: Chart
    points: list[tuple[float, float]]  # (unix time, value)

    @property
    def latest(self) -> float | None:
        return self.points[-1][1] if self.points else None


@dataclass(frozen=True)
class History:
    window: str
    series: list[Series] = field(default_factory=list)
    # Why there is no history (not configured, unreachable, an error answer).
    error: str | None = None


def _string(value: str) -> str:
    """A PromQL string literal."""
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def charts(namespace: str, window_s: int) -> list[Chart]:
    step = step_s(window_s)
    # A rate over at least a minute: four scrapes at Prometheus's usual 15 s.
    span = f"{max(60, 2 * step)}s"
    prefix = re.escape(namespace) + r"\."
    any_dlq = r".+\.dlq"
    ours = "queue=~" + _string(prefix + ".+")
    live = f"{ours}, queue!~" + _string(any_dlq)
    dead = "queue=~" + _string(prefix + any_dlq)

    # A counter no one has moved yet (no email sent) has no series: it reads
    # as zero, but only where Prometheus was scraping (``up`` exists), never
    # before it started.
    zero = " or 0 * count(up)"

    def rate(metric: str, labels: str, per: int = 1) -> str:
        scale = f"{per} * " if per != 1 else ""
        return f"{scale}sum(rate({metric}{{{labels}}}[{span}])){zero}"

    # Delivered: to consumers and to basic.get, with and without manual ack.
    # Each is its own sum: one selector over several metric names would give
    # rate() series that differ only by name, which Prometheus refuses (422).
    delivered = " + ".join(
        f"({rate(metric, ours)})"
        for metric in (
            "rabbitmq_channel_messages_delivered_ack_total",
            "rabbitmq_channel_messages_delivered_total",
            "rabbitmq_channel_get_ack_total",
            "rabbitmq_channel_get_total",
        )
    )
    return [
        Chart(
            "depth",
            "Queue depth",
            "messages",
            f"sum(rabbitmq_queue_messages{{{live}}}){zero}",
        ),
        Chart(
            "dead",
            "Dead letters",
            "messages",
            f"sum(rabbitmq_queue_messages{{{dead}}}){zero}",
        ),
        Chart("publish", "Published", "/s", rate("rabbitmq_queue_messages_published_total", ours)),
        Chart("deliver", "Delivered", "/s", delivered),
        Chart("ack", "Acknowledged", "/s", rate("rabbitmq_channel_messages_acked_total", ours)),
        Chart(
            "emails_sent",
            "Emails sent",
            "/min",
            rate("passaparola_emails_total", 'outcome="sent"', 60),
        ),
        Chart(
            "emails_failed",
            "Emails failed or deferred",
            "/min",
            rate("passaparola_emails_total", 'outcome=~"failed|deferred"', 60),
        ),
        Chart(
            "webhooks_accepted",
            "Webhooks accepted",
            "/min",
            rate("passaparola_webhook_requests_total", 'status="202"', 60),
        ),
        Chart(
            "webhooks_refused",
            "Webhooks refused",
            "/min",
            rate("passaparola_webhook_requests_total", 'status=~"4.."', 60),
        ),
        Chart(
            "matches",
            "Members matched",
            "/min",
            rate("passaparola_matches_per_posting_sum", "", 60),
        ),
    ]


def step_s(window_s: int) -> int:
    return max(1, math.ceil(window_s / POINTS))


class PrometheusUnavailable(Exception):
    """Prometheus is not configured, unreachable, or refused a query."""


async def _range(
    http: aiohttp.ClientSession, url: str, query: str, start: float, end: float, step: int
) -> list[tuple[float, float]]:
    params = {"query": query, "start": f"{start:.3f}", "end": f"{end:.3f}", "step": str(step)}
    try:
        async with http.get(f"{url}/api/v1/query_range", params=params, timeout=TIMEOUT) as resp:
            if resp.status != 200:
                raise PrometheusUnavailable(f"Prometheus answered {resp.status}")
            body = await resp.json()
    except (aiohttp.ClientError, TimeoutError, OSError, ValueError) as exc:
        raise PrometheusUnavailable(f"cannot reach Prometheus ({type(exc).__name__})") from None
    result = body.get("data", {}).get("result") if isinstance(body, dict) else None
    if body.get("status") != "success" or not isinstance(result, list):
        raise PrometheusUnavailable("Prometheus refused the query")
    points: list[tuple[float, float]] = []
    # One series: every query is a sum (or the zero that stands for none).
    for item in result[:1]:
        for at, value in item.get("values", []):
            number = float(value)
            if math.isfinite(number):
                points.append((float(at), number))
    return points


async def fetch(
    http: aiohttp.ClientSession, url: str, namespace: str, window: str, now: float | None = None
) -> History:
    if not url:
        return History(window, error="history unavailable: no Prometheus configured")
    window_s = WINDOWS[window]
    end = time.time() if now is None else now
    step = step_s(window_s)
    wanted = charts(namespace, window_s)
    try:
        found = await asyncio.gather(
            *(_range(http, url, c.query, end - window_s, end, step) for c in wanted)
        )
    except PrometheusUnavailable as exc:
        return History(window, error=f"history unavailable: {exc}")
    return History(window, [Series(c, p) for c, p in zip(wanted, found, strict=True)])


@dataclass
class HistoryCache:
    """The live page refreshes every few seconds; Prometheus's answer changes
    once per step at most, so each window is asked again only when stale."""

    entries: dict[str, tuple[float, History]] = field(default_factory=dict)

    async def get(
        self, http: aiohttp.ClientSession, url: str, namespace: str, window: str
    ) -> History:
        now = time.monotonic()
        held = self.entries.get(window)
        # An error is retried at once: Prometheus may be back.
        if held and held[1].error is None and now - held[0] < min(15, step_s(WINDOWS[window])):
            return held[1]
        history = await fetch(http, url, namespace, window)
        self.entries[window] = (now, history)
        return history
