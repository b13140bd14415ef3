"""One frozen settings object, read from ``PASSAPAROLA_*`` environment variables.

Every variable is declared once, in ``VARIABLES``, with its type, default and
meaning; the README's settings table is generated from the same list (and a
test keeps the two equal). Reading fails with one message naming every
missing or malformed variable, so a service never starts half-configured.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Callable, Mapping
from typing import Any
from urllib.parse import urlsplit

PREFIX = "PASSAPAROLA_"


class SettingsError(Exception):
    """The environment does not describe a usable configuration."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        super().__init__("; ".join(problems))


def _url(*schemes: str) -> Callable[[str], str]:
    def parse(raw: str) -> str:
        parts = urlsplit(raw)
        if parts.scheme not in schemes or not parts.hostname:
            raise ValueError(f"expected a {' or '.join(schemes)} URL with a host")
        return raw

    return parse


def _int_range(low: int, high: int) -> Callable[[str], int]:
    def parse(raw: str) -> int:
        value = int(raw)
        if not low <= value <= high:
            raise ValueError(f"expected an integer from {low} to {high}")
        return value

    return parse


def _positive_float(raw: str) -> float:
    value = float(raw)
    if value <= 0:
        raise ValueError("expected a positive number")
    return value


def _delays(raw: str) -> tuple[int, ...]:
    values = tuple(int(part) for part in raw.split(",") if part.strip())
    if not values or any(v <= 0 for v in values):
        raise ValueError("expected comma-separated positive milliseconds, e.g. 1000,5000,30000")
    return values


def _flag(raw: str) -> bool:
    if raw.lower() not in ("true", "false"):
        raise ValueError("expected true or false")
    return raw.lower() == "true"


def _choice(*choices: str) -> Callable[[str], str]:
    def parse(raw: str) -> str:
        if raw not in choices:
            raise ValueError(f"expected one of {', '.join(choices)}")
        return raw

    return parse


def _secret(raw: str) -> str:
    if len(raw) < 32:
        raise ValueError("expected at least 32 characters of random secret")
    return raw


def _text(raw: str) -> str:
    return raw


def _optional_url(raw: str) -> str:
    """An http(s) URL, or empty for "there is none"."""
    return _url("http", "https")(raw).rstrip("/") if raw else ""


def _secrets(raw: str) -> tuple[str, ...]:
    values = tuple(part.strip() for part in raw.split(",") if part.strip())
    if any(len(v) < 32 for v in values):
        raise ValueError("expected comma-separated secrets of at least 32 characters each")
    return values


def _days(raw: str) -> int:
    value = int(raw)
    if not 1 <= value <= 3650:
        raise ValueError("expected a number of days from 1 to 3650")
    return value


def _targets(raw: str) -> tuple[tuple[str, str], ...]:
    """``name=url,name=url``: the services whose /metrics the console reads."""
    found: list[tuple[str, str]] = []
    for part in (p.strip() for p in raw.split(",")):
        if not part:
            continue
        name, sep, url = part.partition("=")
        if not sep or not name.strip().isidentifier():
            raise ValueError(
                "expected name=URL pairs separated by commas, e.g. ingest=http://h:8080"
            )
        found.append((name.strip(), _url("http", "https")(url.strip()).rstrip("/")))
    return tuple(found)


@dataclasses.dataclass(frozen=True)
class Variable:
    field: str
    parse: Callable[[str], Any]
    default: str | None  # None: required
    doc: str

    @property
    def env(self) -> str:
        return PREFIX + self.field.upper()


