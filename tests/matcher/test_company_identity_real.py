"""Company identity on the real matcher: RabbitMQ, PostgreSQL, the runner and relay.

Members' employers and blocked companies are spelled one way, the posting's
company another (look-alike letters, glued and dotted legal forms,
invisibles, a sister company): none of those members is matched, and a
member of a clearly different company still is.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator

import pytest

from services.matcher.live import LiveIndex
from shared.sealing import sealer_for
from tests.matcher.test_service_real import Matcher, job, member, of, start_matcher

pytestmark = pytest.mark.real


@pytest.fixture
async def running(amqp, pool, topology, namespace, settings) -> AsyncIterator[Matcher]:
    channel = await amqp.channel()
    exchange = await topology.declare_exchange(channel)
    tap = await channel.declare_queue(f"{namespace}.test-matches", durable=False)
    await tap.bind(exchange, routing_key="match.#")
    live = LiveIndex()
    sealer = sealer_for(settings.secret_keys)
    consumer, stop, relay, publisher = await start_matcher(amqp, pool, topology, live, sealer)
    yield Matcher(pool, publisher, consumer, tap, live, sealer)
    await consumer.stop(5)
    stop.set()
    with contextlib.suppress(Exception):
        await relay


# The posting's company: "ACME S.p.A." with a Cyrillic A and a zero-width space.
POSTED_AS = "\u0410C\u200bME S.p.A."

EMPLOYED_AT = {
    "m-plain": ("ACME S.p.A.",),
    "m-glued": ("AcmeSpA",),
    "m-dotted": ("Acme.S.p.A.",),
    "m-greek": ("ACM\u0395 SpA",),  # Greek capital Epsilon
    "m-fullwidth": ("\uff21\uff23\uff2d\uff25",),
    "m-soft-hyphen": ("Ac\u00adme Srl",),
    "m-sister": ("ACME Sverige AB",),
    "m-alias": ("Globex S.r.l.", "AcmeAB(publ)"),  # a second name of the employer
}


async def test_no_member_of_the_posting_company_is_matched_however_either_side_spells_it(
    running: Matcher,
):
    for member_id, employers in EMPLOYED_AT.items():
        await running.send(member(member_id, employer_names=employers))
    await running.send(member("m-blocked", blocked_companies=("\U0001d400cme Group",)))
    await running.send(member("m-other", employer_names=("Globex S.p.A.",)))
    await running.send(job("p-acme", company_name=POSTED_AS, company_names=(POSTED_AS,)))

    found = of(await running.events(), "match.found")
    assert set(found) == {"m-other"}
    rows = await running.rows("SELECT member_id FROM matcher.matches WHERE posting_id = 'p-acme'")
    assert rows == [{"member_id": "m-other"}]


async def test_a_clearly_different_company_spelled_with_tricks_still_matches(running: Matcher):
    # Tricks in a name do not make every company look like the member's employer.
    await running.send(member("m-acme", employer_names=("\u0410CME S.p.A.",)))
    other = "\u0399nitech\u200b S.r.l."  # a Greek capital Iota
    await running.send(job("p-initech", company_name=other, company_names=(other,)))
    found = of(await running.events(), "match.found")
    assert set(found) == {"m-acme"}
