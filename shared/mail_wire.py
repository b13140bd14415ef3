"""The last check before an email's bytes go to SMTP, the same for every sender.

Whatever builds a message (the notifier's emails and forwards, ingest's
referral cards), its serialised header block must be exactly the headers the
sender meant, each once, in plain ASCII with no stray CR, LF or NUL: a value
that smuggled a line break into a header (CVE-2024-6923 and its kin) shows up
here as a header too many or a malformed line, and the message is not sent.
"""

from __future__ import annotations

import email
import email.policy
import re
from collections.abc import Sequence
from typing import Any


class UnsafeMessage(RuntimeError):
    """The serialised message does not have exactly the intended headers."""


_FIELD_NAME = re.compile(rb"[!-9;-~]+")


def check_header_block(data: bytes, expected: Sequence[str]) -> None:
    """Refuse ``data`` unless its header block is exactly ``expected`` (names,
    once each, any order, any case) and intact."""
    head, sep, _ = data.partition(b"\r\n\r\n")
    if not sep:
        raise UnsafeMessage("no end of header block")
    names: list[str] = []
    for line in head.split(b"\r\n"):
        if b"\r" in line or b"\n" in line or b"\x00" in line or not line.isascii():
            raise UnsafeMessage("stray control or non-ASCII byte in the header block")
        if line[:1] in (b" ", b"\t"):
            if not names:
                raise UnsafeMessage("header block starts with a continuation line")
            continue
        name, colon, _ = line.partition(b":")
        if not colon or not _FIELD_NAME.fullmatch(name):
            raise UnsafeMessage("malformed header line")
        names.append(name.decode("ascii"))
    if sorted(n.lower() for n in names) != sorted(n.lower() for n in expected):
        raise UnsafeMessage(f"unexpected header block: {names}")


def one_address_each(data: bytes, fields: Sequence[str]) -> list[str]:
    """The one address of each of ``fields``, as parsed back from the bytes
    (a field with none or several is refused)."""
    parsed = email.message_from_bytes(data, policy=email.policy.default)
    found: list[str] = []
    for field in fields:
        addresses: tuple[Any, ...] = getattr(parsed[field], "addresses", ())
        if len(addresses) != 1:
            raise UnsafeMessage(f"{field} must hold exactly one address")
        found.append(str(addresses[0].addr_spec))
    return found
