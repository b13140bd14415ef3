"""Event contracts: CloudEvents 1.0 envelopes with versioned, typed payloads.

Every message on the exchange is a structured-mode CloudEvent in JSON. The
routing key is the event type (``job.created``); the payload's schema version
travels in the ``dataversion`` extension attribute, so a consumer can refuse a
version it does not know instead of misreading it.

Payloads carry ids and company-side data (a posting is not personal data).
They never carry a member's name or email address: a member is a ``member_id``
plus the pseudonymous matching profile, and direct identifiers stay in the
database of the service that needs them.
"""

from __future__ import annotations

import builtins
import collections.abc
import dataclasses
import json
import types
import typing
import uuid
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any, ClassVar, Literal, TypeVar

import orjson

SPECVERSION = "1.0"


class ContractError(ValueError):
    """A message that does not satisfy the event contract (a poison message)."""


@dataclasses.dataclass(frozen=True, slots=True)
class Payload:
    """Base of every event payload. Subclasses set ``TYPE`` and ``VERSION``."""

    TYPE: ClassVar[str]
    VERSION: ClassVar[int]

    def to_json(self) -> dict[str, Any]:
        # Fields are flat (text, numbers, tuples of text, a mapping): a shallow
        # dict is enough, and much cheaper than dataclasses.asdict's deep copy.
        return {name: getattr(self, name) for name in _field_names(type(self))}

    def to_wire(self) -> dict[str, Any]:
        """The payload as it travels (``to_json`` unless a contract keeps a
        field off the wire: ``MemberChanged``)."""
        return self.to_json()

    @classmethod
    def from_wire(cls, data: Mapping[str, Any]) -> Payload:
        """A payload read off the wire (``from_json`` plus the wire's own rules)."""
        return cls.from_json(data)

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Payload:
        unknown = data.keys() - _field_names(cls)
        if unknown:
            # Counted, not named: a field name is the sender's text.
            raise ContractError(f"{cls.TYPE} v{cls.VERSION}: unknown fields ({len(unknown)})")
        try:
            return cls(**_convert(cls, data))
        except TypeError as exc:
            raise ContractError(f"{cls.TYPE} v{cls.VERSION}: {exc}") from None


_FIELD_NAMES: dict[str, tuple[str, ...]] = {}


def _field_names(cls: type[Payload]) -> tuple[str, ...]:
    key = cls.__qualname__
    if key not in _FIELD_NAMES:
        _FIELD_NAMES[key] = tuple(f.name for f in dataclasses.fields(cls))
    return _FIELD_NAMES[key]


def _convert(cls: type[Payload], data: Mapping[str, Any]) -> dict[str, Any]:
    # Nested payload parts are plain dicts and lists in JSON; tuples keep the
    # dataclasses hashable and immutable.
    checks = _checks(cls)
    out: dict[str, Any] = {}
    for key, value in data.items():
        value = tuple(value) if isinstance(value, list) else value
        # Checked here, at decode, so a wrongly typed field is poison at once
        # (straight to the dead-letter queue) instead of failing deep inside a
        # handler on every retry.
        if not checks[key](value):
            hint = _hints(cls)[key]
            raise ContractError(f"{cls.TYPE} v{cls.VERSION}: {key} is not {_describe(hint)}")
        out[key] = value
    return out


_HINTS: dict[str, dict[str, Any]] = {}


def _hints(cls: type[Payload]) -> dict[str, Any]:
    key = cls.__qualname__
    if key not in _HINTS:
        _HINTS[key] = typing.get_type_hints(cls)
    return _HINTS[key]


Check = collections.abc.Callable[[Any], bool]
_CHECKS: dict[str, dict[str, Check]] = {}
_CHECK_OF_HINT: dict[Any, Check] = {}


def _checks(cls: type[Payload]) -> dict[str, Check]:
    """A payload class's field checks, built once: every message decodes
    through them (an import sends member changes by the ten thousand)."""
    key = cls.__qualname__
    if key not in _CHECKS:
        _CHECKS[key] = {name: _check(hint) for name, hint in _hints(cls).items()}
    return _CHECKS[key]


def _fits(value: Any, hint: Any) -> bool:
    """Whether a decoded JSON value has the payload field's declared type."""
    return _check(hint)(value)


def _check(hint: Any) -> Check:
    """``_fits`` for one hint, as a function: the hint is read once, not at
    every value (the typing introspection was most of a decode's time)."""
    found = _CHECK_OF_HINT.get(hint)
    if found is None:
        found = _CHECK_OF_HINT[hint] = _build_check(hint)
    return found


