"""The referral page tells the truth about where a referral stands: requested,
then what ingest reported (referral.settled) across the broker."""

from __future__ import annotations

import re
from pathlib import Path

import aiohttp
import pytest

from shared.events import ReferralDelayed, ReferralSettled
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


async def _interested_link(
    publisher, pool, settings, process, member_id: str, language: str
) -> str:
    """A member told of one opening by a real email: the email's "interested" link."""
    box = Mailbox(domain())
    member = member_event(
        settings.secret_key, member_id, f"{member_id}@{box.domain}", language=language
    )
    await publisher.publish(member)
    await member_known(pool, member_id)
    await publisher.publish(match_event(member_id, posting_id=f"p-{member_id}"))
    (mail,) = await box.wait_for(1)
    (link,) = re.findall(rf"{re.escape(process.url)}/i/[A-Za-z0-9_-]+", mail.text("plain"))
    return str(link)


async def test_a_failed_referral_says_so(service_env, tmp_path, amqp, topology, settings, pool):
    publisher = await Publisher.create(await amqp.channel(), topology)
    process = NotifierProcess(base_env(service_env, free_port()), tmp_path / "notifier.log")
    await process.start()
    try:
        link = await _interested_link(publisher, pool, settings, process, "m-ref", "en")

        async with aiohttp.ClientSession() as http:
            async with http.get(link) as resp:
                form = re.search(r'name="form" value="([^"]+)"', await resp.text())
                assert form is not None
            async with http.post(link, data={"form": form.group(1), "note": ""}) as resp:
                assert resp.status == 200
                assert "Your referral is on its way" in await resp.text()
            row = await pool.fetchrow(
                "SELECT referral_id, state FROM notifier.referrals WHERE member_id = 'm-ref'"
            )
            assert row["state"] == "requested"

            settled = ReferralSettled(
                referral_id=str(row["referral_id"]),
                member_id="m-ref",
                outcome="failed",
                channel="callback",
            )
            await publisher.publish(wrap(settled))

            async def failed() -> bool:
                state = await pool.fetchval(
                    "SELECT state FROM notifier.referrals WHERE member_id = 'm-ref'"
                )
                return state == "failed"

            await eventually(failed, what="referral.settled at the notifier")
            async with http.get(link) as resp:
                page = await resp.text()
            assert "Your referral could not be delivered" in page
            assert "Ferretti" in page
            # Neither the old promise nor a withdraw button: it is out of the member's hands.
            assert "on its way" not in page
            assert "/withdraw" not in page
    finally:
        process.stop()


async def _refer(http, link: str) -> None:
    async with http.get(link) as resp:
        form = re.search(r'name="form" value="([^"]+)"', await resp.text())
        assert form is not None
    async with http.post(link, data={"form": form.group(1), "note": ""}) as resp:
        assert resp.status == 200


