"""The Standard Webhooks headers' bounds: printable ASCII (and the spaces
between signatures), and a length per header."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from services.ingest.bounds import MAX_SIGNATURE, MAX_WEBHOOK_ID, check_webhook_headers


@given(
    st.sampled_from(["webhook-id", "webhook-timestamp", "webhook-signature"]), st.text(max_size=20)
)
def test_only_printable_ascii_and_spaces_pass(name, value):
    reason = check_webhook_headers({name: value})
    allowed = all(" " <= c <= "~" for c in value)
    assert (reason is None) == allowed
    if not allowed:
        assert reason == f"{name} holds characters other than printable ASCII."


def test_signatures_are_separated_by_spaces_and_lengths_are_bounded():
    assert check_webhook_headers({"webhook-signature": "v1,abc= v1,def="}) is None
    assert check_webhook_headers({"webhook-id": "msg_1\n"}) is not None
    assert check_webhook_headers({"webhook-id": "x" * MAX_WEBHOOK_ID}) is None
    assert check_webhook_headers({"webhook-id": "x" * (MAX_WEBHOOK_ID + 1)}) == (
        f"webhook-id is longer than {MAX_WEBHOOK_ID} characters."
    )
    assert check_webhook_headers({"webhook-signature": "v" * (MAX_SIGNATURE + 1)}) is not None
