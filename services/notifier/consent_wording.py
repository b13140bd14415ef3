"""The words of the referral and forwarding pages that the views choose in
Python, and of the forwarded email, built from the gettext catalogs like
``wording`` (English text as msgid, the translations in
``locale/<lang>/LC_MESSAGES/messages.po``). The pages' labels and buttons are
in the template, through ``_()``."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

from services.notifier.catalogs import translations
from services.notifier.wording import LANGUAGES, Language


@dataclasses.dataclass(frozen=True, slots=True)
class ConsentWording:
    # referral: the confirmation page
    ref_title: str
    ref_intro: str  # {company}
    ref_nothing_before: str
    ref_bad_profile: str
    ref_closed: str
    # referral: after confirming, and its states
    ref_done_title: str
    ref_done_text: str  # {company}
    ref_withdrawn_title: str
    ref_withdrawn_text: str
    ref_delivered_title: str
    ref_delivered_text: str  # {company}
    ref_other_title: str
    ref_other_text: str
    ref_no_contact: str
    # forward
    fwd_intro: str
    fwd_privacy: str
    fwd_bad_address: str
    fwd_limit: str
    fwd_again: str
    fwd_sent_title: str
    fwd_sent_text: str
    # the forwarded email
    mail_subject: str
    mail_someone: str  # {name} when the forwarder gave none
    mail_intro: str  # {name}
    mail_note: str  # {name}
    mail_apply: str
    mail_join: str
    mail_never: str
    mail_why: str
    # the colleague's "never write to me again"
    never_title: str
    never_text: str
    never_done_title: str
    never_done_text: str
    # forms
    stale_form: str


def _consent_wording(_: Callable[[str], str]) -> ConsentWording:
    # ``_`` is the catalog's gettext: Babel extracts the literal passed to it.
    return ConsentWording(
        ref_title=_("Refer me for this opening"),
        ref_intro=_(
            "If you confirm, we introduce you to {company} for this opening. This is "
            "exactly what they will receive:"
        ),
        ref_nothing_before=_(
            "Until you confirm, the company knows nothing about you: not your name, not "
            "that you were told about this opening. You can withdraw until it is "
            "delivered."
        ),
        ref_bad_profile=_("The link must start with https:// and be at most 300 characters."),
        ref_closed=_("This opening has closed: there is nobody to refer you to any more."),
        ref_done_title=_("Your referral is on its way"),
        ref_done_text=_(
            "We will introduce you to {company} shortly. Until it is delivered, you can "
            "still change your mind."
        ),
        ref_withdrawn_title=_("Referral withdrawn"),
        ref_withdrawn_text=_("Nothing about you will be sent to the company."),
        ref_delivered_title=_("Your referral was delivered"),
        ref_delivered_text=_(
            "{company} has received your referral; it can no longer be withdrawn here. "
            "They will contact you directly."
        ),
        ref_other_title=_("This referral is closed"),
        ref_other_text=_("It was not delivered, and nothing about you was sent."),
        ref_no_contact=_("We do not have your contact details any more, so we cannot refer you."),
        fwd_intro=_("Send this opening to a colleague, with a few words of your own."),
        fwd_privacy=_(
            "We use the address only for this one email and do not keep it. Your "
            "colleague will see your name, and can ask us never to write to them again."
        ),
        fwd_bad_address=_("Please enter one plain email address."),
        fwd_limit=_("You have forwarded as many openings as we allow in one day. Try tomorrow."),
        fwd_again=_("You have already sent this colleague an opening today."),
        fwd_sent_title=_("Sent to your colleague"),
        fwd_sent_text=_("Thank you for passing the word. We do not keep their address."),
        mail_subject=_("A colleague thought of you for an opening"),
        mail_someone=_("Someone you know"),
        mail_intro=_(
            "{name} thought this opening might interest you and forwarded it through passaparola."
        ),
        mail_note=_("{name} writes:"),
        mail_apply=_("How to apply"),
        mail_join=_(
            "passaparola is the job-referral network of a community of executive "
            "assistants. Join it here:"
        ),
        mail_never=_("Never write to me again:"),
        mail_why=_("You receive this email only because a colleague entered your address."),
        never_title=_("No more emails from passaparola?"),
        never_text=_("We will not send you any forwarded opening again."),
        never_done_title=_("Done"),
        never_done_text=_("We will not write to this address again."),
        stale_form=_("This form is out of date. Please open the link from the email again."),
    )


CONSENT: dict[Language, ConsentWording] = {
    language: _consent_wording(translations(language).gettext) for language in LANGUAGES
}