@pytest.mark.parametrize(
    ("language", "delivered", "says"),
    [
        ("it", "La tua segnalazione è stata consegnata", "ha ricevuto la tua segnalazione"),
        ("sv", "Din rekommendation är levererad", "har tagit emot din rekommendation"),
    ],
)
async def test_a_delivered_referral_is_confirmed_once_by_email_in_the_members_language(
    service_env, tmp_path, amqp, topology, settings, pool, language, delivered, says
):
    publisher = await Publisher.create(await amqp.channel(), topology)
    process = NotifierProcess(base_env(service_env, free_port()), tmp_path / "notifier.log")
    await process.start()
    try:
        box = Mailbox(domain())
        member = member_event(
            settings.secret_key, "m-conf", f"conf@{box.domain}", language=language
        )
        await publisher.publish(member)
        await member_known(pool, "m-conf")
        await publisher.publish(match_event("m-conf", posting_id="p-conf"))
        (opening_mail,) = await box.wait_for(1)
        (link,) = re.findall(
            rf"{re.escape(process.url)}/i/[A-Za-z0-9_-]+", opening_mail.text("plain")
        )
        async with aiohttp.ClientSession() as http:
            await _refer(http, link)
            referral_id = await pool.fetchval(
                "SELECT referral_id::text FROM notifier.referrals WHERE member_id = 'm-conf'"
            )
            settled = ReferralSettled(
                referral_id=referral_id, member_id="m-conf", outcome="delivered", channel="email"
            )
            # Twice, as two events (a replay by an operator): one email.
            await publisher.publish(wrap(settled))
            await publisher.publish(wrap(settled))

            async def confirmed() -> bool:
                return bool(
                    await pool.fetchval(
                        "SELECT state = 'sent' FROM notifier.referral_confirmations"
                        " WHERE referral_id::text = $1",
                        referral_id,
                    )
                )

            await eventually(confirmed, what="the confirmation sent")
            mails = await box.wait_for(2)

            async def both_handled() -> bool:
                count = await pool.fetchval(
                    "SELECT count(*) FROM notifier.inbox WHERE event_type = 'referral.settled'"
                )
                return bool(count == 2)

            await eventually(both_handled, what="both settled events handled")
            assert len(box.mails()) == 2, "one confirmation, however often it is settled"
            mail = next(m for m in mails if m is not opening_mail)
            text = mail.text("plain")
            # The member's language throughout; the subject neutral.
            assert says in text
            assert "referral" not in text.lower() and "Hello" not in text
            subject = str(mail.message["Subject"])
            assert "Ferretti" not in subject
            assert "Ferretti & Bianchi S.p.A." in text
            assert "Executive Assistant to the CEO" in text  # the company's own title
            # The link to the referral's page, which tells where it stands.
            (again,) = re.findall(rf"{re.escape(process.url)}/i/[A-Za-z0-9_-]+", text)
            async with http.get(again) as resp:
                assert delivered in await resp.text()
            # Nothing of the company's side: not the channel, no company address.
            assert "email" not in text.lower().replace(f"conf@{box.domain}", "")
            assert mail.rcpt_to == (f"conf@{box.domain}",)
    finally:
        process.stop()


async def test_a_referral_the_company_has_not_taken_yet_says_so_and_can_be_withdrawn(
    service_env,
    tmp_path,
    amqp,
    topology,
    settings,
    pool,
    browser,  # noqa: F811
):
    """Ingest's first attempt failed and it keeps trying (``referral.delayed``):
    the member's page, in Chromium at a phone's width and in Italian, says the
    company has not been reached yet, and still offers to withdraw."""
    publisher = await Publisher.create(await amqp.channel(), topology)
    process = NotifierProcess(base_env(service_env, free_port()), tmp_path / "notifier.log")
    await process.start()
    try:
        link = await _interested_link(publisher, pool, settings, process, "m-late", "it")
        async with aiohttp.ClientSession() as http:
            await _refer(http, link)
        referral_id = await pool.fetchval(
            "SELECT referral_id::text FROM notifier.referrals WHERE member_id = 'm-late'"
        )
        delayed = ReferralDelayed(referral_id=referral_id, member_id="m-late")
        await publisher.publish(wrap(delayed))

        async def marked() -> bool:
            return bool(
                await pool.fetchval(
                    "SELECT delayed_at IS NOT NULL FROM notifier.referrals"
                    " WHERE member_id = 'm-late'"
                )
            )

        await eventually(marked, what="referral.delayed at the notifier")
        page = await browser.new_page(viewport={"width": 375, "height": 800})
        await page.goto(link)
        text = await page.inner_text("body")
        assert "La tua segnalazione è in attesa di consegna" in text
        assert "Non siamo ancora riusciti a raggiungere Ferretti & Bianchi S.p.A." in text
        assert "La tua segnalazione è in arrivo" not in text  # not the old promise
        SHOTS.mkdir(parents=True, exist_ok=True)
        await page.screenshot(path=SHOTS / "referral-delayed-it-375.png", full_page=True)
        # Still the member's to take back, with the keyboard as with a mouse.
        await page.get_by_role("button", name="Ritira la segnalazione").focus()
        async with page.expect_navigation():
            await page.keyboard.press("Enter")
        assert "Segnalazione ritirata" in await page.inner_text("body")
        await page.close()

        # A late copy of the event does not reopen it.
        await publisher.publish(wrap(ReferralDelayed(referral_id=referral_id, member_id="m-late")))

        async def both_handled() -> bool:
            count = await pool.fetchval(
                "SELECT count(*) FROM notifier.inbox WHERE event_type = 'referral.delayed'"
            )
            return bool(count == 2)

        await eventually(both_handled, what="the late referral.delayed handled")
        state = await pool.fetchval(
            "SELECT state FROM notifier.referrals WHERE member_id = 'm-late'"
        )
        assert state == "withdrawn"
    finally:
        process.stop()
