"""Sealing personal data: authenticated encryption (Fernet, from ``cryptography``)
with a key derived from the settings' secret.

A member's name and address are stored and carried only sealed, so a database
dump, a queue message or a dead letter alone does not say who the member is.
Keys are derived per purpose (HKDF), so the link-signing key and the sealing
key are never the same bytes.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from collections.abc import Mapping, Sequence
from typing import Any

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF


class SealError(Exception):
    """A sealed value could not be opened: tampered, or sealed under another key."""


def derive_key(secret: str, purpose: str) -> bytes:
    return HKDF(
        algorithm=hashes.SHA256(), length=32, salt=None, info=f"passaparola/{purpose}".encode()
    ).derive(secret.encode())


def address_hashes(secrets: Sequence[str], purpose: str, address: str) -> list[bytes]:
    """Keyed hashes of a normalised email address (recognisable, not
    reversible), one per secret: the current one first, to store; the
    previous ones so a record made before a key rotation is still found."""
    normalised = address.strip().lower().encode()
    return [
        hmac.new(derive_key(secret, purpose), normalised, hashlib.sha256).digest()
        for secret in secrets
    ]


class Sealer:
    """Seals with the first secret, opens with any of them (key rotation)."""

    def __init__(self, secrets: Sequence[str]) -> None:
        if not secrets:
            raise ValueError("at least one secret is needed")
        self._fernet = MultiFernet(
            [Fernet(base64.urlsafe_b64encode(derive_key(s, "seal/v1"))) for s in secrets]
        )

    def seal(self, values: Mapping[str, Any]) -> str:
        return self._fernet.encrypt(json.dumps(values, ensure_ascii=False).encode()).decode()

    def open(self, token: str) -> dict[str, Any]:
        try:
            data = json.loads(self._fernet.decrypt(token.encode()))
        except (InvalidToken, ValueError):
            raise SealError("cannot open a sealed value") from None
        if not isinstance(data, dict):
            raise SealError("a sealed value is not an object")
        return data

    def reseal(self, token: str) -> str:
        """Re-encrypt under the newest secret (after a rotation)."""
        try:
            return self._fernet.rotate(token.encode()).decode()
        except InvalidToken:
            raise SealError("cannot open a sealed value") from None


def sealer_for(secret_keys: Sequence[str]) -> Sealer:
    """The sealer of a process: seals with the current key (the first), opens
    with it and with the previous keys (``Settings.secret_keys``)."""
    return Sealer(list(secret_keys))


async def reseal_column(conn: Any, table: str, key: str, column: str, sealer: Sealer) -> int:
    """Re-seal every value of ``table.column`` under the current key, in the
    caller's transaction; return how many values were re-sealed. ``table``,
    ``key`` and ``column`` are names from the code, never input."""
    rows = await conn.fetch(
        f"SELECT {key} AS k, {column} AS v FROM {table} WHERE {column} IS NOT NULL FOR UPDATE"  # noqa: S608
    )
    for row in rows:
        await conn.execute(
            f"UPDATE {table} SET {column} = $2 WHERE {key} = $1",  # noqa: S608
            row["k"],
            sealer.reseal(row["v"]),
        )
    return len(rows)