def _build_check(hint: Any) -> Check:
    origin = typing.get_origin(hint)
    if hint is Any:
        return lambda value: True
    if origin is typing.Literal:
        args = typing.get_args(hint)
        # A literal matches in value and in type: True is not 1.
        return lambda value: any(value == arg and type(value) is type(arg) for arg in args)
    if origin in (types.UnionType, typing.Union):
        parts = tuple(_check(arg) for arg in typing.get_args(hint))
        return lambda value: any(part(value) for part in parts)
    if hint is type(None):
        return lambda value: value is None
    if hint is bool:
        return lambda value: isinstance(value, bool)
    if hint is int:
        return lambda value: isinstance(value, int) and not isinstance(value, bool)
    if hint is float:
        return lambda value: isinstance(value, int | float) and not isinstance(value, bool)
    if hint is str:
        return lambda value: isinstance(value, str)
    if origin is tuple:
        item = typing.get_args(hint)[0]
        if item is str:  # most tuples: names, codes, places
            return lambda value: isinstance(value, tuple) and all(isinstance(v, str) for v in value)
        each = _check(item)
        return lambda value: isinstance(value, tuple) and all(each(v) for v in value)
    if origin in (Mapping, dict, collections.abc.Mapping):
        key_hint, item_hint = typing.get_args(hint)
        key_check, item_check = _check(key_hint), _check(item_hint)
        return lambda value: (
            isinstance(value, dict)
            and all(key_check(k) and item_check(v) for k, v in value.items())
        )

    def unknown(value: Any) -> bool:
        raise TypeError(f"no decode check for {hint!r}")  # a contract this module cannot check

    return unknown


def _describe(hint: Any) -> str:
    text = str(hint).replace("typing.", "")
    return text.removeprefix("<class '").removesuffix("'>")


# --- job events (published by ingest) --------------------------------------------------


@dataclasses.dataclass(frozen=True, slots=True)
class JobPosting(Payload):
    """A company's opening as the matcher needs it. Company data, never member data."""

    TYPE: ClassVar[str] = "job.created"
    VERSION: ClassVar[int] = 1

    posting_id: str
    company_id: str
    revision: int
    title: str
    employment_type: str | None = None
    city: str | None = None
    region: str | None = None
    country: str | None = None
    remote: Literal["no", "hybrid", "remote"] = "no"
    languages_required: tuple[str, ...] = ()
    languages_nice: tuple[str, ...] = ()
    skills: tuple[str, ...] = ()
    seniority: str | None = None
    valid_through: str | None = None
    # The company's own name, as members read it in an email.
    company_name: str = ""
    # Every spelling the company is known by (name, aliases, group), for the
    # matcher's never-your-own-employer rule.
    company_names: tuple[str, ...] = ()
    apply_url: str | None = None
    # Version 2 (optional, so a version-1 body still reads): what a member's
    # opening page shows. Company text, never member data.
    description: str | None = None
    salary_min: float | None = None
    salary_max: float | None = None
    salary_currency: str | None = None
    salary_period: Literal["HOUR", "MONTH", "YEAR"] | None = None


@dataclasses.dataclass(frozen=True, slots=True)
class JobCreated(JobPosting):
    TYPE: ClassVar[str] = "job.created"
    VERSION: ClassVar[int] = 2


@dataclasses.dataclass(frozen=True, slots=True)
class JobUpdated(JobPosting):
    TYPE: ClassVar[str] = "job.updated"
    VERSION: ClassVar[int] = 2


# Version 1 of the job events stays readable: messages already queued (or in a
# dead-letter queue) when version 2 was deployed decode to the same fields,
# the new ones absent.
@dataclasses.dataclass(frozen=True, slots=True)
class JobCreatedV1(JobCreated):
    VERSION: ClassVar[int] = 1


@dataclasses.dataclass(frozen=True, slots=True)
class JobUpdatedV1(JobUpdated):
    VERSION: ClassVar[int] = 1


@dataclasses.dataclass(frozen=True, slots=True)
class JobClosed(Payload):
    TYPE: ClassVar[str] = "job.closed"
    VERSION: ClassVar[int] = 1

    posting_id: str
    company_id: str
    revision: int


# --- member events (published by ingest) -----------------------------------------------


