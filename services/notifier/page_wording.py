"""The sentences the link views choose in Python (a page's title and text,
an error, a state), from the gettext catalogs.

One dataclass per language, like ``wording``: the English text is the msgid,
the translations are in ``locale/<lang>/LC_MESSAGES/messages.po``. The fixed
text of the page itself (labels, buttons, hints, the footer) is written in
the template, ``templates/web/page.html.j2``, as ``{{ _("...") }}``, where a
translator sees it in place. The pages say plainly what happens and what
does not (yet).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

from services.notifier.catalogs import translations
from services.notifier.wording import LANGUAGES, Language


@dataclasses.dataclass(frozen=True, slots=True)
class PageWording:
    # errors
    invalid_title: str
    invalid_text: str
    expired_title: str
    expired_text: str
    gone_title: str
    gone_text: str
    # unsubscribe
    unsubscribe_title: str
    unsubscribe_text: str
    unsubscribed_title: str
    unsubscribed_text: str
    # pause
    pause_title: str
    pause_text: str
    paused_title: str  # {date}
    paused_text: str  # {date}
    # preferences
    prefs_title: str
    freq_instant: str
    freq_daily: str
    freq_weekly: str
    saved_title: str
    saved_text: str
    prefs_paused: str  # {date}
    prefs_resumed: str
    prefs_resubscribed: str
    # not for me
    nfm_title: str
    nfm_text: str
    reason_role: str
    reason_place: str
    reason_level: str
    reason_company: str
    reason_timing: str
    reason_other: str
    reason_none: str
    nfm_done_title: str
    nfm_done_text: str
    # forward
    fwd_title: str
    fwd_text: str
    fwd_not_yet: str
    fwd_details: str
    fwd_done_title: str
    fwd_done_text: str
    # interested
    int_title: str
    int_text: str  # {company}
    int_not_yet: str
    int_button: str
    # the opening page
    open_salary_from: str  # {amount}
    open_salary_to: str  # {amount}
    open_per_year: str  # {amount}
    open_per_month: str  # {amount}
    open_per_hour: str  # {amount}
    open_deadline: str  # {date}
    # a referral that could not be delivered
    ref_failed_title: str
    ref_failed_text: str  # {company}
    # a referral whose first delivery attempt failed, tried again
    ref_delayed_title: str
    ref_delayed_text: str  # {company}
    # shared
    invalid_date: str


def _page_wording(_: Callable[[str], str]) -> PageWording:
    # ``_`` is the catalog's gettext: Babel extracts the literal passed to it.
    return PageWording(
        invalid_title=_("This link doesn't work"),
        invalid_text=_(
            "It may have been cut short or changed on the way. Open it again from the "
            "email, or use the links in our most recent email."
        ),
        expired_title=_("This link has expired"),
        expired_text=_(
            "For your safety, links in our emails stop working after a while. The links "
            "in our most recent email will work."
        ),
        gone_title=_("Nothing to do here any more"),
        gone_text=_(
            "This link refers to something that no longer exists, for example after your "
            "data was erased at your request."
        ),
        unsubscribe_title=_("Stop these emails?"),
        unsubscribe_text=_(
            "You will no longer receive job emails from passaparola. Your membership of "
            "the community does not change."
        ),
        unsubscribed_title=_("You are unsubscribed"),
        unsubscribed_text=_(
            "We will not email you about openings any more. If you change your mind, you "
            "can sign up again from your community profile."
        ),
        pause_title=_("Pause for a while"),
        pause_text=_("No emails from us until the date you choose. Nothing else changes."),
        paused_title=_("Paused until {date}"),
        paused_text=_(
            "We will write again from {date}. Openings found meanwhile that are still "
            "open then may reach you after the pause."
        ),
        prefs_title=_("Your email preferences"),
        freq_instant=_("As soon as we find an opening for you"),
        freq_daily=_("One summary a day, in the morning"),
        freq_weekly=_("One summary a week, on Monday morning"),
        saved_title=_("Preferences saved"),
        saved_text=_("Thank you. Our next emails will follow your new preferences."),
        prefs_paused=_("Emails are paused until {date}."),
        prefs_resumed=_(
            "The pause has ended. We will write again when we find an opening for you."
        ),
        prefs_resubscribed=_(
            "Welcome back. Emails about openings will reach you again, following your "
            "preferences below."
        ),
        nfm_title=_("Not for me"),
        nfm_text=_(
            "Thank you for telling us. Knowing why helps us choose better for "
            "you; the company is told nothing."
        ),
        reason_role=_("Not the role I am looking for"),
        reason_place=_("Not the right place"),
        reason_level=_("Not the right level"),
        reason_company=_("Not this company"),
        reason_timing=_("Not the right moment"),
        reason_other=_("Another reason"),
        reason_none=_("I'd rather not say"),
        nfm_done_title=_("Thank you"),
        nfm_done_text=_("We will not mention this opening to you again."),
        fwd_title=_("Forward to a colleague"),
        fwd_text=_(
            "Know someone this opening would suit? This is how it will work: your "
            "colleague receives one short email with this opening and nothing else; they "
            "are not signed up for anything, we do not tell them who you are, and we keep"
            " their address only to send that one email."
        ),
        fwd_not_yet=_(
            "Sending through passaparola is not switched on yet: nothing will be sent and"
            " the address will not be kept. Meanwhile you can share the details above "
            "yourself. Please do not forward our email itself: its links are personal."
        ),
        fwd_details=_("The opening"),
        fwd_done_title=_("Not sent yet"),
        fwd_done_text=_(
            "Forwarding through passaparola is not available yet, so nothing was sent and"
            " the address you typed was not kept. You can share the details yourself."
        ),
        int_title=_("Interested in this opening?"),
        int_text=_(
            "Here is what happens next: when you confirm, we introduce you to {company} "
            "for this opening, and only then does the company learn who you are. Until "
            "you confirm, nothing is shared."
        ),
        int_not_yet=_(
            "Referrals are being switched on: this button is not active yet, and nothing "
            "has been sent to the company. We will write to you as soon as it is."
        ),
        int_button=_("Refer me"),
        open_salary_from=_("from {amount}"),
        open_salary_to=_("up to {amount}"),
        open_per_year=_("{amount} a year"),
        open_per_month=_("{amount} a month"),
        open_per_hour=_("{amount} an hour"),
        open_deadline=_("Apply by {date}"),
        ref_failed_title=_("Your referral could not be delivered"),
        ref_failed_text=_(
            "We tried to send it to {company} and could not, or they did not confirm "
            "receiving it. Our team has been told and will look into it; you do not need "
            "to do anything."
        ),
        ref_delayed_title=_("Your referral is waiting to be delivered"),
        ref_delayed_text=_(
            "We have not been able to reach {company} yet, so we keep trying. Until it is "
            "delivered, you can still change your mind."
        ),
        invalid_date=_("Please choose a date between tomorrow and one year from now."),
    )


PAGES: dict[Language, PageWording] = {
    language: _page_wording(translations(language).gettext) for language in LANGUAGES
}
