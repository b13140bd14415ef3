"""CSRF on every state-changing member form (issue 11, finding 6), against a
real notifier: a post from another site, or without the form token of the
page, changes nothing; the member's own form still works."""

from __future__ import annotations

import re
from typing import Any

import aiohttp
import pytest

from tests.notifier.test_links_browser import emailed

pytestmark = pytest.mark.real

__all__ = ["emailed"]

# What each form posts when a member fills it in.
FORMS = {
    "pause": {"until": ""},  # filled in below: a date the page allows
    "p": {"frequency": "weekly", "language": "it", "quiet_start": "", "quiet_end": ""},
    "n": {"reason": "location"},
    "u": {"List-Unsubscribe": "One-Click"},
}
CROSS_SITE = [
    {"Origin": "https://evil.example", "Sec-Fetch-Site": "cross-site"},
    {"Origin": "https://evil.example"},
    {"Sec-Fetch-Site": "cross-site"},
    {"Sec-Fetch-Site": "same-site"},
]


async def _state(pool) -> tuple[Any, ...]:
    member = await pool.fetchrow(
        "SELECT local_frequency, local_language, local_paused_until, unsubscribed_at"
        " FROM notifier.members WHERE member_id = 'm-web'"
    )
    not_for_me = await pool.fetchval("SELECT count(*) FROM notifier.feedback")
    return (*member.values(), not_for_me)


async def _page(http: aiohttp.ClientSession, url: str) -> tuple[str, dict[str, str]]:
    async with http.get(url) as resp:
        html = await resp.text()
    token = re.search(r'name="form" value="([^"]+)"', html)
    assert token is not None, "every member form carries its token"
    found = re.search(r'name="until" value="([^"]+)"', html)
    return token.group(1), ({"until": found.group(1)} if found else {})


async def test_cross_site_or_tokenless_posts_change_nothing(emailed, pool):
    _, links = emailed
    before = await _state(pool)
    async with aiohttp.ClientSession() as http:
        for key, fields in FORMS.items():
            token, extra = await _page(http, links[key])
            data = {**fields, **extra}
            for headers in CROSS_SITE:  # even with the right token
                async with http.post(
                    links[key], data={**data, "form": token}, headers=headers
                ) as r:
                    assert r.status == 403, (key, headers)
            if key != "u":  # one-click unsubscribe is the standard's, tested below
                async with http.post(links[key], data=data) as r:
                    assert r.status == 403, key
                async with http.post(links[key], data={**data, "form": "1.forged"}) as r:
                    assert r.status == 403, key
    assert await _state(pool) == before


async def test_the_members_own_forms_still_work(emailed, pool):
    _, links = emailed
    before = await _state(pool)
    async with aiohttp.ClientSession() as http:
        for key in ("pause", "p", "n"):
            token, extra = await _page(http, links[key])
            same_origin = {
                "Sec-Fetch-Site": "same-origin",
                "Origin": links[key].split("/")[0] + "//" + links[key].split("/")[2],
            }
            async with http.post(
                links[key], data={**FORMS[key], **extra, "form": token}, headers=same_origin
            ) as r:
                assert r.status == 200, key
    after = await _state(pool)
    assert after[0] == "weekly" and after[1] == "it"
    assert after[2] is not None and after[2] != before[2]  # paused
    assert after[4] == before[4] + 1  # not for me


async def test_one_click_unsubscribe_from_another_site_is_refused(emailed, pool):
    _, links = emailed
    async with (
        aiohttp.ClientSession() as http,
        http.post(
            links["u"],
            data="List-Unsubscribe=One-Click",
            headers={
                "Content-Type": "application/x-www-form-urlencoded",
                "Origin": "https://evil.example",
                "Sec-Fetch-Site": "cross-site",
            },
        ) as resp,
    ):
        assert resp.status == 403
    assert (await _state(pool))[3] is None