@dataclasses.dataclass(frozen=True, slots=True)
class MemberChanged(Payload):
    """A member's pseudonymous profile, as matching and delivery need it.

    No name, no email address: those travel only inside ``sealed_contact``,
    encrypted with the data key from the settings, so a message read off a
    queue or a dead-letter queue does not say who the member is. Nor the
    member's companies (version 2): with the cities, roles and seniority, an
    employer's name says who the member is, so ``employer_names`` and
    ``blocked_companies`` travel only inside ``sealed_companies``. On the wire
    those two fields are absent; a consumer fills them once, at its boundary
    (``shared.member_companies.opened``), and its handlers read plain values.
    """

    TYPE: ClassVar[str] = "member.changed"
    VERSION: ClassVar[int] = 2
    # Filled from ``sealed_companies`` inside a consumer; never on the wire.
    OPENED: ClassVar[tuple[str, ...]] = ("employer_names", "blocked_companies")

    member_id: str
    revision: int
    opted_in: bool
    language: Literal["it", "sv", "en"] = "en"
    timezone: str = "Europe/Rome"
    desired_roles: tuple[str, ...] = ()
    skills: tuple[str, ...] = ()
    languages: tuple[str, ...] = ()
    cities: tuple[str, ...] = ()
    regions: tuple[str, ...] = ()
    country: str | None = None
    remote: Literal["no", "hybrid", "remote"] = "no"
    seniority: str | None = None
    employer_names: tuple[str, ...] = ()
    blocked_companies: tuple[str, ...] = ()
    frequency: Literal["instant", "daily", "weekly"] = "instant"
    quiet_hours: tuple[str, ...] = ()  # ("22:00", "07:30") in the member's time zone
    paused_until: str | None = None
    sealed_contact: str | None = None
    sealed_companies: str | None = None

    def to_wire(self) -> dict[str, Any]:
        # Refused rather than dropped: a publisher that forgot to seal would
        # otherwise tell every consumer "no employer", and the member would be
        # matched to their own company.
        if self.employer_names or self.blocked_companies or self.sealed_companies is None:
            raise ContractError(f"{self.TYPE} v{self.VERSION}: companies must travel sealed")
        data = self.to_json()
        for name in self.OPENED:
            del data[name]
        return data

    @classmethod
    def from_wire(cls, data: Mapping[str, Any]) -> Payload:
        # Fail closed: without the sealed field a consumer could not tell "no
        # companies" from "companies lost", and would match without the rule.
        if any(name in data for name in cls.OPENED):
            raise ContractError(f"{cls.TYPE} v{cls.VERSION}: companies in clear")
        if not isinstance(data.get("sealed_companies"), str):
            raise ContractError(f"{cls.TYPE} v{cls.VERSION}: sealed_companies is not str")
        return cls.from_json(data)


# Version 1 stays readable while messages published before version 2 may still
# be queued or dead-lettered: the companies in clear, no ``sealed_companies``.
# Nothing publishes it; ``shared.member_companies.opened`` upcasts it.
@dataclasses.dataclass(frozen=True, slots=True)
class MemberChangedV1(MemberChanged):
    VERSION: ClassVar[int] = 1

    def to_wire(self) -> dict[str, Any]:
        data = self.to_json()
        del data["sealed_companies"]
        return data

    @classmethod
    def from_wire(cls, data: Mapping[str, Any]) -> Payload:
        if "sealed_companies" in data:
            raise ContractError(f"{cls.TYPE} v{cls.VERSION}: unknown fields (1)")
        return cls.from_json(data)


@dataclasses.dataclass(frozen=True, slots=True)
class MemberErased(Payload):
    TYPE: ClassVar[str] = "member.erased"
    VERSION: ClassVar[int] = 1

    member_id: str


@dataclasses.dataclass(frozen=True, slots=True)
class MemberDeclined(Payload):
    """A member said "not for me" to a posting, with the reason they picked
    (the notifier's form: role, place, level, company, timing, other, none).
    Ids and a code only: the matcher reads the posting from its own table."""

    TYPE: ClassVar[str] = "member.declined"
    VERSION: ClassVar[int] = 1

    member_id: str
    posting_id: str
    reason: Literal["role", "place", "level", "company", "timing", "other", "none"] = "none"


@dataclasses.dataclass(frozen=True, slots=True)
class ProfileEdited(Payload):
    """A member edited their matching profile on the preference page
    (published by the notifier, applied by ingest, which owns the profile and
    re-publishes it as ``member.changed`` with a new revision).

    The edit (roles, cities, remote, languages, blocked companies:
    ``shared.profile_edit.ProfileEdit``) travels only inside ``sealed_edit``,
    sealed like ``MemberChanged.sealed_contact``: blocked companies can name
    the member's employer. ``edited_at`` orders two edits of one member.
    Not a ``member.*`` type: only ingest listens, not every matcher shard.
    """

    TYPE: ClassVar[str] = "profile.edited"
    VERSION: ClassVar[int] = 1

    member_id: str
    edited_at: str
    sealed_edit: str


