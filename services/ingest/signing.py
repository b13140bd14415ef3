"""Standard Webhooks signatures: secrets for companies, and verification of
their requests with the well-kept ``standardwebhooks`` library.

The library raises plain ``ValueError`` / ``UnicodeDecodeError`` on malformed
headers or bodies; here every failure becomes a ``SignatureError`` with a
reason a company can act on, and a status (401, or 400 for a body that is not
UTF-8), never an unhandled exception.
"""

from __future__ import annotations

import base64
import binascii
import functools
import secrets
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime

from standardwebhooks import Webhook, WebhookVerificationError

SECRET_PREFIX = "whsec_"  # noqa: S105 - the format's prefix, not a secret
HEADERS = ("webhook-id", "webhook-timestamp", "webhook-signature")


class SignatureError(Exception):
    def __init__(self, reason: str, status: int = 401) -> None:
        super().__init__(reason)
        self.reason = reason
        self.status = status


def new_secret() -> str:
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(32)).decode()


def sign(secret: str, webhook_id: str, timestamp: int, body: bytes) -> str:
    """The signature header a company sends (used by the demo, tests and docs)."""
    moment = datetime.fromtimestamp(timestamp, tz=UTC)
    return Webhook(secret).sign(webhook_id, moment, body.decode())


@functools.lru_cache(maxsize=1024)
def _webhook(secret: str) -> Webhook:
    # A verifier per live secret, made once (as the bare endpoint does):
    # making one decodes the secret's base64 on every request.
    return Webhook(secret)


def verify(body: bytes, headers: Mapping[str, str], secrets_: Sequence[str]) -> datetime:
    """Check the request against each of the company's live secrets; return the
    signed timestamp (the event's time, used to order deliveries)."""
    lowered = {k.lower(): v for k, v in headers.items() if k.lower() in HEADERS}
    missing = [name for name in HEADERS if not lowered.get(name)]
    if missing:
        raise SignatureError(f"missing header(s): {', '.join(missing)}")
    try:
        body.decode("utf-8")
    except UnicodeDecodeError:
        raise SignatureError("the body is not UTF-8", status=400) from None
    failure = "the signature does not match"
    for secret in secrets_:
        try:
            _webhook(secret).verify(body, lowered, json_parse=False)
        except WebhookVerificationError as exc:
            text = str(exc)
            if "too old" in text or "too new" in text:
                raise SignatureError(
                    "webhook-timestamp is more than 5 minutes from our clock"
                ) from None
            if "Invalid Signature Headers" in text:
                raise SignatureError("webhook-timestamp is not a Unix time in seconds") from None
            continue
        except (ValueError, binascii.Error):
            raise SignatureError(
                "webhook-signature is malformed: expected space-separated 'v1,<base64>'"
            ) from None
        return datetime.fromtimestamp(int(float(lowered["webhook-timestamp"])), tz=UTC)
    raise SignatureError(failure)
