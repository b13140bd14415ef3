"""Signed, expiring, opaque tokens for the links in a member's email.

A token is ``base64url(version | action | subject uuid | expiry) + tag``: 42
bytes, 56 URL-safe characters, no padding. It names a notification or member
only by a random UUID, so a link that leaks (a forwarded mail, a proxy log)
says nothing about who the member is. The tag is HMAC-SHA256 truncated to 128
bits, which is ample against forgery and keeps links short enough to survive
plain-text mail clients.

Keys rotate by configuration: sign with the first secret, accept any of them,
so old mails keep working while a retired key is still listed.
"""

from __future__ import annotations

import base64
import binascii
import enum
import functools
import hashlib
import hmac
import re
import struct
import uuid
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

__all__ = [
    "DEFAULT_TTL",
    "MIN_SECRET_BYTES",
    "TOKEN_LENGTH",
    "Action",
    "TokenError",
    "TokenExpired",
    "TokenInvalid",
    "issue",
    "verify",
]


class Action(enum.Enum):
    """What a link does. The values are the wire codes: never renumber them."""

    UNSUBSCRIBE = 1
    INTERESTED = 2
    NOT_FOR_ME = 3
    FORWARD = 4
    PAUSE = 5
    PREFERENCES = 6
    # A colleague's "never write to me again", in a forwarded opening.
    NEVER = 7
    # The opening itself (description, salary, deadline), for the member only.
    OPENING = 8


class TokenError(Exception):
    """Base of everything ``verify`` raises; the message never echoes the token."""


class TokenInvalid(TokenError):
    """Malformed, tampered, signed with an unknown key, or meant for another action."""


class TokenExpired(TokenError):
    """Authentic, but past its expiry."""


MIN_SECRET_BYTES = 32
_VERSION = 1
# Domain separation: the same secret used by another part of the system can
# never produce a tag that is valid here.
_CONTEXT = b"passaparola/link-token/v1\x00"
_BODY = struct.Struct(">BB16sQ")  # version, action, subject, expiry (unix seconds)
_TAG_BYTES = 16
_RAW_BYTES = _BODY.size + _TAG_BYTES
# 42 bytes is a multiple of 3, so the encoding has no padding and no spare
# bits: each token has exactly one spelling, and the length check is exact.
TOKEN_LENGTH = _RAW_BYTES * 4 // 3
_SHAPE = re.compile(rf"[A-Za-z0-9_-]{{{TOKEN_LENGTH}}}")

# Suggested lifetimes. Unsubscribe links must keep working long after the mail
# was sent (RFC 8058 and mailbox providers expect it); the others can lapse.
DEFAULT_TTL: dict[Action, timedelta] = {
    Action.UNSUBSCRIBE: timedelta(days=400),
    Action.INTERESTED: timedelta(days=60),
    Action.NOT_FOR_ME: timedelta(days=60),
    Action.FORWARD: timedelta(days=60),
    Action.PAUSE: timedelta(days=180),
    Action.PREFERENCES: timedelta(days=180),
    Action.NEVER: timedelta(days=400),
    Action.OPENING: timedelta(days=60),
}


def issue(
    secret: bytes | Sequence[bytes],
    action: Action,
    subject_id: uuid.UUID,
    ttl: timedelta,
    *,
    now: datetime | None = None,
) -> str:
    """A token for ``action`` on ``subject_id``, valid for ``ttl`` from ``now``.

    With a list of secrets, signs with the first (the current key).
    """
    key = _keys(secret)[0]
    if ttl <= timedelta(0):
        raise ValueError("ttl must be positive")
    issued = _aware(now) if now is not None else datetime.now(UTC)
    expiry = int((issued + ttl).timestamp())
    body = _BODY.pack(_VERSION, action.value, subject_id.bytes, expiry)
    return base64.urlsafe_b64encode(body + _tag(key, body)).decode("ascii")


def verify(
    secret: bytes | Sequence[bytes],
    token: str,
    action: Action,
    now: datetime,
) -> uuid.UUID:
    """The subject id of an authentic, unexpired token for ``action``.

    Raises ``TokenInvalid`` or ``TokenExpired`` and nothing else for any
    ``token`` value; a bad ``secret`` is a configuration error (``ValueError``).
    """
    keys = _keys(secret)
    if not isinstance(token, str) or not _SHAPE.fullmatch(token):
        raise TokenInvalid("malformed token")
    try:
        raw = base64.urlsafe_b64decode(token)
    except (binascii.Error, ValueError):  # unreachable after the shape check; kept for safety
        raise TokenInvalid("malformed token") from None
    body, tag = raw[: _BODY.size], raw[_BODY.size :]
    # Check every key without stopping early, so the time taken does not say
    # which key (if any) matched.
    authentic = False
    for key in keys:
        authentic |= hmac.compare_digest(_tag(key, body), tag)
    if not authentic:
        raise TokenInvalid("bad signature")
    version, action_code, subject, expiry = _BODY.unpack(body)
    if version != _VERSION or action_code != action.value:
        raise TokenInvalid("token is not for this action")
    if _aware(now).timestamp() >= expiry:
        raise TokenExpired("token expired")
    return uuid.UUID(bytes=subject)


def _tag(key: bytes, body: bytes) -> bytes:
    # HMAC-SHA256 over the context and the body. The key's HMAC state, with
    # the context already in it, is made once per key and copied for each
    # tag: a digest signs some twenty links, and setting up an HMAC key is
    # most of signing a short body.
    signer = _signer(key).copy()
    signer.update(body)
    return signer.digest()[:_TAG_BYTES]


@functools.lru_cache(maxsize=16)  # the live keys: a handful (keys rotate by configuration)
def _signer(key: bytes) -> hmac.HMAC:
    return hmac.new(key, _CONTEXT, hashlib.sha256)


def _keys(secret: bytes | Sequence[bytes]) -> list[bytes]:
    keys = [secret] if isinstance(secret, bytes | bytearray) else list(secret)
    if not keys:
        raise ValueError("at least one secret is required")
    for key in keys:
        if not isinstance(key, bytes | bytearray) or len(key) < MIN_SECRET_BYTES:
            raise ValueError(f"each secret must be bytes of length >= {MIN_SECRET_BYTES}")
    return [bytes(k) for k in keys]


def _aware(moment: datetime) -> datetime:
    # A naive datetime would silently be read as the server's local time.
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError("datetimes must be timezone-aware")
    return moment
