"""Signed link tokens: opaque, expiring, bound to one action, rotatable."""

from __future__ import annotations

import base64
import uuid
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from services.notifier.tokens import (
    TOKEN_LENGTH,
    Action,
    TokenExpired,
    TokenInvalid,
    issue,
    verify,
)

KEY = b"k" * 32
OLD_KEY = b"o" * 32
NOW = datetime(2025, 3, 4, 7, 30, tzinfo=UTC)
SUBJECT = uuid.UUID("8d3c1f0e-5a7b-4c2d-9e1f-0a1b2c3d4e5f")
DAY = timedelta(days=1)


def token(action: Action = Action.UNSUBSCRIBE, secret: bytes = KEY, ttl: timedelta = DAY) -> str:
    return issue(secret, action, SUBJECT, ttl, now=NOW)


def test_round_trip():
    assert verify(KEY, token(), Action.UNSUBSCRIBE, NOW) == SUBJECT


def test_token_is_url_safe_fixed_length_and_carries_no_readable_id():
    value = token()
    assert len(value) == TOKEN_LENGTH
    assert value.isascii()
    assert set(value) <= set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_")
    assert str(SUBJECT) not in value
    assert SUBJECT.hex not in value


def test_expires_at_ttl():
    value = token(ttl=DAY)
    assert verify(KEY, value, Action.UNSUBSCRIBE, NOW + DAY - timedelta(seconds=1)) == SUBJECT
    with pytest.raises(TokenExpired):
        verify(KEY, value, Action.UNSUBSCRIBE, NOW + DAY)


def test_wrong_action_is_invalid():
    with pytest.raises(TokenInvalid):
        verify(KEY, token(Action.PAUSE), Action.UNSUBSCRIBE, NOW)


def test_wrong_key_is_invalid():
    with pytest.raises(TokenInvalid):
        verify(OLD_KEY, token(), Action.UNSUBSCRIBE, NOW)


def test_key_rotation_signs_with_first_and_accepts_all():
    old = token(secret=OLD_KEY)
    new = issue([KEY, OLD_KEY], Action.UNSUBSCRIBE, SUBJECT, DAY, now=NOW)
    assert verify([KEY, OLD_KEY], old, Action.UNSUBSCRIBE, NOW) == SUBJECT
    assert verify([KEY, OLD_KEY], new, Action.UNSUBSCRIBE, NOW) == SUBJECT
    assert verify(KEY, new, Action.UNSUBSCRIBE, NOW) == SUBJECT
    with pytest.raises(TokenInvalid):
        verify([KEY], old, Action.UNSUBSCRIBE, NOW)


def test_an_expired_token_is_reported_as_expired_only_if_authentic():
    forged = bytearray(base64.urlsafe_b64decode(token(ttl=DAY)))
    forged[-1] ^= 1
    with pytest.raises(TokenInvalid):
        verify(
            KEY, base64.urlsafe_b64encode(bytes(forged)).decode(), Action.UNSUBSCRIBE, NOW + 9 * DAY
        )


@pytest.mark.parametrize(
    "bad",
    [
        "",
        "abc",
        "=" * TOKEN_LENGTH,
        "A" * TOKEN_LENGTH,
        "A" * (TOKEN_LENGTH + 1),
        "../../etc/passwd",
        "é" * TOKEN_LENGTH,
        " " + "A" * (TOKEN_LENGTH - 1),
        "A" * (TOKEN_LENGTH - 2) + "==",
        "A" * 10_000,
    ],
)
def test_malformed_tokens_are_invalid(bad):
    with pytest.raises(TokenInvalid):
        verify(KEY, bad, Action.UNSUBSCRIBE, NOW)


def test_non_string_token_is_invalid():
    with pytest.raises(TokenInvalid):
        verify(KEY, None, Action.UNSUBSCRIBE, NOW)  # type: ignore[arg-type]


@given(position=st.integers(0, TOKEN_LENGTH - 1), replacement=st.sampled_from("AbZ9-_q"))
def test_any_single_character_change_is_invalid(position, replacement):
    original = token()
    tampered = original[:position] + replacement + original[position + 1 :]
    if tampered == original:
        return
    with pytest.raises(TokenInvalid):
        verify(KEY, tampered, Action.UNSUBSCRIBE, NOW)


@given(st.text(max_size=200))
def test_arbitrary_input_raises_only_named_errors(text):
    with pytest.raises(TokenInvalid):
        verify(KEY, text, Action.UNSUBSCRIBE, NOW)


@given(subject=st.uuids(), action=st.sampled_from(Action), seconds=st.integers(1, 10**9))
def test_round_trip_for_any_subject_action_and_ttl(subject, action, seconds):
    value = issue(KEY, action, subject, timedelta(seconds=seconds), now=NOW)
    assert verify(KEY, value, action, NOW) == subject


def test_configuration_errors_are_loud():
    with pytest.raises(ValueError, match="secret"):
        issue(b"short", Action.PAUSE, SUBJECT, DAY, now=NOW)
    with pytest.raises(ValueError, match="secret"):
        verify([], token(), Action.PAUSE, NOW)
    with pytest.raises(ValueError, match="ttl"):
        issue(KEY, Action.PAUSE, SUBJECT, timedelta(0), now=NOW)
    with pytest.raises(ValueError, match="aware"):
        verify(KEY, token(), Action.UNSUBSCRIBE, datetime(2025, 3, 4))


def test_action_codes_are_stable():
    # Tokens already in inboxes carry these numbers.
    assert {a.name: a.value for a in Action} == {
        "UNSUBSCRIBE": 1,
        "INTERESTED": 2,
        "NOT_FOR_ME": 3,
        "FORWARD": 4,
        "PAUSE": 5,
        "PREFERENCES": 6,
        "NEVER": 7,
        "OPENING": 8,
    }


def test_a_token_is_spelled_as_links_already_mailed_were():
    # Links in mails already sent must keep verifying: the tag is HMAC-SHA256
    # over the context and body, truncated, whatever call computes it. This
    # token was issued by the code before the key's HMAC state was kept per key.
    issued = issue(
        KEY, Action.INTERESTED, SUBJECT, 60 * DAY, now=datetime(2026, 11, 30, tzinfo=UTC)
    )
    assert issued == "AQKNPB8OWntMLZ4fChssPU5fAAAAAGtb1oAcFTKdpQ7VQDTqtN7QTb2R"
    at = datetime(2026, 12, 1, tzinfo=UTC)
    assert verify(KEY, issued, Action.INTERESTED, at) == SUBJECT
