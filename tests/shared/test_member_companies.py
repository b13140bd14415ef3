"""member.changed v2: the member's companies travel sealed, and are opened
once, at a consumer's boundary (shared/member_companies.py)."""

from __future__ import annotations

import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from shared import member_companies
from shared.events import ContractError, Envelope, MemberChanged, MemberChangedV1, Ping
from shared.member_companies import CompaniesUnreadable
from shared.sealing import Sealer

NEW, OLD = "n" * 40, "o" * 40
EMPLOYER = "CANARY-EMPLOYER-Ferretti S.p.A."
BLOCKED = "CANARY-BLOCKED-Rossi Holding"


def member(**fields: object) -> MemberChanged:
    base: dict[str, object] = {
        "member_id": "m-1",
        "revision": 2,
        "opted_in": True,
        "cities": ("Milano",),
        "employer_names": (EMPLOYER,),
        "blocked_companies": (BLOCKED,),
    }
    return MemberChanged(**{**base, **fields})  # type: ignore[arg-type]


def test_the_wire_form_carries_the_companies_sealed_only_and_a_consumer_opens_them():
    sealer = Sealer([NEW])
    body = Envelope.wrap(member_companies.sealed(member(), sealer), source="/t").encode()
    assert b"CANARY" not in body
    data = json.loads(body)["data"]
    assert "employer_names" not in data and "blocked_companies" not in data
    event = member_companies.open_event(Envelope.decode(body), sealer)
    opened = event.payload(MemberChanged)
    assert (opened.employer_names, opened.blocked_companies) == ((EMPLOYER,), (BLOCKED,))
    assert opened.sealed_companies is None
    assert opened.cities == ("Milano",) and opened.revision == 2


@given(
    employers=st.lists(st.text(max_size=40), max_size=3),
    blocked=st.lists(st.text(max_size=40), max_size=5),
)
def test_any_companies_come_back_as_they_were_sealed(employers: list[str], blocked: list[str]):
    sealer = Sealer([NEW])
    original = member(employer_names=tuple(employers), blocked_companies=tuple(blocked))
    body = Envelope.wrap(member_companies.sealed(original, sealer), source="/t").encode()
    opened = member_companies.open_event(Envelope.decode(body), sealer).payload(MemberChanged)
    assert opened == original


def test_a_publisher_that_forgot_to_seal_is_refused_not_sent_without_companies():
    with pytest.raises(ContractError, match="sealed"):
        Envelope.wrap(member(), source="/t").encode()
    # Even with no companies: "none" must be said sealed, or it reads as "lost".
    with pytest.raises(ContractError, match="sealed"):
        Envelope.wrap(member(employer_names=(), blocked_companies=()), source="/t").encode()


def _body(version: int, data: dict[str, object]) -> bytes:
    envelope = {"specversion": "1.0", "id": "e-1", "source": "/t", "type": "member.changed"}
    return json.dumps({**envelope, "dataversion": version, "data": data}).encode()


def test_version_2_with_companies_in_clear_or_without_the_sealed_field_is_poison():
    base = {"member_id": "m-1", "revision": 1, "opted_in": True}
    with pytest.raises(ContractError) as clear:
        Envelope.decode(_body(2, {**base, "employer_names": [EMPLOYER], "sealed_companies": "x"}))
    assert "CANARY" not in str(clear.value)
    with pytest.raises(ContractError):
        Envelope.decode(_body(2, base))


def test_version_1_still_in_flight_is_upcast_with_its_companies():
    data = {
        "member_id": "m-1",
        "revision": 2,
        "opted_in": True,
        "cities": ["Milano"],
        "employer_names": [EMPLOYER],
        "blocked_companies": [BLOCKED],
    }
    event = Envelope.decode(_body(1, data))
    assert isinstance(event.data, MemberChangedV1)
    opened = member_companies.open_event(event, Sealer([NEW]))
    assert opened.dataversion == 2
    assert type(opened.data) is MemberChanged
    assert opened.data == member()
    with pytest.raises(ContractError):
        Envelope.decode(_body(1, {**data, "sealed_companies": "x"}))


def test_a_value_sealed_before_a_key_rotation_still_opens():
    old = member_companies.sealed(member(), Sealer([OLD]))
    opened = member_companies.opened(old, Sealer([NEW, OLD]))
    assert opened.employer_names == (EMPLOYER,)


def test_a_value_that_cannot_be_opened_is_poison_with_a_reason_naming_no_value():
    foreign = member_companies.sealed(member(), Sealer([OLD]))
    with pytest.raises(CompaniesUnreadable) as caught:
        member_companies.opened(foreign, Sealer([NEW]))
    assert str(caught.value) == ""  # the runner's reason is the class name alone
    tampered = member(employer_names=(), blocked_companies=(), sealed_companies="gAAAA-nope")
    with pytest.raises(CompaniesUnreadable):
        member_companies.opened(tampered, Sealer([NEW]))


@pytest.mark.parametrize(
    "values",
    [{}, {"employer_names": "Acme", "blocked_companies": []}, {"employer_names": [1]}],
)
def test_a_sealed_value_of_the_wrong_shape_is_poison(values: dict[str, object]):
    sealer = Sealer([NEW])
    shaped = member(employer_names=(), blocked_companies=(), sealed_companies=sealer.seal(values))
    with pytest.raises(CompaniesUnreadable):
        member_companies.opened(shaped, sealer)


async def test_the_boundary_hands_handlers_plain_values_and_other_events_unchanged():
    seen: list[Envelope] = []

    async def handler(event: Envelope, conn: object) -> None:
        seen.append(event)

    sealer = Sealer([NEW])
    handle = member_companies.opening(handler, sealer)
    ping = Envelope.wrap(Ping(ping_id="p"), source="/t")
    await handle(ping, None)  # type: ignore[arg-type]
    await handle(Envelope.wrap(member_companies.sealed(member(), sealer), source="/t"), None)  # type: ignore[arg-type]
    assert seen[0] is ping
    assert seen[1].payload(MemberChanged).blocked_companies == (BLOCKED,)


def test_a_member_whose_companies_were_never_opened_is_neither_scored_nor_stored():
    from services.matcher.scoring import prepare_member

    unopened = member_companies.sealed(member(), Sealer([NEW]))
    with pytest.raises(CompaniesUnreadable):
        member_companies.require_opened(unopened)
    with pytest.raises(CompaniesUnreadable):
        prepare_member(unopened)
    member_companies.require_opened(member())  # opened: plain values, nothing sealed
    assert prepare_member(member()).member_id == "m-1"
