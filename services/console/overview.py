"""What an operator sees at a glance, gathered for the console and for
``passaparola status``: each queue's depth, rates and consumers (RabbitMQ's
management API, signed in as the AMQP URL's user), and each service's outbox
and counters (its /metrics).
"""

from __future__ import annotations

import base64
import re
import time
from collections import deque
from dataclasses import dataclass, field
from urllib.parse import quote, unquote, urlsplit

import aiohttp
from prometheus_client.parser import text_string_to_metric_families

from shared.settings import Settings
from shared.topology import SERVICE_QUEUES

TIMEOUT = aiohttp.ClientTimeout(total=5)
WINDOW_S = 3600.0


class ManagementUnavailable(Exception):
    """RabbitMQ's management API cannot be reached (or refuses us)."""

    def __init__(self, message: str, *, refused: bool = False) -> None:
        super().__init__(message)
        self.refused = refused


@dataclass(frozen=True)
class QueueRow:
    name: str
    kind: str  # main, retry, dlq, unrouted
    service: str  # the consumer group (matcher, notifier), or "" for unrouted
    messages: int
    ready: int
    unacked: int
    consumers: int
    publish_rate: float
    deliver_rate: float
    ack_rate: float
    # The queue's spec in the topology (matcher.shard-2 for each of that
    # shard's queues): what the dead-letter pages are named by.
    spec: str = ""


@dataclass(frozen=True)
class DeliveryFigure:
    """passaparola_deliveries: how many of one kind are failed or stuck."""

    kind: str
    state: str
    count: int


@dataclass(frozen=True)
class ServiceFigures:
    """One service's /metrics, reduced to what the overview shows."""

    name: str
    url: str
    error: str | None = None
    outbox_depth: float | None = None
    outbox_age_s: float | None = None
    counters: dict[str, float] = field(default_factory=dict)
    deliveries: list[DeliveryFigure] = field(default_factory=list)


@dataclass(frozen=True)
class NodeHealth:
    """One RabbitMQ node as the management API reports it: an alarm blocks
    every publisher, so it is the first thing an operator must see."""

    name: str
    running: bool
    mem_alarm: bool
    disk_alarm: bool
    mem_used: int
    mem_limit: int
    disk_free: int
    disk_free_limit: int


@dataclass(frozen=True)
class Overview:
    namespace: str
    queues: list[QueueRow]
    services: list[ServiceFigures]
    taken_at: float
    nodes: list[NodeHealth] = field(default_factory=list)
    connections: int | None = None
    # Why nodes is empty: the API refused (the user lacks the monitoring tag).
    nodes_error: str | None = None

    @property
    def dead_letter_queues(self) -> list[QueueRow]:
        return [q for q in self.queues if q.kind == "dlq"]

    @property
    def dead_letters(self) -> int:
        return sum(q.messages for q in self.dead_letter_queues)

    def current(self) -> dict[str, float]:
        """What the charts show, as the management API has it now."""
        live = [q for q in self.queues if q.kind in ("main", "retry")]
        return {
            "depth": float(sum(q.messages for q in live)),
            "dead": float(self.dead_letters),
            "publish": sum(q.publish_rate for q in self.queues),
            "deliver": sum(q.deliver_rate for q in self.queues),
            "ack": sum(q.ack_rate for q in self.queues),
        }


def targets(settings: Settings) -> list[tuple[str, str]]:
    if settings.console_targets:
        return list(settings.console_targets)
    # The operator listeners: /metrics is not served on the public ports.
    host = settings.operator_host
    if host in ("", "0.0.0.0", "::"):  # noqa: S104 - a bind-all address is not a place to call
        host = "127.0.0.1"
    return [
        ("ingest", f"http://{host}:{settings.ingest_operator_port}"),
        ("matcher", f"http://{host}:{settings.matcher_operator_port}"),
        ("notifier", f"http://{host}:{settings.notifier_operator_port}"),
    ]


def _management(settings: Settings) -> tuple[str, str, dict[str, str]]:
    """The management API's base URL, our vhost, and the headers that sign in.

    The Basic credentials are written by hand: aiohttp deprecates both
    ``BasicAuth`` and ``auth=`` in favour of a helper older releases lack.
    """
    parts = urlsplit(settings.amqp_url)
    vhost = unquote(parts.path.lstrip("/")) or "/"
    login = f"{unquote(parts.username or 'guest')}:{unquote(parts.password or '')}"
    headers = {"Authorization": "Basic " + base64.b64encode(login.encode()).decode("ascii")}
    return settings.rabbitmq_management_url.rstrip("/") + "/api", vhost, headers


