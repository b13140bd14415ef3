"""The project's Prometheus metrics, defined once, here.

Every metric is named ``passaparola_*`` and every label value comes from a
fixed set written in this file (an HTTP status class, an outcome, a queue or
schema name taken from the code, never from a request or an event). A label
never carries personal data, an id or free text: the helpers below refuse a
value outside its set, so a mistake fails loudly in the tests instead of
leaking into a time series.

Services expose the registry at ``GET /metrics`` (``shared.service``).
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client import generate_latest as _generate

from shared.db import UNAVAILABLE

# One registry for the project (not the library's global one): the process and
# platform collectors are added on purpose, and tests can read it directly.
REGISTRY = CollectorRegistry(auto_describe=True)

try:  # process_* (CPU, memory, open fds) and python_* (GC, version)
    from prometheus_client import GC_COLLECTOR, PLATFORM_COLLECTOR, PROCESS_COLLECTOR

    for _collector in (PROCESS_COLLECTOR, PLATFORM_COLLECTOR, GC_COLLECTOR):
        REGISTRY.register(_collector)
except (ImportError, ValueError):  # pragma: no cover - an older client
    pass

# --- the fixed sets of label values -------------------------------------------------------

CONSUMER_OUTCOMES = ("ok", "duplicate", "retried", "dead_lettered", "requeued")
EMAIL_OUTCOMES = ("sent", "deferred", "failed")
EMAIL_KINDS = ("instant", "digest")
REFERRAL_STATES = ("requested", "sent", "failed", "withdrawn")
# What leaves the system through shared/delivery.py, and the states an operator watches.
DELIVERY_KINDS = ("email", "forward", "referral", "confirmation")
DELIVERY_STATES = ("failed", "stuck")
# Why ingest answered a webhook as it did, by status (see ``webhook_reason``).
WEBHOOK_REASONS: dict[int, str] = {
    200: "replayed",
    202: "accepted",
    400: "malformed",
    401: "signature",
    404: "unknown_company",
    409: "closed_posting",
    413: "too_large",
    415: "media_type",
    422: "schema",
    429: "rate_limited",
    500: "error",
    503: "unavailable",
}
WEBHOOK_OTHER = "other"
# Names taken from the code (QueueSpec.name, a service's schema): short, lower case.
_CODE_NAME = re.compile(r"^[a-z][a-z0-9_.-]{0,39}$")

# --- the metrics -------------------------------------------------------------------------

WEBHOOK_REQUESTS = Counter(
    "passaparola_webhook_requests",
    "Company webhook requests answered by ingest, by HTTP status and rejection reason.",
    ("status", "reason"),
    registry=REGISTRY,
)
OUTBOX_DEPTH = Gauge(
    "passaparola_outbox_depth",
    "Events written to a service's outbox and not yet confirmed by the broker.",
    ("schema",),
    registry=REGISTRY,
)
OUTBOX_OLDEST_AGE = Gauge(
    "passaparola_outbox_oldest_age_seconds",
    "Age of the oldest unpublished outbox event (0 when the outbox is empty).",
    ("schema",),
    registry=REGISTRY,
)
OUTBOX_PUBLISHED = Counter(
    "passaparola_outbox_published",
    "Outbox events published and confirmed by the broker.",
    ("schema",),
    registry=REGISTRY,
)
EVENTS_CONSUMED = Counter(
    "passaparola_events_consumed",
    "Messages settled by the consumer runner, by queue and outcome.",
    ("queue", "outcome"),
    registry=REGISTRY,
)
HANDLER_SECONDS = Histogram(
    "passaparola_handler_duration_seconds",
    "Time from a message's delivery to its settlement (ack, retry or dead letter).",
    ("queue",),
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0),
    registry=REGISTRY,
)
MEMBERS_INDEXED = Gauge(
    "passaparola_members_indexed",
    "Opted-in members held in the matcher's in-memory index.",
    registry=REGISTRY,
)
MATCHES_PER_POSTING = Histogram(
    "passaparola_matches_per_posting",
    "Members matched to one posting when it was matched (0 included).",
    buckets=(0, 1, 2, 3, 5, 8, 13, 20, 30, 50),
    registry=REGISTRY,
)
EMAILS = Counter(
    "passaparola_emails",
    "Emails to members by outcome (sent; deferred after a transient SMTP failure; "
    "failed for good) and kind (instant or digest).",
    ("outcome", "kind"),
    registry=REGISTRY,
)
DIGEST_BACKLOG = Gauge(
    "passaparola_digest_backlog",
    "Jobs waiting for a member's next digest (or for the end of their quiet hours).",
    registry=REGISTRY,
)
REFERRALS = Counter(
    "passaparola_referrals",
    "Referrals reaching a state (requested by a member, sent to the company, failed, withdrawn).",
    ("state",),
    registry=REGISTRY,
)
TASK_CRASHES = Counter(
    "passaparola_task_crashes",
    "Unexpected failures of a supervised background task (each is restarted after a back-off).",
    ("task",),
    registry=REGISTRY,
)
TASK_UP = Gauge(
    "passaparola_task_up",
    "1 while a supervised background task runs (or has finished its one-shot work), "
    "0 while it waits for its restart after a crash.",
    ("task",),
    registry=REGISTRY,
)
RECORDS_QUARANTINED = Counter(
    "passaparola_records_quarantined",
    "Records a background task set aside after they made it fail (shared/quarantine.py).",
    ("task",),
    registry=REGISTRY,
)
QUARANTINED = Gauge(
    "passaparola_quarantined",
    "Records held in quarantine now, waiting for an operator's retry, by task.",
    ("task",),
    registry=REGISTRY,
)
DELIVERIES = Gauge(
    "passaparola_deliveries",
    "Deliveries an operator must look at, by kind: failed for good (retryable with "
    "`passaparola deliveries retry`) or stuck (still retrying past "
    "PASSAPAROLA_DELIVERY_STUCK_AFTER_S).",
    ("kind", "state"),
    registry=REGISTRY,
)


def _check(value: str, allowed: tuple[str, ...], what: str) -> str:
    if value not in allowed:
        raise ValueError(f"{what} label {value!r} is not one of {allowed}")
    return value


def code_name(value: str) -> str:
    """A queue or schema name from the code; anything else is refused."""
    if not _CODE_NAME.match(value):
        raise ValueError(f"label {value!r} is not a code name")
    return value


# --- helpers: the only way the code sets labelled metrics ---------------------------------


def webhook_reason(status: int) -> str:
    return WEBHOOK_REASONS.get(status, WEBHOOK_OTHER)


def observe_webhook(status: int, reason: str | None = None) -> None:
    reason = reason or webhook_reason(status)
    _check(reason, (*WEBHOOK_REASONS.values(), WEBHOOK_OTHER), "webhook reason")
    WEBHOOK_REQUESTS.labels(status=str(int(status)), reason=reason).inc()


HTTPHandler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def observed_webhook(handler: HTTPHandler) -> HTTPHandler:
    """Count every answer of a webhook view, errors included (they are raised
    as ``Problem``/HTTP exceptions and turned into responses further out)."""
    from shared.http import Problem  # shared.http does not import this module

    async def observed(request: web.Request) -> web.StreamResponse:
        try:
            response = await handler(request)
        except Problem as exc:
            observe_webhook(exc.status)
            raise
        except web.HTTPException as exc:
            observe_webhook(exc.status)
            raise
        except UNAVAILABLE:
            observe_webhook(503)
            raise
        except Exception:
            observe_webhook(500)
            raise
        replayed = response.headers.get("Idempotent-Replayed") == "true"
        observe_webhook(response.status, "replayed" if replayed else None)
        return response

    return observed


def observe_consumed(queue: str, outcome: str, seconds: float) -> None:
    code_name(queue)
    _check(outcome, CONSUMER_OUTCOMES, "consumer outcome")
    EVENTS_CONSUMED.labels(queue=queue, outcome=outcome).inc()
    HANDLER_SECONDS.labels(queue=queue).observe(seconds)


def prepare_consumer(queue: str) -> None:
    """Every outcome of a queue at 0 from the start, so that rates and alerts
    see the first event instead of a series appearing out of nowhere."""
    code_name(queue)
    for outcome in CONSUMER_OUTCOMES:
        EVENTS_CONSUMED.labels(queue=queue, outcome=outcome)


def set_outbox(schema: str, depth: int, oldest_age_s: float) -> None:
    code_name(schema)
    OUTBOX_DEPTH.labels(schema=schema).set(depth)
    OUTBOX_OLDEST_AGE.labels(schema=schema).set(max(0.0, oldest_age_s))


def observe_published(schema: str, count: int) -> None:
    OUTBOX_PUBLISHED.labels(schema=code_name(schema)).inc(count)


def observe_email(outcome: str, kind: str) -> None:
    EMAILS.labels(
        outcome=_check(outcome, EMAIL_OUTCOMES, "email outcome"),
        kind=_check(kind, EMAIL_KINDS, "email kind"),
    ).inc()


def observe_referral(state: str) -> None:
    REFERRALS.labels(state=_check(state, REFERRAL_STATES, "referral state")).inc()


def prepare_task(task: str) -> None:
    """A task's crash count at 0 from its start, so an alert sees the first crash."""
    TASK_CRASHES.labels(task=code_name(task))


