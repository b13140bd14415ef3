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
from types import MappingProxyType
from typing import Any

import structlog
from structlog.typing import EventDict, FilteringBoundLogger, Processor, WrappedLogger

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
    values = _sensitive.get()
    if values:
        for value in sorted(values, key=len, reverse=True):
            text = text.replace(value, REDACTED)
    if "@" in text:  # an address has one; most text has none (a search is dearer)
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


# Written by the processors above, whatever a caller passed under these
# names: the time, the level and the logger's (module's) name.
_OURS = frozenset({"timestamp", "level", "logger"})


def redact(_: WrappedLogger, __: str, event_dict: EventDict) -> EventDict:
    """structlog processor: the last word before rendering."""
    return {
        key: value if key in _OURS else _scrub_value(key, value)
        for key, value in event_dict.items()
    }


class _LineWriter:
    """Where structlog's own events go: the stream of the standard library's
    handler, a line at a time, under that handler's lock, so the two kinds of
    line never interleave. Without the standard library's detour (two log
    records, the caller's frame looked up, the handler chain) a rendered line
    costs a fraction of what it did, and an accepted webhook writes one
    (docs/performance.md, "Ingest", session 6)."""

    def __init__(self, handler: logging.StreamHandler[Any], name: str) -> None:
        self._handler = handler
        self.name = name  # for add_logger_name

    def msg(self, line: str) -> None:
        handler = self._handler
        try:
            with handler.lock or contextlib.nullcontext():
                handler.stream.write(line + "\n")
                handler.stream.flush()
        except Exception:  # noqa: S110 - as logging does: a log line never fails its caller
            pass

    debug = info = warning = warn = error = critical = exception = fatal = failure = msg


class _WriterFactory:
    def __init__(self, handler: logging.StreamHandler[Any]) -> None:
        self._handler = handler
        self._writers: dict[str, _LineWriter] = {}

    def __call__(self, *args: Any) -> _LineWriter:
        name = str(args[0]) if args else ""
        writer = self._writers.get(name)
        if writer is None:
            writer = self._writers[name] = _LineWriter(self._handler, name)
        return writer


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
        _merge_context,
        _add_process,
        structlog.stdlib.add_log_level,
        structlog.stdlib.add_logger_name,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        structlog.processors.StackInfoRenderer(),
        # Exceptions become text before redaction, so the text is scrubbed too.
        structlog.processors.format_exc_info,
        structlog.processors.UnicodeDecoder(),
    ]
    handler = logging.StreamHandler(out)
    numeric = logging.getLevelName(level.upper())
    # Our own events: filtered by level before anything is built (a call
    # below the level costs next to nothing), then the same processors as
    # the standard library's records, and written as lines to the handler's
    # stream.
    structlog.configure(
        processors=[*shared, redact, renderer],
        logger_factory=_WriterFactory(handler),
        wrapper_class=structlog.make_filtering_bound_logger(numeric),
        cache_logger_on_first_use=False,
    )
    # The standard library's records (aiohttp, aio-pika, asyncpg): the same
    # chain, through a formatter.
    formatter = structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=[structlog.stdlib.ExtraAdder(), *shared],
        processors=[
            structlog.stdlib.ProcessorFormatter.remove_processors_meta,
            redact,
            renderer,
        ],
    )
    handler.setFormatter(formatter)
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(numeric)
    # Libraries at INFO are chatty about every connection; keep their warnings.
    for noisy in ("aiormq", "aio_pika", "asyncio", "aiohttp.access"):
        logging.getLogger(noisy).setLevel(max(logging.WARNING, root.level))


def get_logger(name: str) -> FilteringBoundLogger:
    logger: FilteringBoundLogger = structlog.get_logger(name)
    return logger


_process: dict[str, Any] = {}


def bind_process(**values: Any) -> None:
    """Context for every line this process writes (the service's name)."""
    _process.update(values)


def _add_process(_: WrappedLogger, __: str, event_dict: EventDict) -> EventDict:
    for key, value in _process.items():
        event_dict.setdefault(key, value)
    return event_dict


# The unit of work's ids: one variable holding a mapping that is replaced,
# never changed in place, so a task started earlier keeps the ids it saw.
# (structlog's contextvars keep a variable per key, and clearing them walks
# a copy of the whole context: several times the cost, on every request.)
_context: contextvars.ContextVar[Mapping[str, Any]] = contextvars.ContextVar(
    "passaparola_log_context", default=MappingProxyType({})
)


def _merge_context(_: WrappedLogger, __: str, event_dict: EventDict) -> EventDict:
    for key, value in _context.get().items():
        event_dict.setdefault(key, value)
    return event_dict


def bind(**values: Any) -> None:
    """Start a new unit of work (a request, a message): fresh context, these ids."""
    _context.set(values)


def bind_more(**values: Any) -> None:
    """Add ids to the unit of work already started (a request the middleware
    bound): nothing bound before is dropped."""
    _context.set({**_context.get(), **values})


def redact_mapping(values: MutableMapping[str, Any]) -> dict[str, Any]:
    """Scrub a mapping for display outside the log (an operator view, an error)."""
    return {key: _scrub_value(key, value) for key, value in values.items()}