# --- match events (published by the matcher) -------------------------------------------


@dataclasses.dataclass(frozen=True, slots=True)
class MatchFound(Payload):
    """One member fits one posting. ``explanation`` is structured (role ids,
    language codes, place kind), never prose, so the notifier can render it in
    the member's own language."""

    TYPE: ClassVar[str] = "match.found"
    VERSION: ClassVar[int] = 1

    match_id: str
    posting_id: str
    member_id: str
    score: float
    explanation: Mapping[str, Any]
    # What the email shows of the opening (company data, never member data),
    # as of this revision of the posting: the notifier needs no other source.
    posting_revision: int = 1
    title: str = ""
    company_name: str = ""
    city: str | None = None
    region: str | None = None
    country: str | None = None
    remote: Literal["no", "hybrid", "remote"] = "no"
    apply_url: str | None = None
    valid_through: str | None = None


@dataclasses.dataclass(frozen=True, slots=True)
class MatchWithdrawn(Payload):
    TYPE: ClassVar[str] = "match.withdrawn"
    VERSION: ClassVar[int] = 1

    match_id: str
    posting_id: str
    member_id: str
    reason: str


# --- referrals (requested in the notifier, delivered by ingest) -----------------------


@dataclasses.dataclass(frozen=True, slots=True)
class ReferralRequested(Payload):
    """A member consented, for this one opening, to be introduced to the company.

    What the company will receive (name, email, the member's note, an optional
    CV or profile link) travels only inside ``sealed_referral``, sealed like
    ``MemberChanged.sealed_contact``: exactly what the member saw and confirmed.
    Ingest, which owns the companies, delivers it (callback or email).
    """

    TYPE: ClassVar[str] = "referral.requested"
    VERSION: ClassVar[int] = 2

    referral_id: str
    posting_id: str
    member_id: str
    language: Literal["it", "sv", "en"]
    consented_at: str
    sealed_referral: str


@dataclasses.dataclass(frozen=True, slots=True)
class ReferralWithdrawn(Payload):
    """The member took the referral back before it was delivered."""

    TYPE: ClassVar[str] = "referral.withdrawn"
    VERSION: ClassVar[int] = 1

    referral_id: str
    member_id: str
    posting_id: str


@dataclasses.dataclass(frozen=True, slots=True)
class ReferralSettled(Payload):
    """What became of a referral at the company's end (published by ingest).

    ``outcome``: ``delivered`` (the company's callback answered 2xx, or the
    email was accepted), ``failed`` (attempts used up: an operator looks at
    it), ``cancelled`` (withdrawn in time, member erased, company unknown).
    """

    TYPE: ClassVar[str] = "referral.settled"
    VERSION: ClassVar[int] = 1

    referral_id: str
    member_id: str
    outcome: Literal["delivered", "failed", "cancelled"]
    channel: Literal["callback", "email", "none"] = "none"


@dataclasses.dataclass(frozen=True, slots=True)
class ReferralDelayed(Payload):
    """The first attempt to deliver a referral failed and ingest keeps trying
    (published by ingest, once a referral): the member's page says so, rather
    than "on its way" for as long as the company's system is down. Nothing
    about why: the reason is the company's, read by operators."""

    TYPE: ClassVar[str] = "referral.delayed"
    VERSION: ClassVar[int] = 1

    referral_id: str
    member_id: str


# --- privacy requests ------------------------------------------------------------------


@dataclasses.dataclass(frozen=True, slots=True)
class MemberExportRequested(Payload):
    """Every service that holds data about the member answers with ``export.part``."""

    TYPE: ClassVar[str] = "member.export_requested"
    VERSION: ClassVar[int] = 1

    export_id: str
    member_id: str


@dataclasses.dataclass(frozen=True, slots=True)
class ExportPart(Payload):
    """One service's share of a member's data export, sealed (it is personal data)."""

    TYPE: ClassVar[str] = "export.part"
    VERSION: ClassVar[int] = 1

    export_id: str
    member_id: str
    service: str
    sealed_data: str


@dataclasses.dataclass(frozen=True, slots=True)
class Ping(Payload):
    """A harmless event for smoke tests, demos and the broker's own checks."""

    TYPE: ClassVar[str] = "system.ping"
    VERSION: ClassVar[int] = 1

    ping_id: str
    note: str = ""


