"""Structured logging: pretty on a terminal, JSON otherwise, personal data redacted.

All output, ours and the standard library's (aiohttp, aio-pika, asyncpg), goes
through one structlog processor chain that ends in the redactor, so nothing
reaches stdout without being scrubbed: not an event field, not an exception
message quoting a database row, not a traceback.

Redaction has three layers, because no one of them is enough:
- fields whose *name* says they hold personal data are replaced outright;
- email addresses and phone numbers are found by pattern in any string;
- values a handler knows to be personal (a member's name, say, which no pattern
  can recognise) are registered with ``sensitive()`` for the current task and
  removed wherever they appear.
"""

from __future__ import annotations

import contextlib
import contextvars
import logging
import re
import sys
from collections.abc import Iterator, Mapping, MutableMapping
from typing import Any

import structlog
from structlog.typing import EventDict, Processor, WrappedLogger

REDACTED = "[redacted]"

PERSONAL_KEYS = frozenset(
    {
        "email", "email_address", "to", "recipient", "rcpt", "name", "full_name",
        "first_name", "last_name", "given_name", "family_name", "phone", "phone_number",
        "mobile", "address", "street", "note", "cv_url", "profile_url", "password",
        "secret", "token", "authorization", "cookie", "employer", "current_employer",
        "sealed_contact", "sealed_companies", "employer_names", "blocked_companies",
    }
)  # fmt: skip

_EMAIL = re.compile(r"[\w.!#$%&'*+/=?^`{|}~-]+@[\w-]+(?:\.[\w-]+)+", re.UNICODE)
# International numbers (+39 ..., 0046 ...) and national ones written in 3+
# groups ("02 1234 5678", "070-123 45 67"); ISO dates, times, addresses and
# ids do not have either shape.
_PHONE = re.compile(
    r"(?<![\w.-])(?:\+|00)\d[\d \-./()]{6,}\d"
    r"|(?<![\w.-])(?!\d{4}-\d{2}-\d{2})\d{2,4}(?:[ -]\d{2,4}){2,}(?![\w-])"
)

_sensitive: contextvars.ContextVar[tuple[str, ...]] = contextvars.ContextVar(
    "passaparola_sensitive", default=()
)


@contextlib.contextmanager
def sensitive(*values: str | None) -> Iterator[None]:
    """Redact these literal values from every log line written in this block."""
    extra = tuple(v for v in values if v and len(v) >= 3)
    token = _sensitive.set(_sensitive.get() + extra)
    try:
        yield
    finally:
        _sensitive.reset(token)


def scrub(text: str) -> str:
    """Remove personal data from one string."""
    for value in sorted(_sensitive.get(), key=len, reverse=True):
        text = text.replace(value, REDACTED)
    text = _EMAIL.sub(REDACTED, text)
    return _PHONE.sub(REDACTED, text)


def _scrub_value(key: str, value: Any) -> Any:
    if key.lower() in PERSONAL_KEYS and value not in (None, "", (), []):
        return REDACTED
    if isinstance(value, str):
        return scrub(value)
    if isinstance(value, Mapping):
        return {k: _scrub_value(str(k), v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [_scrub_value("", v) for v in value]
    if isinstance(value, int | float | bool) or value is None:
        return value
    return scrub(str(value))


def redact(_: WrappedLogger, __: str, event_dict: EventDict) -> EventDict:
    """structlog processor: the last word before rendering."""
    return {key: _scrub_value(key, value) for key, value in event_dict.items()}


def configure(level: str = "info", fmt: str = "auto", stream: Any = None) -> None:
    """Configure structlog and the standard library's logging once per process."""
    out = stream or sys.stdout
    if fmt == "auto":
        fmt = "console" if hasattr(out, "isatty") and out.isatty() else "json"
    renderer: Processor = (
        structlog.dev.ConsoleRenderer(colors=True)
        if fmt == "console"
        else structlog.processors.JSONRenderer(ensure_ascii=False, sort_keys=False)
    )
    shared: list[Processor] = [
        structlog.contextvars.merge_contextvars,
        _add_process,
        structlog.stdlib.add_log_level,
        structlog.stdlib.add_logger_name,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        structlog.processors.StackInfoRenderer(),
        # Exceptions become text before redaction, so the text is scrubbed too.
        structlog.processors.format_exc_info,
        structlog.processors.UnicodeDecoder(),
    ]
    structlog.configure(
        processors=[
            structlog.stdlib.filter_by_level,
            *shared,
            structlog.stdlib.ProcessorFormatter.wrap_for_formatter,
        ],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=False,
    )
    formatter = structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=[structlog.stdlib.ExtraAdder(), *shared],
        processors=[
            structlog.stdlib.ProcessorFormatter.remove_processors_meta,
            redact,
            renderer,
        ],
    )
    handler = logging.StreamHandler(out)
    handler.setFormatter(formatter)
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    # Libraries at INFO are chatty about every connection; keep their warnings.
    for noisy in ("aiormq", "aio_pika", "asyncio", "aiohttp.access"):
        logging.getLogger(noisy).setLevel(max(logging.WARNING, root.level))


def get_logger(name: str) -> structlog.stdlib.BoundLogger:
    logger: structlog.stdlib.BoundLogger = structlog.stdlib.get_logger(name)
    return logger


_process: dict[str, Any] = {}


def bind_process(**values: Any) -> None:
    """Context for every line this process writes (the service's name)."""
    _process.update(values)


def _add_process(_: WrappedLogger, __: str, event_dict: EventDict) -> EventDict:
    for key, value in _process.items():
        event_dict.setdefault(key, value)
    return event_dict


def bind(**values: Any) -> None:
    """Start a new unit of work (a request, a message): fresh context, these ids."""
    structlog.contextvars.clear_contextvars()
    structlog.contextvars.bind_contextvars(**values)


def bind_more(**values: Any) -> None:
    """Add ids to the unit of work already started (a request the middleware
    bound): nothing bound before is dropped, and no clearing is paid twice."""
    structlog.contextvars.bind_contextvars(**values)


def redact_mapping(values: MutableMapping[str, Any]) -> dict[str, Any]:
    """Scrub a mapping for display outside the log (an operator view, an error)."""
    return {key: _scrub_value(key, value) for key, value in values.items()}
