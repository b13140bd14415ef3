"""Keyed hashes outlive a key rotation: a suppressed address stays suppressed,
and a colleague who said "never write to me again" is not written to."""

from __future__ import annotations

import dataclasses
import uuid

import pytest

from services.notifier import queries
from services.notifier.consent import colleague_hashes
from services.notifier.sender import address_hash, address_hashes

pytestmark = pytest.mark.real

OLD, NEW = "o" * 40, "n" * 40
ADDRESS = "Refused.Colleague@Example.it"


@pytest.fixture
def rotated(settings):
    return dataclasses.replace(settings, secret_key=NEW, previous_secret_keys=(OLD,))


@pytest.fixture
def forgotten(settings):
    return dataclasses.replace(settings, secret_key=NEW, previous_secret_keys=())


async def test_a_suppression_recorded_under_the_old_key_still_stops_mail(pool, rotated, forgotten):
    async with pool.acquire() as conn:
        await queries.suppress(conn, address_hash(OLD, ADDRESS), 550, "no such user", uuid.uuid4())
        assert await queries.is_suppressed(conn, address_hashes(rotated, ADDRESS.lower()))
        # Listing the old key is what keeps it: without it, the hash is a stranger.
        assert not await queries.is_suppressed(conn, address_hashes(forgotten, ADDRESS))


async def test_a_colleagues_opt_out_from_before_the_rotation_is_honoured(pool, rotated):
    old_hash = colleague_hashes(
        dataclasses.replace(rotated, secret_key=OLD, previous_secret_keys=()), ADDRESS
    )[0]
    await pool.execute(
        "INSERT INTO notifier.colleague_optouts (colleague_hash) VALUES ($1)", old_hash
    )
    hashes = colleague_hashes(rotated, " refused.colleague@example.it ")
    assert hashes[1] == old_hash  # current first (to store), then the previous
    assert await pool.fetchval(
        "SELECT true FROM notifier.colleague_optouts WHERE colleague_hash = ANY($1)", hashes
    )
