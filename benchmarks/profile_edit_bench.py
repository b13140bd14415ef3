"""How long a member's edit on the preference page takes to reach the
matcher, on a running stack (``make up``, or ``STACK=name deploy/local/stack.sh up``):

    source <(deploy/local/stack.sh env)
    .venv/bin/python -m benchmarks.profile_edit_bench [--edits 20]

Creates one member through the member API, then posts ``--edits`` edits of
their roles on the page, one after the other, and times for each: the POST
(check, store, outbox: what the member waits for) and the round trip until
the matcher holds the new revision (notifier outbox -> profile.edited ->
ingest -> member.changed -> matcher). Prints median and 95th percentile.
"""

from __future__ import annotations

import argparse
import asyncio
import re
import statistics
import time
import uuid
from collections.abc import Awaitable, Callable

import aiohttp

from services.ingest import operators
from services.notifier import tokens
from services.notifier.sender import link_key
from shared import db
from shared.service import load_settings

ROLES = ("executive-assistant", "personal-assistant", "team-assistant", "office-manager")


async def _until(check: Callable[[], Awaitable[bool]]) -> None:
    deadline = time.perf_counter() + 60
    while time.perf_counter() < deadline:
        if await check():
            return
        await asyncio.sleep(0.005)
    raise TimeoutError("the edit did not reach the matcher")


def _quantile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


async def main(edits: int) -> None:
    settings = load_settings()
    pool = await db.create_pool(settings, name="profile-edit-bench")
    ingest = f"http://127.0.0.1:{settings.ingest_port}"
    notifier = f"http://127.0.0.1:{settings.notifier_port}"
    token = (await operators.add_token(pool, "profile edit benchmark"))["token"]
    external = f"bench-{uuid.uuid4().hex[:8]}"
    profile = {
        "consent": {"opted_in": True, "at": "2026-01-10T10:00:00+01:00", "text_version": "b"},
        "language": "it",
        "email": f"{external}@bench.example",
        "name": "Bench Member",
        "desired_roles": ["Executive Assistant"],
        "locations": {"cities": ["Milano"], "country": "IT"},
    }
    post_ms: list[float] = []
    trip_ms: list[float] = []
    async with aiohttp.ClientSession() as http:
        async with http.put(
            f"{ingest}/v1/members/{external}",
            json=profile,
            headers={"Authorization": f"Bearer {token}"},
        ) as resp:
            member_id = (await resp.json())["member_id"]

        async def known() -> bool:
            return bool(
                await pool.fetchval(
                    "SELECT true FROM matcher.members m JOIN notifier.members n USING (member_id)"
                    " WHERE member_id = $1",
                    member_id,
                )
            )

        await _until(known)
        link_id = await pool.fetchval(
            "SELECT link_id FROM notifier.members WHERE member_id = $1", member_id
        )
        action = tokens.Action.PREFERENCES
        link = tokens.issue(
            link_key(settings.secret_key), action, link_id, tokens.DEFAULT_TTL[action]
        )
        url = f"{notifier}/p/{link}"
        async with http.get(url) as resp:
            found = re.search(r'name="form" value="([^"]+)"', await resp.text())
            assert found is not None
            form = found.group(1)
        revision = await pool.fetchval(
            "SELECT revision FROM matcher.members WHERE member_id = $1", member_id
        )
        for i in range(edits):
            data = [("form", form), ("role", ROLES[i % len(ROLES)]), ("remote", "hybrid")]
            data += [("cities", f"Milano\nCity {i}"), ("spoken", "it")]
            started = time.perf_counter()
            async with http.post(f"{url}/profile", data=data) as resp:
                assert resp.status == 200, resp.status
                await resp.read()
            post_ms.append((time.perf_counter() - started) * 1000)
            revision += 1

            async def applied(expected: int = revision) -> bool:
                stored = await pool.fetchval(
                    "SELECT revision FROM matcher.members WHERE member_id = $1", member_id
                )
                return bool(stored >= expected)

            await _until(applied)
            trip_ms.append((time.perf_counter() - started) * 1000)
    await pool.close()
    for name, values in (("POST /p/…/profile", post_ms), ("edit at the matcher", trip_ms)):
        print(
            f"{name}: median {statistics.median(values):.0f} ms,"
            f" p95 {_quantile(values, 0.95):.0f} ms ({len(values)} edits)"
        )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--edits", type=int, default=20)
    asyncio.run(main(parser.parse_args().edits))
