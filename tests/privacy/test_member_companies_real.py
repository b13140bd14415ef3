"""A member's employer and blocked companies never travel in clear, end to end
in a running stack (real ingest, matcher and notifier processes).

A member with a distinctive employer and blocked company (the canaries) is
imported through the member API; a ``member.changed`` whose companies were
sealed under a key no service holds is published on purpose, and dead-lettered.
Then every message on every queue of the test's namespace (a tap bound to
every routing key keeps a copy of everything published; the dead-letter
queues keep theirs) and every service's log is searched for the canaries, and
the matches show the company rule still held: the member is matched to a
third company's opening, never to their employer's nor to the blocked one's,
and the member whose companies cannot be read is matched to nothing.
"""

from __future__ import annotations

import uuid
from typing import Any

import aiohttp
import pytest

from services.ingest import operators
from shared import member_companies
from shared.consumer import REASON_HEADER
from shared.events import Envelope, MemberChanged
from shared.publisher import Publisher
from shared.sealing import Sealer
from shared.settings import Settings
from shared.topology import MATCHER, NOTIFIER, Topology
from tests.helpers import eventually
from tests.privacy.test_profile_edit_real import _matched, _post_job, posting
from tests.privacy.test_referrals_real import _search_queues, stack  # noqa: F401 - a fixture

pytestmark = pytest.mark.real

TAG = uuid.uuid4().hex[:8].upper()
# The member writes them with hyphens; the companies are registered spaced
# ("Canary Employer ... SpA"): one company to the matcher's rule, and the
# job events (which carry a company's names, by design) never hold the canary.
EMPLOYER = f"CANARY-EMPLOYER-{TAG} S.p.A."
BLOCKED = f"CANARY-BLOCKED-{TAG}"
CANARIES = [f"CANARY-EMPLOYER-{TAG}", BLOCKED]


def profile() -> dict[str, Any]:
    return {
        "consent": {"opted_in": True, "at": "2026-01-10T10:00:00+01:00", "text_version": "2026-01"},
        "language": "it",
        "timezone": "Europe/Rome",
        "email": f"canary-{TAG.lower()}@example.it",
        "name": "Camilla Canarini",
        "desired_roles": ["Assistente di direzione"],
        "languages": ["it", "en"],
        "locations": {"cities": ["Milano"], "regions": ["Lombardia"], "country": "IT"},
        "remote": "hybrid",
        "seniority": "senior",
        "current_employer": EMPLOYER,
        "blocked_companies": [BLOCKED],
        "notifications": {"frequency": "instant"},
    }


def unreadable(member_id: str) -> MemberChanged:
    """A fitting member whose companies were sealed under a key no service holds."""
    member = MemberChanged(
        member_id=member_id,
        revision=1,
        opted_in=True,
        language="it",
        desired_roles=("Assistente di direzione",),
        languages=("it", "en"),
        cities=("Milano",),
        regions=("Lombardia",),
        country="IT",
        remote="hybrid",
        seniority="senior",
        employer_names=(EMPLOYER,),
        blocked_companies=(BLOCKED,),
    )
    return member_companies.sealed(member, Sealer(["an-unknown-key-" + "x" * 32]))


async def test_the_companies_never_travel_in_clear_and_still_rule_out_matches(
    stack,  # noqa: F811 - the fixture
    pool,
    settings: Settings,
    amqp,
    topology: Topology,
    namespace: str,
    tmp_path,
) -> None:
    channel = await amqp.channel()
    exchange = await topology.declare_exchange(channel)
    tap = await channel.declare_queue(f"{namespace}.test-tap", durable=False)
    await tap.bind(exchange, routing_key="#")

    employer = await operators.add_company(pool, settings, f"Canary Employer {TAG} SpA", [], None)
    blocked = await operators.add_company(pool, settings, f"Canary Blocked {TAG} Srl", [], None)
    other = await operators.add_company(pool, settings, "Lumen Consulting Srl", [], None)
    token = (await operators.add_token(pool, "community platform"))["token"]

    # Dead-lettered on purpose, before the openings that would fit it.
    stranger_id = str(uuid.uuid4())
    poison = Envelope.wrap(unreadable(stranger_id), source="/tests")
    await (await Publisher.create(channel, topology)).publish(poison)

    async with aiohttp.ClientSession() as http:
        async with http.put(
            f"{stack['ingest']}/v1/members/c-1",
            json=profile(),
            headers={"Authorization": f"Bearer {token}"},
        ) as resp:
            assert resp.status == 201, await resp.text()
        member_id = await pool.fetchval("SELECT id::text FROM ingest.members")

        async def known() -> bool:
            return bool(
                await pool.fetchval("SELECT count(*) FROM notifier.members")
                and await pool.fetchval("SELECT count(*) FROM matcher.members")
            )

        await eventually(known, what="the member in the matcher and the notifier")
        # The employer's and the blocked company's openings first, then the
        # other: one queue, in order, so when the last is matched the first
        # two were decided.
        await _post_job(http, stack["ingest"], employer, posting("OWN-EMPLOYER"))
        await _post_job(http, stack["ingest"], blocked, posting("BLOCKED"))
        await _post_job(http, stack["ingest"], other, posting("OTHER"))
        await eventually(lambda: _matched(pool, member_id, "OTHER"), what="the other opening")
    assert not await _matched(pool, member_id, "OWN-EMPLOYER")
    assert not await _matched(pool, member_id, "BLOCKED")

    # Fail closed: the member whose companies cannot be read is matched to
    # nothing, known to neither consumer, and dead-lettered by both with a
    # reason that names no value.
    reasons: dict[str, str] = {}

    async def dead_lettered() -> bool:
        for spec in (MATCHER, NOTIFIER):
            queue = await channel.declare_queue(topology.dead_letter_queue(spec), passive=True)
            held = []  # unacked while looking, so each get returns the next one
            while (message := await queue.get(no_ack=False, fail=False)) is not None:
                held.append(message)
                if poison.id.encode() in message.body:
                    reasons[spec.name] = str((message.headers or {}).get(REASON_HEADER))
            for message in held:
                await message.nack(requeue=True)  # left for the search below
        return len(reasons) == 2

    await eventually(dead_lettered, what="the unreadable member.changed in both dead-letter queues")
    assert set(reasons.values()) == {"poison: CompaniesUnreadable"}
    matches = await pool.fetchval(
        "SELECT count(*) FROM matcher.matches WHERE member_id = $1", stranger_id
    )
    assert matches == 0
    for count in (
        "SELECT count(*) FROM matcher.members WHERE member_id = $1",
        "SELECT count(*) FROM notifier.members WHERE member_id = $1",
    ):
        assert await pool.fetchval(count, stranger_id) == 0

    # Every message on every queue (the tap included) and every log: no canary.
    copies = []  # unacked while counting, then handed back for the search
    while (message := await tap.get(no_ack=False, fail=False)) is not None:
        copies.append(message)
    for message in copies:
        await message.nack(requeue=True)
    # The member, the poison, three openings, and at least the one match.
    assert len(copies) >= 6, len(copies)
    hits = await _search_queues(settings, namespace, CANARIES)
    assert hits == [], hits
    for name in ("ingest", "matcher", "notifier"):
        log = (tmp_path / f"{name}.log").read_text("utf-8", errors="replace").lower()
        assert log and all(c.lower() not in log for c in CANARIES), name