def observe_task_crash(task: str) -> None:
    TASK_CRASHES.labels(task=code_name(task)).inc()


def set_task_up(task: str, up: bool) -> None:
    TASK_UP.labels(task=code_name(task)).set(1 if up else 0)


def observe_quarantined(task: str) -> None:
    RECORDS_QUARANTINED.labels(task=code_name(task)).inc()


def set_quarantined(counts: dict[str, int], tasks: list[str]) -> None:
    """Held records per task; the process's own tasks at 0 when none is held."""
    for task in {*tasks, *counts}:
        QUARANTINED.labels(task=code_name(task)).set(counts.get(task, 0))


def set_deliveries(kind: str, failed: int, stuck: int) -> None:
    _check(kind, DELIVERY_KINDS, "delivery kind")
    DELIVERIES.labels(kind=kind, state="failed").set(failed)
    DELIVERIES.labels(kind=kind, state="stuck").set(stuck)


def set_members_indexed(count: int) -> None:
    MEMBERS_INDEXED.set(count)


def observe_matches(count: int) -> None:
    MATCHES_PER_POSTING.observe(count)


def set_digest_backlog(count: int) -> None:
    DIGEST_BACKLOG.set(count)


def exported_names() -> set[str]:
    """Every ``passaparola_*`` series name the registry can produce, with the
    suffixes Prometheus adds (``_total``, ``_created``, ``_bucket``, ``_count``, ``_sum``)."""
    names: set[str] = set()
    for metric in REGISTRY.collect():
        if not metric.name.startswith("passaparola_"):
            continue
        if metric.type == "counter":
            names.update({f"{metric.name}_total", f"{metric.name}_created"})
        elif metric.type == "histogram":
            names.update(f"{metric.name}{s}" for s in ("_bucket", "_count", "_sum", "_created"))
        else:
            names.add(metric.name)
    return names


def render() -> bytes:
    return _generate(REGISTRY)


async def metrics_view(_: web.Request) -> web.Response:
    response = web.Response(body=render())
    response.content_type = CONTENT_TYPE_LATEST.split(";")[0]
    response.charset = "utf-8"
    return response


def metrics_route(app: web.Application) -> None:
    app.router.add_get("/metrics", metrics_view)
