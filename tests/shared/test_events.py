import contextlib
import dataclasses
import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from shared.events import (
    PAYLOADS,
    ContractError,
    Envelope,
    JobCreated,
    JobPosting,
    JobUpdated,
    MatchFound,
    MemberChanged,
    Ping,
    _fits,
    _hints,
)


def test_envelope_is_a_cloudevent_and_round_trips():
    job = JobCreated(
        posting_id="p1",
        company_id="c1",
        revision=1,
        title="Executive Assistant",
        languages_required=("it", "en"),
        company_names=("ACME S.p.A.",),
    )
    envelope = Envelope.wrap(job, source="/ingest")
    raw = json.loads(envelope.encode())
    assert raw["specversion"] == "1.0"
    assert raw["type"] == "job.created"
    assert raw["dataversion"] == 2
    assert {"id", "source", "time", "datacontenttype", "data"} <= raw.keys()
    decoded = Envelope.decode(envelope.encode())
    assert decoded == envelope
    assert decoded.payload(JobCreated).languages_required == ("it", "en")


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (b"\xff\xfe", "not JSON"),
        (b"[]", "not a JSON object"),
        (b'{"specversion": "1.0"}', "lacks"),
        (
            b'{"specversion":"0.3","id":"1","source":"s","type":"system.ping","data":{}}',
            "specversion",
        ),
        (
            b'{"specversion":"1.0","id":"1","source":"s","type":"job.exploded","data":{}}',
            "unknown event type",
        ),
        (
            b'{"specversion":"1.0","id":"1","source":"s","type":"system.ping","dataversion":9,'
            b'"data":{"ping_id":"x"}}',
            "v9",
        ),
        (
            b'{"specversion":"1.0","id":"1","source":"s","type":"system.ping","data":'
            b'{"ping_id":"x","email":"a@b.c"}}',
            "unknown fields",
        ),
        (b'{"specversion":"1.0","id":"1","source":"s","type":"system.ping","data":{}}', "ping_id"),
    ],
)
def test_contract_violations_are_named(body, reason):
    with pytest.raises(ContractError, match=reason):
        Envelope.decode(body)


def _job(**data):
    base = {"posting_id": "p1", "company_id": "c1", "revision": 1, "title": "EA"}
    event = {"specversion": "1.0", "id": "1", "source": "s", "type": "job.created"}
    return json.dumps({**event, "data": {**base, **data}}).encode()


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (_job(posting_id=17), "posting_id is not str"),
        (_job(revision="3"), "revision is not int"),
        (_job(revision=True), "revision is not int"),
        (_job(revision=2.5), "revision is not int"),
        (_job(city=["Milano"]), "city is not str | None"),
        (_job(remote="sometimes"), "remote is not Literal"),
        (_job(languages_required=["it", 1]), "languages_required is not tuple"),
        (_job(skills="excel"), "skills is not tuple"),
    ],
)
def test_a_field_of_the_wrong_type_is_a_contract_error(body, reason):
    with pytest.raises(ContractError, match=reason):
        Envelope.decode(body)


def test_fields_of_the_declared_types_decode():
    decoded = Envelope.decode(_job(city=None, remote="hybrid", languages_required=["it"]))
    job = decoded.payload(JobCreated)
    assert (job.city, job.remote, job.languages_required) == (None, "hybrid", ("it",))


@given(st.binary(max_size=300))
def test_arbitrary_bytes_never_escape_as_anything_but_a_contract_error(body):
    with contextlib.suppress(ContractError):
        Envelope.decode(body)


def test_asking_for_the_wrong_payload_type_is_a_contract_error():
    envelope = Envelope.wrap(Ping(ping_id="1"), source="/t")
    with pytest.raises(ContractError):
        envelope.payload(MatchFound)


# Fields that would carry a member's identity if they were ever added to a
# payload. The sealed contact is the one allowed exception: it is ciphertext.
IDENTIFYING = {"email", "name", "first_name", "last_name", "phone", "address", "full_name"}


@pytest.mark.parametrize("payload", list(PAYLOADS.values()), ids=[t for t, _ in PAYLOADS])
def test_no_payload_has_a_field_for_direct_identifiers(payload):
    import dataclasses

    fields = {f.name for f in dataclasses.fields(payload)}
    assert not fields & IDENTIFYING


def test_member_changed_carries_only_a_sealed_contact_and_sealed_companies():
    member = MemberChanged(
        member_id="m1",
        revision=3,
        opted_in=True,
        sealed_contact="gAAAA...",
        sealed_companies="gAAAB...",
    )
    data = Envelope.wrap(member, source="/ingest").to_json()["data"]
    assert data["sealed_contact"] == "gAAAA..."
    assert data["sealed_companies"] == "gAAAB..."
    assert "employer_names" not in data and "blocked_companies" not in data


# --- hostile input: whatever arrives on a queue, decoding ends in an envelope or a
# ContractError (the consumer dead-letters it at once), never another exception ---

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner, max_size=4)
    ),
    max_leaves=20,
)
known_types = st.sampled_from(sorted({t for t, _ in PAYLOADS}))