PAYLOADS: dict[tuple[str, int], type[Payload]] = {
    (p.TYPE, p.VERSION): p
    for p in (
        JobCreated,
        JobCreatedV1,
        JobUpdated,
        JobUpdatedV1,
        JobClosed,
        MemberChanged,
        MemberChangedV1,
        MemberErased,
        MemberDeclined,
        ProfileEdited,
        MatchFound,
        MatchWithdrawn,
        ReferralRequested,
        ReferralWithdrawn,
        ReferralSettled,
        ReferralDelayed,
        MemberExportRequested,
        ExportPart,
        Ping,
    )
}

P = TypeVar("P", bound=Payload)


@dataclasses.dataclass(frozen=True, slots=True)
class Envelope:
    """A CloudEvents 1.0 envelope in structured JSON mode."""

    id: str
    source: str
    type: str
    time: str
    dataversion: int
    data: Payload
    specversion: str = SPECVERSION
    datacontenttype: str = "application/json"

    @classmethod
    def wrap(cls, payload: Payload, *, source: str, event_id: str | None = None) -> Envelope:
        return cls(
            id=event_id or str(uuid.uuid4()),
            source=source,
            type=payload.TYPE,
            time=datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z"),
            dataversion=payload.VERSION,
            data=payload,
        )

    def to_json(self) -> dict[str, Any]:
        return {
            "specversion": self.specversion,
            "id": self.id,
            "source": self.source,
            "type": self.type,
            "time": self.time,
            "datacontenttype": self.datacontenttype,
            "dataversion": self.dataversion,
            "data": self.data.to_wire(),
        }

    def encode(self) -> bytes:
        # orjson writes the same compact UTF-8 several times faster (every
        # accepted webhook encodes one); what it declines (an integer past 64
        # bits, a lone surrogate) the standard library writes as before.
        try:
            return orjson.dumps(self.to_json())
        except TypeError:
            return json.dumps(self.to_json(), separators=(",", ":"), ensure_ascii=False).encode()

    @classmethod
    def decode(cls, body: bytes) -> Envelope:
        try:
            # orjson reads the same documents several times faster; what it
            # declines (an integer past 64 bits, NaN, UTF-16, invalid text)
            # the standard library reads, or refuses, exactly as before.
            raw = orjson.loads(body)
        except orjson.JSONDecodeError:
            try:
                raw = json.loads(body)
            # RecursionError: nesting deeper than the parser goes (a hostile body).
            except (UnicodeDecodeError, json.JSONDecodeError, RecursionError) as exc:
                raise ContractError(f"not JSON: {exc.__class__.__name__}") from None
        if not isinstance(raw, dict):
            raise ContractError("envelope is not a JSON object")
        return cls.from_json(raw)

    @classmethod
    def from_json(cls, raw: Mapping[str, Any]) -> Envelope:
        missing = [k for k in ("specversion", "id", "source", "type", "data") if k not in raw]
        if missing:
            raise ContractError(f"envelope lacks {missing}")
        # No reason below quotes a value of the message: reasons reach the
        # dead-letter queue, the log and the console, and a value can be a name.
        if raw["specversion"] != SPECVERSION:
            raise ContractError(f"unsupported specversion (expected {SPECVERSION})")
        version = raw.get("dataversion", 1)
        # Checked before the lookup: a list or an object here is unhashable.
        if not isinstance(raw["type"], str):
            raise ContractError("type is not a string")
        if not isinstance(version, int) or isinstance(version, bool):
            raise ContractError("dataversion is not an integer")
        payload_cls = PAYLOADS.get((raw["type"], version))
        if payload_cls is None:
            known = any(raw["type"] == kind for kind, _ in PAYLOADS)
            raise ContractError(
                f"unknown version: {raw['type']} v{version}" if known else "unknown event type"
            )
        if not isinstance(raw["data"], dict):
            raise ContractError("data is not a JSON object")
        return cls(
            id=str(raw["id"]),
            source=str(raw["source"]),
            type=str(raw["type"]),
            time=str(raw.get("time", "")),
            dataversion=int(version),
            data=payload_cls.from_wire(raw["data"]),
            datacontenttype=str(raw.get("datacontenttype", "application/json")),
        )

    def payload(self, kind: builtins.type[P]) -> P:
        if not isinstance(self.data, kind):
            raise ContractError(f"expected {kind.TYPE}, got {self.type}")
        return self.data