def _classify(name: str, namespace: str) -> tuple[str, str, str]:
    """(kind, consumer group, queue spec): ``matcher.shard-2.retry.1`` is a
    retry queue of the matcher, of the spec ``matcher.shard-2``."""
    rest = name[len(namespace) + 1 :]
    if rest == "unrouted":
        return "unrouted", "", ""
    if rest.endswith(".dlq"):
        kind, spec = "dlq", rest.removesuffix(".dlq")
    elif ".retry." in rest:
        kind, spec = "retry", rest.partition(".retry.")[0]
    else:
        kind, spec = "main", rest
    return kind, spec.partition(".")[0], spec


def _rate(stats: dict[str, object], key: str) -> float:
    details = stats.get(f"{key}_details")
    if isinstance(details, dict):
        rate = details.get("rate")
        if isinstance(rate, int | float):
            return float(rate)
    return 0.0


async def queues(http: aiohttp.ClientSession, settings: Settings) -> list[QueueRow]:
    api, vhost, headers = _management(settings)
    namespace = settings.broker_namespace
    try:
        async with http.get(
            f"{api}/queues/{quote(vhost, safe='')}", headers=headers, timeout=TIMEOUT
        ) as resp:
            if resp.status in (401, 403):
                raise ManagementUnavailable(
                    f"RabbitMQ's management API refused the AMQP URL's user ({resp.status})",
                    refused=True,
                )
            if resp.status != 200:
                raise ManagementUnavailable(f"RabbitMQ's management API answered {resp.status}")
            items = await resp.json()
    except (aiohttp.ClientError, TimeoutError, OSError) as exc:
        raise ManagementUnavailable(
            f"cannot reach RabbitMQ's management API at {settings.rabbitmq_management_url}"
            f" ({type(exc).__name__})"
        ) from None
    rows: list[QueueRow] = []
    for item in items:
        name = str(item.get("name", ""))
        if not name.startswith(f"{namespace}."):
            continue
        kind, service, spec = _classify(name, namespace)
        stats = item.get("message_stats") or {}
        rows.append(
            QueueRow(
                name=name,
                kind=kind,
                service=service,
                messages=int(item.get("messages") or 0),
                ready=int(item.get("messages_ready") or 0),
                unacked=int(item.get("messages_unacknowledged") or 0),
                consumers=int(item.get("consumers") or 0),
                publish_rate=_rate(stats, "publish"),
                deliver_rate=_rate(stats, "deliver_get"),
                ack_rate=_rate(stats, "ack"),
                spec=spec,
            )
        )
    order = {"main": 0, "retry": 1, "dlq": 2, "unrouted": 3}
    known = [s.name for s in SERVICE_QUEUES]
    rows.sort(
        key=lambda r: (
            known.index(r.service) if r.service in known else len(known),
            r.service,
            r.spec,
            order[r.kind],
            r.name,
        )
    )
    return rows


# Counters the console keeps for the last hour, by what they mean: a metric
# and the label values (regular expressions) of the samples to add up.
COUNTERS = {
    "handled": ("passaparola_events_consumed_total", {"outcome": "ok"}),
    "dead_lettered": ("passaparola_events_consumed_total", {"outcome": "dead_lettered"}),
    "published": ("passaparola_outbox_published_total", {}),
    "webhooks": ("passaparola_webhook_requests_total", {"status": "202"}),
    "webhooks_refused": ("passaparola_webhook_requests_total", {"status": "4.."}),
    "emails_sent": ("passaparola_emails_total", {"outcome": "sent"}),
    "emails_failed": ("passaparola_emails_total", {"outcome": "failed|deferred"}),
}


def reduce_metrics(name: str, url: str, text: str) -> ServiceFigures:
    depth = age = None
    counters = dict.fromkeys(COUNTERS, 0.0)
    deliveries: dict[tuple[str, str], float] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == "passaparola_deliveries":
                which = (sample.labels.get("kind", ""), sample.labels.get("state", ""))
                deliveries[which] = max(deliveries.get(which, 0.0), sample.value)
            elif sample.name == "passaparola_outbox_depth":
                depth = (depth or 0.0) + sample.value
            elif sample.name == "passaparola_outbox_oldest_age_seconds":
                age = max(age or 0.0, sample.value)
            for key, (metric, labels) in COUNTERS.items():
                if sample.name == metric and all(
                    re.fullmatch(v, sample.labels.get(k, "")) for k, v in labels.items()
                ):
                    counters[key] += sample.value
    figures = [DeliveryFigure(k, st, int(v)) for (k, st), v in sorted(deliveries.items())]
    return ServiceFigures(name, url, None, depth, age, counters, figures)