@st.composite
def cloudevent_like(draw):
    """Envelopes that are nearly right: known types, real field names, values of any JSON type."""
    payload = draw(st.sampled_from(list(PAYLOADS.values())))
    field_names = [f.name for f in dataclasses.fields(payload)]
    data = draw(
        st.dictionaries(st.sampled_from([*field_names, "extra"]), json_values, max_size=6)
        | json_values
    )
    event = {
        "specversion": draw(st.sampled_from(["1.0", "0.3", 1.0]) | json_values),
        "id": draw(st.text(max_size=10) | json_values),
        "source": draw(st.text(max_size=10) | json_values),
        "type": draw(known_types | json_values),
        "time": draw(st.text(max_size=10) | json_values),
        "dataversion": draw(st.sampled_from([1, 2, "1"]) | json_values),
        "data": data,
    }
    drop = draw(st.lists(st.sampled_from(sorted(event)), max_size=2))
    return {k: v for k, v in event.items() if k not in drop}


@settings(max_examples=500)
@given(cloudevent_like())
def test_near_miss_cloudevents_decode_or_are_contract_errors(event):
    with contextlib.suppress(ContractError):
        decoded = Envelope.decode(json.dumps(event).encode())
        # Whatever decodes has every field of the declared type: handlers can
        # trust a payload's types instead of failing on them at each retry.
        assert decoded.data == type(decoded.data).from_json(decoded.data.to_json())
        for field in dataclasses.fields(decoded.data):
            assert _fits(getattr(decoded.data, field.name), _hints(type(decoded.data))[field.name])


@settings(max_examples=300)
@given(json_values)
def test_any_json_document_decodes_or_is_a_contract_error(value):
    with contextlib.suppress(ContractError):
        Envelope.decode(json.dumps(value).encode())


@pytest.mark.parametrize(
    "body",
    [
        b"[" * 100_000 + b"]" * 100_000,  # deeper than the JSON parser's recursion
        b'{"specversion":"1.0","id":"1","source":"s","type":["job.created"],"data":{}}',
        b'{"specversion":"1.0","id":"1","source":"s","type":"system.ping","dataversion":[1],"data":{}}',
        b'{"specversion":["1.0"],"id":"1","source":"s","type":"system.ping","data":{}}',
        "\ufeff{}".encode("utf-16"),
    ],
)
def test_pathological_bodies_are_contract_errors(body):
    with pytest.raises(ContractError):
        Envelope.decode(body)


CANARY = "Mario Rossi CANARY-4b1e"


@pytest.mark.parametrize(
    "envelope",
    [
        {"specversion": CANARY, "id": "1", "source": "s", "type": "system.ping", "data": {}},
        {"specversion": "1.0", "id": "1", "source": "s", "type": CANARY, "data": {}},
        {"specversion": "1.0", "id": "1", "source": "s", "type": [CANARY], "data": {}},
        {"specversion": "1.0", "id": "1", "source": "s", "type": "system.ping", "data": CANARY},
        {
            "specversion": "1.0",
            "id": "1",
            "source": "s",
            "type": "system.ping",
            "data": {"ping_id": "x", CANARY: CANARY},
        },
        {
            "specversion": "1.0",
            "id": "1",
            "source": "s",
            "type": "system.ping",
            "data": {"ping_id": "x", "note": [CANARY]},
        },
        {
            "specversion": "1.0",
            "id": "1",
            "source": "s",
            "type": "system.ping",
            "dataversion": CANARY,
            "data": {},
        },
    ],
)
def test_a_contract_reason_quotes_no_value_of_the_message(envelope):
    """Reasons reach the dead-letter queue, the log and the console (finding 7)."""
    with pytest.raises(ContractError) as caught:
        Envelope.decode(json.dumps(envelope).encode())
    assert "CANARY" not in str(caught.value)
    assert "Mario" not in str(caught.value)


@given(
    st.dictionaries(
        st.sampled_from(["specversion", "id", "source", "type", "dataversion", "data", "time"]),
        st.one_of(st.text(), st.integers(), st.lists(st.text(max_size=5), max_size=3)),
    )
)
@settings(max_examples=300, derandomize=True)
def test_no_generated_envelope_puts_its_text_in_a_reason(envelope):
    marked = {k: f"Q{v}Q" if isinstance(v, str) and v else v for k, v in envelope.items()}
    reason = ""
    try:
        Envelope.decode(json.dumps(marked).encode())
    except ContractError as exc:
        reason = str(exc)
    for value in marked.values():
        if isinstance(value, str) and value.startswith("Q") and len(value) > 4:
            assert value not in reason


def test_job_events_of_version_1_still_decode():
    # Queued (or dead-lettered) before version 2 added the opening's details.
    body = {
        "specversion": "1.0",
        "id": "1",
        "source": "/ingest",
        "type": "job.updated",
        "dataversion": 1,
        "data": {"posting_id": "p1", "company_id": "c1", "revision": 2, "title": "EA"},
    }
    decoded = Envelope.decode(json.dumps(body).encode())
    posting = decoded.payload(JobPosting)
    assert (posting.title, posting.description, posting.salary_min) == ("EA", None, None)


def test_job_events_of_version_2_carry_the_opening():
    job = JobUpdated(
        posting_id="p1",
        company_id="c1",
        revision=3,
        title="EA",
        description="<p>Board meetings</p>",
        salary_min=38000,
        salary_max=45000.5,
        salary_currency="EUR",
        salary_period="YEAR",
    )
    decoded = Envelope.decode(Envelope.wrap(job, source="/ingest").encode())
    assert decoded.dataversion == 2
    assert decoded.payload(JobUpdated) == job
    bad = json.loads(Envelope.wrap(job, source="/ingest").encode())
    bad["data"]["salary_period"] = "WEEK"
    with pytest.raises(ContractError, match="salary_period"):
        Envelope.decode(json.dumps(bad).encode())
