"""The opening page, reached from the link of a real email captured by the
sink, in headless Chromium at a phone's width. Screenshots are saved under
var/screenshots/ for a person to look at."""

from __future__ import annotations

import re
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import aiohttp
import pytest

from services.notifier import tokens
from services.notifier.sender import link_key
from shared.events import JobCreated
from shared.publisher import Publisher
from tests.helpers import eventually, free_port
from tests.notifier.real import (
    Mailbox,
    NotifierProcess,
    base_env,
    domain,
    match_event,
    member_event,
    wrap,
)
from tests.notifier.test_links_browser import browser  # noqa: F401  (a fixture)
from tests.notifier.test_notifier_real import member_known

pytestmark = pytest.mark.real

SHOTS = Path(__file__).resolve().parents[2] / "var" / "screenshots"
DESCRIPTION = (
    "<p>You will run the <b>CEO's</b> agenda &amp; travel.</p>"
    "<ul><li>Board meetings</li><li>Italian and English</li></ul>"
    "<script>alert('x')</script><img src=x onerror=alert(1)>"
    "<p><a href='javascript:alert(1)'>More</a></p>"
)


def opening_event(posting_id: str) -> JobCreated:
    return JobCreated(
        posting_id=posting_id,
        company_id=str(uuid.uuid4()),
        revision=1,
        title="Executive Assistant to the CEO",
        city="Milano",
        country="IT",
        company_name="Ferretti & Bianchi S.p.A.",
        apply_url="https://careers.example/ea-ceo",
        description=DESCRIPTION,
        salary_min=38000,
        salary_max=45000,
        salary_currency="EUR",
        salary_period="YEAR",
    )


@pytest.fixture
async def opening_mail(service_env, tmp_path, amqp, topology, settings, pool):
    """A running notifier, a posting with a description, and the one email it sent."""
    publisher = await Publisher.create(await amqp.channel(), topology)
    process = NotifierProcess(base_env(service_env, free_port()), tmp_path / "notifier.log")
    await process.start()
    box = Mailbox(domain())
    await publisher.publish(member_event(settings.secret_key, "m-open", f"open@{box.domain}"))
    await member_known(pool, "m-open")
    await publisher.publish(wrap(opening_event("p-open")))

    async def described() -> bool:
        return bool(
            await pool.fetchval(
                "SELECT description IS NOT NULL FROM notifier.postings WHERE posting_id = 'p-open'"
            )
        )

    await eventually(described, what="the posting's description")
    await publisher.publish(
        match_event(
            "m-open",
            posting_id="p-open",
            apply_url="https://careers.example/ea-ceo",
            valid_through="2026-12-31",
        )
    )
    (mail,) = await box.wait_for(1)
    yield process, mail
    process.stop()


def _opening_links(process: NotifierProcess, body: str) -> list[str]:
    return re.findall(rf"{re.escape(process.url)}/o/[A-Za-z0-9_-]+", body)


async def test_the_email_links_the_opening_page(opening_mail, browser):  # noqa: F811
    process, mail = opening_mail
    (plain_link,) = set(_opening_links(process, mail.text("plain")))
    assert set(_opening_links(process, mail.text("html"))) == {plain_link}

    SHOTS.mkdir(parents=True, exist_ok=True)
    page = await browser.new_page(locale="it-IT", viewport={"width": 375, "height": 800})
    response = await page.goto(plain_link)
    assert response is not None and response.status == 200
    assert response.headers["referrer-policy"] == "no-referrer"
    assert await page.locator("h1").inner_text() == "Executive Assistant to the CEO"
    card = await page.locator(".card").inner_text()
    # In Italian, as the member's profile says: salary, deadline, description.
    assert "Retribuzione" in card
    assert re.search(r"38\.000.*45\.000.*all'anno", card), card
    assert "31 dicembre 2026" in card
    assert "You will run the CEO's agenda & travel." in card
    assert "Board meetings" in card
    # The company's markup is text, never live: no script, image or link of theirs.
    assert await page.locator("script, img, a[href^='javascript']").count() == 0
    assert "alert" not in card
    apply = page.locator("a[href='https://careers.example/ea-ceo']")
    assert await apply.count() == 1
    assert await apply.get_attribute("rel") == "noopener noreferrer nofollow"
    # Nothing is wider than the phone.
    width = await page.evaluate("document.documentElement.scrollWidth")
    assert width <= 375
    await page.screenshot(path=SHOTS / "opening-375.png", full_page=True)

    # From the opening to "refer me", and back from that page to the opening.
    await page.click("a.button")
    assert "/i/" in page.url
    await page.click(".job a")
    assert "/o/" in page.url
    assert await page.locator("h1").inner_text() == "Executive Assistant to the CEO"


async def test_the_opening_link_is_signed_and_expires(opening_mail, pool, settings):
    process, mail = opening_mail
    (link,) = set(_opening_links(process, mail.text("plain")))
    notification_id = await pool.fetchval(
        "SELECT id FROM notifier.notifications WHERE member_id = 'm-open'"
    )
    key = link_key(settings.secret_key)
    # A token for another action on the same notification opens nothing here.
    other = tokens.issue(key, tokens.Action.NOT_FOR_ME, notification_id, timedelta(days=1))
    expired = tokens.issue(
        key,
        tokens.Action.OPENING,
        notification_id,
        timedelta(days=1),
        now=datetime.now(UTC) - timedelta(days=2),
    )
    async with aiohttp.ClientSession() as http:
        async with http.get(link) as resp:
            assert resp.status == 200
            assert "Ferretti" in await resp.text()
        async with http.get(f"{process.url}/o/{other}") as resp:
            assert resp.status == 400
            assert "Ferretti" not in await resp.text()
        async with http.get(f"{process.url}/o/{expired}") as resp:
            assert resp.status == 410
            assert "Ferretti" not in await resp.text()
