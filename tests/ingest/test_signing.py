import base64
import time

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from services.ingest.signing import SignatureError, new_secret, sign, verify

SECRET = new_secret()
OTHER = new_secret()
BODY = b'{"type":"job.closed","data":{"external_id":"x"}}'


def headers(secret=SECRET, body=BODY, msg_id="msg_1", ts=None):
    ts = int(time.time()) if ts is None else ts
    return {
        "webhook-id": msg_id,
        "webhook-timestamp": str(ts),
        "webhook-signature": sign(secret, msg_id, ts, body),
    }


def test_a_secret_has_the_standard_webhooks_format():
    assert SECRET.startswith("whsec_")
    assert new_secret() != SECRET


def test_a_correct_signature_is_accepted_and_gives_the_signed_time():
    h = headers()
    assert int(verify(BODY, h, [SECRET]).timestamp()) == int(h["webhook-timestamp"])


def test_any_of_several_signatures_and_any_live_secret_is_enough():
    h = headers(secret=OTHER)
    h["webhook-signature"] = f"v1,AAAA {h['webhook-signature']}"
    verify(BODY, h, [SECRET, OTHER])


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        (lambda h: h.pop("webhook-signature"), r"missing header\(s\): webhook-signature"),
        (lambda h: h.update({"webhook-id": "msg_2"}), "does not match"),
        (lambda h: h.update({"webhook-signature": "v1"}), "malformed"),
        (lambda h: h.update({"webhook-signature": "v1,!!notbase64"}), "malformed"),
        (lambda h: h.update({"webhook-timestamp": "yesterday"}), "not a Unix time"),
    ],
)
def test_a_bad_signature_says_why(change, reason):
    h = headers()
    change(h)
    with pytest.raises(SignatureError, match=reason) as err:
        verify(BODY, h, [SECRET])
    assert err.value.status == 401


@pytest.mark.parametrize("skew", [-301, 301])
def test_a_timestamp_beyond_five_minutes_is_refused(skew):
    h = headers(ts=int(time.time()) + skew)
    with pytest.raises(SignatureError, match="5 minutes"):
        verify(BODY, h, [SECRET])


def test_a_body_that_is_not_utf8_is_a_400():
    body = b"\xff\xfe{}"
    h = headers(body=b"x")
    with pytest.raises(SignatureError) as err:
        verify(body, h, [SECRET])
    assert err.value.status == 400


def test_another_companys_secret_does_not_verify():
    with pytest.raises(SignatureError, match="does not match"):
        verify(BODY, headers(secret=OTHER), [SECRET])


header_text = st.text(alphabet=st.characters(codec="utf-8"), max_size=80)


@settings(max_examples=300)
@given(
    msg_id=header_text, timestamp=header_text, signature=header_text, body=st.binary(max_size=200)
)
def test_hostile_headers_never_escape_as_anything_but_a_refusal(msg_id, timestamp, signature, body):
    h = {"webhook-id": msg_id, "webhook-timestamp": timestamp, "webhook-signature": signature}
    with pytest.raises(SignatureError):
        verify(body, h, [SECRET])


# --- zero acceptances without a valid signature -------------------------------------------

ids = st.text(
    alphabet=st.characters(codec="ascii", exclude_categories=["Cc"]), min_size=1, max_size=40
)
bodies = st.binary(max_size=300).map(lambda b: b.decode("utf-8", "ignore").encode())


@settings(max_examples=300, deadline=None)
@given(msg_id=ids, body=bodies, skew=st.integers(-290, 290))
def test_a_valid_signature_is_accepted(msg_id, body, skew):
    ts = int(time.time()) + skew
    assert verify(body, headers(body=body, msg_id=msg_id, ts=ts), [SECRET]).timestamp() == ts


@settings(max_examples=500, deadline=None)
@given(
    msg_id=ids,
    body=bodies,
    change=st.sampled_from(["body", "id", "timestamp", "signature", "secret", "truncate"]),
    data=st.data(),
)
def test_any_change_to_a_signed_request_is_refused(msg_id, body, change, data):
    """Whatever part of a correctly signed request is altered (one byte of the
    body, the id, the timestamp, the signature; another company's secret), it
    is refused with a SignatureError: never accepted, never another exception."""
    ts = int(time.time())
    h = headers(body=body, msg_id=msg_id, ts=ts)
    if change == "body":
        extra = data.draw(st.binary(min_size=1, max_size=5).map(lambda b: b.hex().encode()))
        at = data.draw(st.integers(0, len(body)))
        body = body[:at] + extra + body[at:]
    elif change == "id":
        h["webhook-id"] = msg_id + data.draw(ids)
    elif change == "timestamp":
        h["webhook-timestamp"] = str(
            ts + data.draw(st.integers(1, 250)) * data.draw(st.sampled_from([-1, 1]))
        )
    elif change == "signature":
        scheme, _, sig = h["webhook-signature"].partition(",")
        raw = bytearray(base64.b64decode(sig))
        at = data.draw(st.integers(0, len(raw) - 1))
        raw[at] ^= data.draw(st.integers(1, 255))
        h["webhook-signature"] = f"{scheme},{base64.b64encode(bytes(raw)).decode()}"
    elif change == "secret":
        h = headers(secret=OTHER, body=body, msg_id=msg_id, ts=ts)
    else:
        h["webhook-signature"] = h["webhook-signature"][: data.draw(st.integers(0, 20))]
    with pytest.raises(SignatureError):
        verify(body, h, [SECRET])
