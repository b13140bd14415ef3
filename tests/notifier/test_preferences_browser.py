"""The preference centre in headless Chromium: see and end a pause, undo an
unsubscribe, quiet hours whose every field has a label, edit what the member
looks for (roles, cities, remote work, languages, blocked companies) with the
keyboard, all from the signed link. Screenshots are saved under
var/screenshots/, at 375 px and at a desktop width, for a person to look at."""

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
        member_event(
            settings.secret_key,
            "m-prefs",
            f"prefs@{domain()}",
            language="en",
            desired_roles=("Executive Assistant", "Assistant to the CEO"),
            cities=("Milano",),
            remote="hybrid",
            languages=("it", "en"),
        )
    )
    await member_known(pool, "m-prefs")
    link_id = await pool.fetchval(
        "SELECT link_id FROM notifier.members WHERE member_id = 'm-prefs'"
    )
    key = link_key(settings.secret_key)

    def link(path: str, action: tokens.Action) -> str:
        token = tokens.issue(key, action, link_id, tokens.DEFAULT_TTL[action])
        return f"{process.url}/{path}/{token}"

    async def italian() -> str:
        """The preference link of a second member, who reads Italian."""
        await publisher.publish(
            member_event(
                settings.secret_key,
                "m-prefs-it",
                f"prefs-it@{domain()}",
                language="it",
                desired_roles=("Assistente di direzione",),
                languages=("it", "sv"),
            )
        )
        await member_known(pool, "m-prefs-it")
        other = await pool.fetchval(
            "SELECT link_id FROM notifier.members WHERE member_id = 'm-prefs-it'"
        )
        action = tokens.Action.PREFERENCES
        token = tokens.issue(key, action, other, tokens.DEFAULT_TTL[action])
        return f"{process.url}/p/{token}"

    yield {
        "italian": italian,
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
    await page.get_by_label("From", exact=True).fill("22:00")
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


async def _profile(pool):
    return await pool.fetchval("SELECT profile FROM notifier.members WHERE member_id = 'm-prefs'")


async def _tab_to(page, selector: str, limit: int = 80) -> None:
    """Press Tab until ``selector`` has the focus, as a keyboard user would."""
    for _ in range(limit):
        await page.keyboard.press("Tab")
        if await page.evaluate(f"document.activeElement.matches({selector!r})"):
            return
    raise AssertionError(f"{selector} not reachable with Tab")


@pytest.mark.parametrize("width", [375, 1280])
async def test_edit_what_the_member_looks_for_with_the_keyboard(
    browser,  # noqa: F811
    links,
    pool,
    width,
):
    SHOTS.mkdir(parents=True, exist_ok=True)
    page = await browser.new_page(locale="en-GB", viewport={"width": width, "height": 900})
    await page.goto(links["p"])

    # The page shows the profile as it is: the role by its name, the free-text
    # one kept in its own words, the city, remote work, the languages.
    assert await page.get_by_label("Executive Assistant", exact=True).is_checked()
    assert await page.get_by_label("Assistant to the CEO", exact=True).is_checked()
    assert await page.get_by_label("Cities where you would like to work").input_value() == "Milano"
    assert await page.get_by_label("Partly from home").is_checked()
    assert await page.get_by_label("Italian", exact=True).is_checked()
    unlabelled = await page.evaluate(
        """[...document.querySelectorAll('input:not([type=hidden]), select, textarea')]
           .filter(e => e.labels.length === 0).map(e => e.name)"""
    )
    assert unlabelled == []
    await page.screenshot(path=SHOTS / f"preferences-profile-{width}.png", full_page=True)

    # With the keyboard only: tick a role, untick the free-text one, type a
    # city and a company to block, choose fully remote, save.
    await _tab_to(page, "input[name=role][value=chief-of-staff]")
    await page.keyboard.press("Space")
    await _tab_to(page, "input[name=role_keep]")
    await page.keyboard.press("Space")
    await _tab_to(page, "#cities")
    await page.keyboard.press("End")
    await page.keyboard.type("\nTorino")
    await _tab_to(page, "input[name=remote]")
    await page.keyboard.press("ArrowDown")  # hybrid -> remote, as radio groups go
    await _tab_to(page, "#blocked")
    await page.keyboard.type("Acme S.p.A.")
    await _tab_to(page, "#save_profile")
    await page.keyboard.press("Enter")
    await page.wait_for_selector("[role=status]")
    assert "From now on" in await page.locator("[role=status]").inner_text()

    profile = await _profile(pool)
    assert profile == {
        "desired_roles": ["Executive Assistant", "Chief of Staff"],
        "cities": ["Milano", "Torino"],
        "remote": "remote",
        "languages": ["it", "en"],
        "blocked_companies": ["Acme S.p.A."],
    }
    # Handed to ingest, the profile's owner, sealed: no company name in clear.
    bodies = [
        bytes(r["body"])
        for r in await pool.fetch(
            "SELECT body FROM notifier.outbox WHERE routing_key = 'profile.edited'"
        )
    ]
    assert len(bodies) == 1 and b"Acme" not in bodies[0] and b"Torino" not in bodies[0]
    # The page shows the new values.
    assert await page.get_by_label("Chief of Staff").is_checked()
    assert await page.get_by_label("Entirely from home").is_checked()
    assert await page.locator("#blocked").input_value() == "Acme S.p.A."
    await page.screenshot(path=SHOTS / f"preferences-profile-saved-{width}.png", full_page=True)

    # Too many cities: a clear error beside the field, what was typed kept.
    await page.fill("#cities", "\n".join(f"City {i}" for i in range(11)))
    await page.click("#save_profile")
    alert = page.locator("#profile_error")
    assert await alert.inner_text() == "Please write at most 10 cities."
    assert await page.get_attribute("#cities", "aria-invalid") == "true"
    assert (await page.locator("#cities").input_value()).count("City") == 11
    assert (await _profile(pool))["cities"] == ["Milano", "Torino"]
    await page.screenshot(path=SHOTS / f"preferences-profile-error-{width}.png", full_page=True)


async def test_the_preference_centre_reads_in_italian(browser, links, pool):  # noqa: F811
    SHOTS.mkdir(parents=True, exist_ok=True)
    page = await browser.new_page(locale="en-GB", viewport={"width": 375, "height": 900})
    await page.goto(await links["italian"]())
    assert await page.get_attribute("html", "lang") == "it"
    # The taxonomy's roles by their Italian names; the stored one ticked.
    assert await page.get_by_label("Assistente di direzione", exact=True).is_checked()
    assert await page.get_by_label("Segreteria", exact=True).count() == 1
    assert await page.get_by_label("svedese", exact=True).is_checked()
    text = await page.locator("#profile").inner_text()
    for english in ("Executive Assistant", "Personal Assistant", "Secretary", "Swedish", "Roles"):
        assert english not in text
    assert "Città in cui ti piacerebbe lavorare" in text
    await page.screenshot(path=SHOTS / "preferences-profile-it-375.png", full_page=True)
