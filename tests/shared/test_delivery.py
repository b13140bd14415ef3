"""The delivery runner's one classification of failures (pure, no I/O)."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any, cast

import aiohttp
import aiosmtplib
import pytest
from hypothesis import given
from hypothesis import strategies as st

from shared.delivery import (
    Runner,
    Table,
    classify_http,
    classify_http_error,
    classify_smtp,
    first_error,
)


def test_smtp_failures_are_classified():
    refused = aiosmtplib.SMTPRecipientsRefused(
        [aiosmtplib.SMTPRecipientRefused(550, "5.1.1 no such user", "a@b.example")]
    )
    assert classify_smtp(refused).kind == "permanent" and classify_smtp(refused).address
    one_refused = aiosmtplib.SMTPRecipientRefused(550, "5.1.1 no such user", "a@b.example")
    assert classify_smtp(one_refused).kind == "permanent" and classify_smtp(one_refused).address
    greylisted = aiosmtplib.SMTPRecipientsRefused(
        [aiosmtplib.SMTPRecipientRefused(451, "4.7.1 try later", "a@b.example")]
    )
    assert classify_smtp(greylisted).kind == "transient"
    assert classify_smtp(aiosmtplib.SMTPDataError(554, "rejected")).kind == "permanent"
    assert not classify_smtp(aiosmtplib.SMTPDataError(554, "rejected")).address
    assert classify_smtp(aiosmtplib.SMTPDataError(452, "full")).kind == "transient"
    assert classify_smtp(aiosmtplib.SMTPServerDisconnected("gone")).kind == "transient"
    assert classify_smtp(aiosmtplib.SMTPAuthenticationError(535, "bad")).kind == "transient"
    assert classify_smtp(aiosmtplib.SMTPConnectError("refused")).kind == "transient"
    assert classify_smtp(aiosmtplib.SMTPTimeoutError("slow")).kind == "transient"
    assert classify_smtp(ConnectionResetError()).kind == "transient"


@given(st.integers(min_value=100, max_value=599))
def test_every_smtp_reply_code_has_one_meaning(code: int):
    outcome = classify_smtp(aiosmtplib.SMTPResponseException(code, "reply"))
    assert outcome.kind == ("permanent" if code >= 500 else "transient")
    assert outcome.code == code


def test_a_server_reply_is_scrubbed_of_addresses():
    refused = aiosmtplib.SMTPRecipientRefused(550, "5.1.1 <giulia@example.it> unknown", "x")
    assert "giulia@example.it" not in classify_smtp(refused).detail


@given(st.integers(min_value=100, max_value=599))
def test_every_http_status_has_one_meaning(status: int):
    outcome = classify_http(status)
    if 200 <= status < 300:
        assert outcome.kind == "done"
    elif status >= 500 or status in (408, 409, 425, 429):
        assert outcome.kind == "transient"
    else:
        # 1xx, redirects (never followed) and the other 4xx: retrying will not help.
        assert outcome.kind == "permanent"
    assert outcome.code == status


def test_http_examples():
    assert classify_http(410).kind == "permanent"
    assert classify_http(301).kind == "permanent"
    assert classify_http(500).kind == "transient"
    assert classify_http(429).kind == "transient"
    assert classify_http(204).kind == "done"
    for exc in (aiohttp.ClientConnectionError(), TimeoutError(), ConnectionRefusedError()):
        assert classify_http_error(exc).kind == "transient"
        assert classify_http_error(exc).detail == type(exc).__name__


class _DatabaseDown:
    """A pool whose server is gone: every acquire is refused."""

    def acquire(self) -> Any:
        raise ConnectionRefusedError("database down")


class _NoAdapter:
    table = Table(kind="email", name="notifier.emails", key="id", due="sending", done="sent")

    async def close(self) -> None:
        return None


async def test_a_database_outage_leaves_the_runner_as_itself_for_the_caller_to_wait_out():
    # The pipeline's task groups wrap failures; the caller (Runner.run, the
    # notifier's loop) waits out OSError and asyncpg's unavailability, so the
    # outage must come out unwrapped, not as a group that would crash the task.
    settings = SimpleNamespace(delivery_lease_s=60)
    runner = Runner(cast(Any, _DatabaseDown()), cast(Any, settings), cast(Any, _NoAdapter()))
    with pytest.raises(ConnectionRefusedError):
        await runner.run_once()


def test_the_first_error_of_nested_groups_is_the_failure_itself():
    failure = OSError("gone")
    nested = ExceptionGroup("outer", [ExceptionGroup("inner", [failure]), ValueError("later")])
    assert first_error(nested) is failure