VARIABLES: tuple[Variable, ...] = (
    Variable(
        "database_url",
        _url("postgresql", "postgres"),
        None,
        "PostgreSQL URL, e.g. `postgresql://user:pass@host:5432/db`.",
    ),
    Variable(
        "amqp_url",
        _url("amqp", "amqps"),
        None,
        "RabbitMQ URL with its virtual host, e.g. `amqp://user:pass@host:5672/vhost`.",
    ),
    Variable(
        "secret_key",
        _secret,
        None,
        "Secret (>= 32 characters) that signs members' links and seals personal data.",
    ),
    Variable(
        "broker_namespace",
        _text,
        "passaparola",
        "Prefix of the exchange and queue names (two deployments can share a vhost).",
    ),
    Variable(
        "rabbitmq_management_url",
        _url("http", "https"),
        "http://127.0.0.1:15672",
        "RabbitMQ's management API, for queue figures and dead-letter views; "
        "the AMQP URL's user signs in.",
    ),
    Variable(
        "log_level",
        _choice("debug", "info", "warning", "error"),
        "info",
        "Lowest level written to the log.",
    ),
    Variable(
        "log_format",
        _choice("auto", "json", "console"),
        "auto",
        "`console` on a terminal, `json` otherwise when `auto`.",
    ),
    Variable("http_host", _text, "127.0.0.1", "Address the services' HTTP servers bind to."),
    Variable(
        "http_reuse_port",
        _flag,
        "false",
        "Let several processes of a service share its HTTP port (SO_REUSEPORT; the kernel "
        "spreads connections among them). Each has its own operator port, and its own "
        "webhook rate limit: with N of them a company may send N times the rate.",
    ),
    Variable(
        "ingest_port",
        _int_range(1, 65535),
        "8080",
        "Ingest's HTTP port (webhooks, member API, health).",
    ),
    Variable("matcher_port", _int_range(1, 65535), "8081", "Matcher's HTTP port (health)."),
    Variable(
        "matcher_shards",
        _int_range(1, 256),
        "1",
        "How many matcher shards split the members (docs/scaling.md); the same for every service.",
    ),
    Variable(
        "matcher_shard",
        _int_range(0, 255),
        "0",
        "This matcher process's shard, from 0 to `PASSAPAROLA_MATCHER_SHARDS` - 1.",
    ),
    Variable(
        "notifier_port",
        _int_range(1, 65535),
        "8082",
        "Notifier's HTTP port (members' links, health).",
    ),
    Variable(
        "operator_host",
        _text,
        "127.0.0.1",
        "Address the services' operator listeners bind to (metrics, readiness details): "
        "the operator network, never one companies or members reach.",
    ),
    Variable(
        "ingest_operator_port",
        _int_range(1, 65535),
        "8070",
        "Ingest's operator port (`/metrics`, `/readyz`, `/healthz`).",
    ),
    Variable(
        "matcher_operator_port",
        _int_range(1, 65535),
        "8071",
        "Matcher's operator port (`/metrics`, `/readyz`, `/healthz`).",
    ),
    Variable(
        "notifier_operator_port",
        _int_range(1, 65535),
        "8072",
        "Notifier's operator port (`/metrics`, `/readyz`, `/healthz`).",
    ),
    Variable(
        "title_embeddings",
        _choice("on", "off"),
        "on",
        "`on`: ranking a title against ESCO (`titles link`) fuses the packaged "
        "multilingual-e5-small embeddings with the lexical score (lexical alone "
        "when `off`, or when the model cannot load).",
    ),
    Variable(
        "console_host",
        _text,
        "127.0.0.1",
        "Address the operator console binds to (keep it local, or behind a TLS proxy).",
    ),
    Variable("console_port", _int_range(1, 65535), "8090", "The operator console's HTTP port."),
    Variable(
        "console_public_url",
        _url("http", "https"),
        "http://127.0.0.1:8090",
        "The console's address as operators' browsers reach it; `https` makes the session "
        "cookie `Secure` (behind a TLS proxy too).",
    ),
    Variable(
        "console_password",
        _text,
        "",
        "The operators' password for the console; required to start `passaparola console`.",
    ),
    Variable(
        "console_targets",
        _targets,
        "",
        "Services whose /metrics the console and `passaparola status` read, as "
        "`ingest=http://host:8070,...`; empty: the three operator ports above on 127.0.0.1.",
    ),
    Variable(
        "prometheus_url",
        _optional_url,
        "",
        "Prometheus's HTTP API, for the console's charts of the last hours; empty "
        "(or unreachable): the console shows current values only.",
    ),
    Variable(
        "public_url",
        _url("http", "https"),
        "http://127.0.0.1:8082",
        "Base URL of the members' links as they appear in emails.",
    ),
    Variable("db_pool_min", _int_range(1, 100), "1", "Smallest database pool per process."),
    Variable("db_pool_max", _int_range(1, 100), "10", "Largest database pool per process."),
    Variable(
        "prefetch",
        _int_range(1, 1000),
        "16",
        "Unacknowledged messages a consumer holds at once (its concurrency).",
    ),
    Variable(
        "consumer_batch",
        _int_range(1, 1000),
        "200",
        "Most messages of a batchable event type (member changes; in the notifier, "
        "matches found or withdrawn) a consumer applies "
        "in one transaction; 1: one by one.",
    ),
    Variable(
        "delivery_limit",
        _int_range(1, 100),
        "5",
        "Deliveries of one message (crash redeliveries) before RabbitMQ dead-letters it.",
    ),
    Variable(
        "retry_delays_ms",
        _delays,
        "1000,10000,60000",
        "Back-off before each retry of a transiently failed message; one more failure "
        "after the last sends it to the dead-letter queue.",
    ),
    Variable(
        "task_restart_delays_ms",
        _delays,
        "1000,5000,30000",
        "Back-off before a crashed background task (relay, sender, retention...) is started "
        "again; the last delay repeats while it keeps crashing.",
    ),
    Variable(
        "shutdown_grace_s",
        _positive_float,
        "20",
        "On SIGTERM, how long in-flight messages may take to finish.",
    ),
    Variable(
        "webhook_max_bytes",
        _int_range(1024, 10 * 1024 * 1024),
        "262144",
        "Largest webhook or member request body accepted, in bytes (larger: 413).",
    ),
    Variable(
        "webhook_rate_per_s",
        _positive_float,
        "10",
        "Webhook requests per second a company may send on average (more: 429).",
    ),
    Variable(
        "webhook_burst",
        _int_range(1, 10000),
        "50",
        "Webhook requests a company may send at once before the rate applies.",
    ),
    Variable(
        "secret_grace_hours",
        _int_range(0, 24 * 90),
        "72",
        "After a company's secret is rotated, how long the old one keeps working.",
    ),
    Variable("smtp_host", _text, "127.0.0.1", "SMTP server the notifier sends through."),
    Variable("smtp_port", _int_range(1, 65535), "2525", "SMTP port."),
    Variable(
        "smtp_tls",
        _choice("none", "starttls", "tls"),
        "none",
        "`starttls` upgrades a plain connection; `tls` connects with TLS.",
    ),
    Variable("smtp_username", _text, "", "SMTP user, empty for none."),
    Variable("smtp_password", _text, "", "SMTP password, empty for none."),
    Variable(
        "mail_from",
        _text,
        "passaparola <noreply@passaparola.local>",
        "The From header of members' emails (keep the display name neutral).",
    ),
    Variable(
        "notifier_weekly_cap",
        _int_range(0, 1000),
        "10",
        "Most jobs one member is told about in their local week (instant and digests together).",
    ),
    Variable(
        "delivery_retry_delays_ms",
        _delays,
        "30000,300000,1800000,7200000,21600000",
        "Back-off before each new attempt of anything that leaves the system (emails, "
        "digests, forwards, referral callbacks and emails) after a transient failure (SMTP "
        "4xx, HTTP 5xx or 429, timeout, connection lost); one more failure after the last "
        "records it as `failed`, for an operator to retry.",
    ),
    Variable(
        "delivery_lease_s",
        _int_range(10, 3600),
        "60",
        "How long a claimed delivery is reserved for the worker that claimed it: a worker "
        "that dies leaves it due again after this long (one attempt is cut off at half).",
    ),
    Variable(
        "delivery_stuck_after_s",
        _int_range(60, 7 * 86400),
        "3600",
        "A delivery still failing (and retrying) after this long counts as stuck: shown in "
        "the console, `passaparola status` and an alert.",
    ),
    Variable(
        "previous_secret_keys",
        _secrets,
        "",
        "Former `PASSAPAROLA_SECRET_KEY` values, comma-separated: used to open sealed data "
        "and check old links, never to seal. After `passaparola keys rotate`, remove them.",
    ),
    Variable(
        "referral_hold_s",
        _int_range(0, 86400),
        "300",
        "How long a confirmed referral waits before it goes to the company: the member "
        "can withdraw it until then (and until it is delivered).",
    ),
    Variable(
        "loopback_http_callbacks",
        _flag,
        "false",
        "Development only: `true` lets a company's callback URL be plain `http://` on a "
        "loopback host (127.0.0.1, ::1, localhost); otherwise callbacks must be `https://`.",
    ),
    Variable(
        "forward_daily_limit",
        _int_range(0, 100),
        "5",
        "Most openings one member may forward to colleagues per day.",
    ),
    Variable(
        "community_join_url",
        _url("http", "https"),
        "https://passaparola.example/join",
        "Where a colleague who received a forwarded opening can join the community.",
    ),
    Variable(
        "retention_closed_postings_days",
        _days,
        "180",
        "Closed postings (and their notifications) are deleted this many days after closing.",
    ),
    Variable(
        "retention_matches_days",
        _days,
        "365",
        "Matches and notifications are deleted this many days after they were made.",
    ),
    Variable(
        "retention_delivery_logs_days",
        _days,
        "90",
        "Delivery logs (emails, referral attempts, webhook receipts, forwards) are deleted "
        "after this many days.",
    ),
    Variable(
        "retention_interval_s",
        _int_range(10, 86400),
        "3600",
        "How often each service runs its retention purge.",
    ),
)


