"""The preference centre in headless Chromium: see and end a pause, undo an
unsubscribe, quiet hours whose every field has a label, all from the signed
link. Screenshots are saved under var/screenshots/."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from services.notifier import tokens
from services.notifier.sender import link_key
from shared.publisher import Publisher
from tests.helpers import free_port
from tests.notifier.real import NotifierProcess, base_env, domain, member_event
from tests.notifier.test_links_browser import browser  # noqa: F401  (a fixture)
from tests.notifier.test_notifier_real import member_known

pytestmark = pytest.mark.real

SHOTS = Path(__file__).resolve().parents[2] / "var" / "screenshots"


@pytest.fixture
async def links(service_env, tmp_path, amqp, topology, settings, pool):
    """A running notifier that knows one member, and that member's links."""
    publisher = await Publisher.create(await amqp.channel(), topology)
    process = NotifierProcess(base_env(service_env, free_port()), tmp_path / "notifier.log")
    await process.start()
    await publisher.publish(
        member_event(settings.secret_key, "m-prefs", f"prefs@{domain()}", language="en")
    )
    await member_known(pool, "m-prefs")
    link_id = await pool.fetchval(
        "SELECT link_id FROM notifier.members WHERE member_id = 'm-prefs'"
    )
    key = link_key(settings.secret_key)

    def link(path: str, action: tokens.Action) -> str:
        token = tokens.issue(key, action, link_id, tokens.DEFAULT_TTL[action])
        return f"{process.url}/{path}/{token}"

    yield {
        "p": link("p", tokens.Action.PREFERENCES),
        "pause": link("pause", tokens.Action.PAUSE),
        "u": link("u", tokens.Action.UNSUBSCRIBE),
    }
    process.stop()


async def _member(pool):
    return await pool.fetchrow(
        "SELECT local_paused_until, unsubscribed_at, local_quiet_hours"
        " FROM notifier.members WHERE member_id = 'm-prefs'"
    )


async def test_end_a_pause_and_undo_an_unsubscribe(browser, links, pool):  # noqa: F811
    SHOTS.mkdir(parents=True, exist_ok=True)
    page = await browser.new_page(locale="en-GB", viewport={"width": 375, "height": 800})

    # Nothing to end or undo yet: the page says nothing of it.
    await page.goto(links["p"])
    assert await page.locator("#resume, #resubscribe").count() == 0

    # Every field of the form has a label a screen reader reads out.
    unlabelled = await page.evaluate(
        """[...document.querySelectorAll('input:not([type=hidden]), select, textarea')]
           .filter(e => e.labels.length === 0).map(e => e.name)"""
    )
    assert unlabelled == []
    await page.get_by_label("From").fill("22:00")
    await page.get_by_label("to", exact=True).fill("07:00")
    await page.click("form:not(.status) button[type=submit]")
    assert (await _member(pool))["local_quiet_hours"] == ["22:00", "07:00"]

    # Pause, then see the pause on the preference page and end it.
    await page.goto(links["pause"])
    until = (datetime.now(UTC) + timedelta(days=20)).date()
    await page.fill("input[name=until]", until.isoformat())
    await page.click("button[type=submit]")
    await page.goto(links["p"])
    status = await page.locator(".status").inner_text()
    assert status.startswith("Emails are paused until")
    assert str(until.day) in status
    await page.screenshot(path=SHOTS / "preferences-paused-375.png", full_page=True)
    # With the keyboard: the first control of the page is the pause's end.
    await page.keyboard.press("Tab")
    assert await page.evaluate("document.activeElement.id") == "resume"
    await page.keyboard.press("Enter")
    await page.wait_for_selector("[role=status]")
    assert "The pause has ended" in await page.locator("[role=status]").inner_text()
    paused = (await _member(pool))["local_paused_until"]
    assert paused is not None and paused <= datetime.now(UTC)
    assert await page.locator("#resume").count() == 0

    # Unsubscribe, then come back from the preference page.
    await page.goto(links["u"])
    await page.click("button[type=submit]")
    assert (await _member(pool))["unsubscribed_at"] is not None
    await page.click("a[href^='/p/']")
    assert "You are unsubscribed" in await page.locator(".status").inner_text()
    await page.screenshot(path=SHOTS / "preferences-unsubscribed-375.png", full_page=True)
    await page.click("#resubscribe")
    assert "Welcome back" in await page.locator("[role=status]").inner_text()
    assert (await _member(pool))["unsubscribed_at"] is None
    assert await page.locator("#resubscribe").count() == 0
    await page.screenshot(path=SHOTS / "preferences-resubscribed-375.png", full_page=True)


async def test_the_new_forms_need_the_form_token(links, pool):
    import aiohttp

    async with aiohttp.ClientSession() as http:
        async with http.post(links["u"], data={"List-Unsubscribe": "One-Click"}) as resp:
            assert resp.status == 200
        # No form token: another site cannot resubscribe a member.
        async with http.post(f"{links['p']}/resubscribe", data={}) as resp:
            assert resp.status == 403
    assert (await _member(pool))["unsubscribed_at"] is not None
