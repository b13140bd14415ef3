"""A new posting's job.created event is built without the dataclasses; it
must stay, byte for byte, the event the contract's classes encode."""

from __future__ import annotations

import re
import uuid
from datetime import UTC, datetime
from typing import Any

import orjson
from hypothesis import given
from hypothesis import strategies as st

from services.ingest.posting_changes import SOURCE, _payload, created_event, random_uuid
from services.ingest.postings import decide
from services.ingest.queries import Company
from shared.events import Envelope, JobCreated, _field_names
from tests.ingest.conftest import posting

TEXT = st.text(st.characters(exclude_categories=["Cs"]), max_size=30)
CODES = st.lists(st.sampled_from(["it", "en", "sv", "fr"]), max_size=4, unique=True)
AMOUNT = st.integers(0, 10**8) | st.floats(0, 1e8, allow_nan=False)

OPTIONAL = {
    "description": TEXT,
    "employment_type": st.sampled_from(["FULL_TIME", "PART_TIME", "OTHER"]),
    "location": st.fixed_dictionaries(
        {"country": st.sampled_from(["IT", "SE"])}, optional={"city": TEXT, "region": TEXT}
    ),
    "remote": st.sampled_from(["no", "hybrid", "remote"]),
    "languages_required": CODES,
    "languages_nice": CODES,
    "skills": st.lists(TEXT, max_size=5),
    "seniority": st.sampled_from(["junior", "senior"]),
    "valid_through": st.sampled_from(["2027-01-31", "2099-12-31"]),
    "language": st.sampled_from(["it", "sv"]),
    "how_to_apply": st.fixed_dictionaries({}, optional={"url": TEXT, "instructions": TEXT}),
    "salary": st.fixed_dictionaries(
        {"currency": st.sampled_from(["EUR", "SEK"]), "period": st.sampled_from(["YEAR", "HOUR"])},
        optional={"min": AMOUNT, "max": AMOUNT},
    ),
}
POSTINGS = st.fixed_dictionaries(
    {"external_id": TEXT, "title": TEXT, "location": OPTIONAL["location"]},
    optional={k: v for k, v in OPTIONAL.items() if k != "location"},
)
COMPANIES = st.builds(
    Company,
    id=st.uuids(),
    name=TEXT,
    aliases=st.lists(TEXT, max_size=3),
    group_name=st.none() | TEXT,
    disabled=st.just(False),
    sealed_secrets=st.just([]),
)


def contract_event(
    event_id: str, posting_id: str, company: Company, data: dict[str, Any], time: str
) -> Envelope:
    """The same event through the contract's classes (the general path's way)."""
    decision = decide(None, "job.created", data, datetime(2026, 11, 30, tzinfo=UTC))
    payload = _payload(decision, posting_id, company, data)
    envelope = Envelope.wrap(payload, source=SOURCE, event_id=event_id)
    return Envelope(
        id=envelope.id,
        source=envelope.source,
        type=envelope.type,
        time=time,
        dataversion=envelope.dataversion,
        data=envelope.data,
    )


@given(POSTINGS, COMPANIES)
def test_the_event_is_the_contracts_byte_for_byte(data, company):
    event_id, posting_id = random_uuid(), random_uuid()
    body = created_event(event_id, posting_id, company, data)
    time = orjson.loads(body)["time"]
    expected = contract_event(event_id, posting_id, company, data, time)
    assert body == expected.encode()
    assert Envelope.decode(body) == expected
    assert isinstance(Envelope.decode(body).data, JobCreated)


def test_the_event_names_every_field_of_the_contract():
    company = Company(uuid.uuid4(), "ACME S.p.A.", ["Acme"], "Acme Group", False, [])
    body = orjson.loads(created_event(random_uuid(), random_uuid(), company, posting()))
    assert tuple(body["data"]) == _field_names(JobCreated)
    assert (body["type"], body["dataversion"]) == (JobCreated.TYPE, JobCreated.VERSION)
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", body["time"])


def test_ids_are_random_version_4_uuids():
    ids = [random_uuid() for _ in range(5000)]
    assert len(set(ids)) == len(ids)
    for text in ids:
        parsed = uuid.UUID(text)
        assert (parsed.version, parsed.variant, str(parsed)) == (4, uuid.RFC_4122, text)
    # Every variant nibble (8, 9, a, b) and every hex digit elsewhere turns up.
    assert {text[19] for text in ids} == set("89ab")
    assert set("".join(ids).replace("-", "")) == set("0123456789abcdef")