@dataclasses.dataclass(frozen=True)
class Settings:
    database_url: str
    amqp_url: str
    secret_key: str = dataclasses.field(repr=False)
    broker_namespace: str
    rabbitmq_management_url: str
    log_level: str
    log_format: str
    http_host: str
    http_reuse_port: bool
    ingest_port: int
    matcher_port: int
    matcher_shards: int
    matcher_shard: int
    notifier_port: int
    operator_host: str
    ingest_operator_port: int
    matcher_operator_port: int
    notifier_operator_port: int
    title_embeddings: str
    console_host: str
    console_port: int
    console_public_url: str
    console_password: str = dataclasses.field(repr=False)
    console_targets: tuple[tuple[str, str], ...]
    prometheus_url: str
    public_url: str
    db_pool_min: int
    db_pool_max: int
    prefetch: int
    consumer_batch: int
    delivery_limit: int
    retry_delays_ms: tuple[int, ...]
    task_restart_delays_ms: tuple[int, ...]
    shutdown_grace_s: float
    webhook_max_bytes: int
    webhook_rate_per_s: float
    webhook_burst: int
    secret_grace_hours: int
    smtp_host: str
    smtp_port: int
    smtp_tls: str
    smtp_username: str
    smtp_password: str = dataclasses.field(repr=False)
    mail_from: str
    notifier_weekly_cap: int
    delivery_retry_delays_ms: tuple[int, ...]
    delivery_lease_s: int
    delivery_stuck_after_s: int
    previous_secret_keys: tuple[str, ...] = dataclasses.field(repr=False)
    referral_hold_s: int
    loopback_http_callbacks: bool
    forward_daily_limit: int
    community_join_url: str
    retention_closed_postings_days: int
    retention_matches_days: int
    retention_delivery_logs_days: int
    retention_interval_s: int

    @property
    def secret_keys(self) -> tuple[str, ...]:
        """The current secret first (it seals and signs), then the previous ones."""
        return (self.secret_key, *self.previous_secret_keys)

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Settings:
        env = os.environ if environ is None else environ
        values: dict[str, Any] = {}
        problems: list[str] = []
        for var in VARIABLES:
            raw = env.get(var.env)
            if raw is None or (raw == "" and var.default is None):
                if var.default is None:
                    problems.append(f"{var.env} is missing ({var.doc})")
                    continue
                raw = var.default
            try:
                values[var.field] = var.parse(raw.strip())
            except ValueError as exc:
                # Never echo the value: it may be a password or a URL with one.
                problems.append(f"{var.env} is malformed: {exc}")
        if not problems and values["db_pool_min"] > values["db_pool_max"]:
            problems.append(f"{PREFIX}DB_POOL_MIN is larger than {PREFIX}DB_POOL_MAX")
        if not problems and values["matcher_shard"] >= values["matcher_shards"]:
            problems.append(f"{PREFIX}MATCHER_SHARD is not below {PREFIX}MATCHER_SHARDS")
        if problems:
            raise SettingsError(problems)
        return cls(**values)


def read_variable(field: str, environ: Mapping[str, str] | None = None) -> Any:
    """One variable, parsed as ``Settings`` would, for a command that needs no
    other setting (``titles link`` runs without a database)."""
    env = os.environ if environ is None else environ
    (var,) = (v for v in VARIABLES if v.field == field)
    raw = env.get(var.env) or var.default
    if raw is None:
        raise SettingsError([f"{var.env} is missing ({var.doc})"])
    try:
        return var.parse(raw.strip())
    except ValueError as exc:
        raise SettingsError([f"{var.env} is malformed: {exc}"]) from None


def markdown_table() -> str:
    """The README's settings table."""
    lines = ["| Variable | Default | Meaning |", "|---|---|---|"]
    for var in VARIABLES:
        default = "*(required)*" if var.default is None else f"`{var.default}`"
        lines.append(f"| `{var.env}` | {default} | {var.doc} |")
    return "\n".join(lines)