async def service_figures(http: aiohttp.ClientSession, name: str, url: str) -> ServiceFigures:
    try:
        async with http.get(f"{url}/metrics", timeout=TIMEOUT) as resp:
            if resp.status != 200:
                return ServiceFigures(name, url, f"HTTP {resp.status}")
            text = await resp.text()
    except (aiohttp.ClientError, TimeoutError, OSError) as exc:
        return ServiceFigures(name, url, f"unreachable ({type(exc).__name__})")
    try:
        return reduce_metrics(name, url, text)
    except ValueError:
        return ServiceFigures(name, url, "unreadable /metrics")


async def _get(http: aiohttp.ClientSession, settings: Settings, path: str) -> object:
    api, _, headers = _management(settings)
    async with http.get(f"{api}/{path}", headers=headers, timeout=TIMEOUT) as resp:
        if resp.status != 200:
            raise ManagementUnavailable(f"RabbitMQ's management API answered {resp.status}")
        result: object = await resp.json()
        return result


async def health(
    http: aiohttp.ClientSession, settings: Settings
) -> tuple[list[NodeHealth], int | None, str | None]:
    """Nodes (alarms, memory, disk) and open connections; what cannot be read
    is said, never fatal: the queues are what the console is for."""
    columns = "name,running,mem_alarm,disk_free_alarm,mem_used,mem_limit,disk_free,disk_free_limit"
    try:
        items = await _get(http, settings, f"nodes?columns={columns}")
        totals = await _get(http, settings, "overview?columns=object_totals")
    except ManagementUnavailable as exc:
        return [], None, f"node health unavailable: {exc} (the user needs the monitoring tag)"
    except (aiohttp.ClientError, TimeoutError, OSError, ValueError) as exc:
        return [], None, f"node health unavailable ({type(exc).__name__})"
    nodes = [
        NodeHealth(
            name=str(item.get("name", "")),
            running=bool(item.get("running")),
            mem_alarm=bool(item.get("mem_alarm")),
            disk_alarm=bool(item.get("disk_free_alarm")),
            mem_used=int(item.get("mem_used") or 0),
            mem_limit=int(item.get("mem_limit") or 0),
            disk_free=int(item.get("disk_free") or 0),
            disk_free_limit=int(item.get("disk_free_limit") or 0),
        )
        for item in (items if isinstance(items, list) else [])
        if isinstance(item, dict)
    ]
    object_totals = totals.get("object_totals") if isinstance(totals, dict) else None
    connections = object_totals.get("connections") if isinstance(object_totals, dict) else None
    return nodes, connections if isinstance(connections, int) else None, None


async def gather(http: aiohttp.ClientSession, settings: Settings) -> Overview:
    rows = await queues(http, settings)
    figures = [await service_figures(http, n, u) for n, u in targets(settings)]
    nodes, connections, nodes_error = await health(http, settings)
    return Overview(
        settings.broker_namespace, rows, figures, time.time(), nodes, connections, nodes_error
    )


@dataclass
class Throughput:
    """The last hour of each service's counters, sampled from its /metrics.

    Like Prometheus's ``increase()``: a counter that went down was reset by a
    restart, and its new value counts from zero."""

    window_s: float = WINDOW_S
    samples: deque[tuple[float, dict[str, dict[str, float]]]] = field(default_factory=deque)

    def add(self, at: float, figures: list[ServiceFigures]) -> None:
        self.samples.append((at, {f.name: dict(f.counters) for f in figures if f.error is None}))
        while self.samples and self.samples[0][0] < at - self.window_s:
            self.samples.popleft()

    @property
    def covered_s(self) -> float:
        if len(self.samples) < 2:
            return 0.0
        return self.samples[-1][0] - self.samples[0][0]

    def totals(self) -> dict[str, float]:
        """The increase of each counter, all services added up."""
        summed = dict.fromkeys(COUNTERS, 0.0)
        for counters in self.increase().values():
            for key, value in counters.items():
                summed[key] += value
        return summed

    def increase(self) -> dict[str, dict[str, float]]:
        totals: dict[str, dict[str, float]] = {}
        for (_, before), (_, after) in zip(self.samples, list(self.samples)[1:], strict=False):
            for service, counters in after.items():
                previous = before.get(service)
                if previous is None:
                    continue
                into = totals.setdefault(service, dict.fromkeys(COUNTERS, 0.0))
                for key, value in counters.items():
                    old = previous.get(key, 0.0)
                    into[key] += value - old if value >= old else value
        return totals
