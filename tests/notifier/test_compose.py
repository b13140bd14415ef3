"""The member's email, parsed back from the bytes that would go to the SMTP server."""

from __future__ import annotations

import dataclasses
import email
import email.policy
import re
import uuid
from datetime import UTC, date, datetime
from email.message import EmailMessage
from typing import Any

import pytest

from services.notifier.catalogs import translations
from services.notifier.compose import (
    EXPECTED_HEADERS,
    SENDER_NAME,
    InvalidAddress,
    Job,
    JobLinks,
    MemberLinks,
    Recipient,
    Sender,
    UnsafeMessage,
    compose_digest,
    compose_instant,
    serialise,
    validate_address,
)
from services.notifier.wording import LANGUAGES, WORDING

NOW = datetime(2025, 3, 4, 7, 30, tzinfo=UTC)
NOTIFICATION = uuid.UUID("8d3c1f0e-5a7b-4c2d-9e1f-0a1b2c3d4e5f")
SENDER = Sender(address="aggiornamenti@passaparola.example", mail_domain="passaparola.example")
MEMBER = "giulia.rossi@example.it"
LINKS = MemberLinks(
    pause="https://links.passaparola.example/pause/tokP",
    preferences="https://links.passaparola.example/p/tokS",
    unsubscribe="https://links.passaparola.example/u/tokU",
)

EVIL = [
    "=?UTF-8?Q?=0A?=Bcc: x@y",
    "Evil\r\nBcc: a@b",
    "x\x00y",
    "=?utf-8?b?DQpCY2M6IGF0dGFja2VyQGV2aWwuZXhhbXBsZQ==?=",
    "Line\nTo: victim@example.com\n\nbody",
    "Title\u2028Cc: c@d",
    "\u202emoc.live\u202c",
]


def job(title: str = "Executive Assistant to the CEO", company: str = "Ferretti SpA", **kw):
    fields: dict[str, Any] = {
        "title": title,
        "company": company,
        "city": "Milano",
        "explanation": {
            "title": {"posting_role": "executive-assistant", "member_role": "executive-assistant"},
            "place": {"kind": "same_city", "city": "Milano"},
        },
        "links": JobLinks(
            interested="https://links.passaparola.example/i/tokI",
            not_for_me="https://links.passaparola.example/n/tokN",
            forward="https://links.passaparola.example/f/tokF",
        ),
        "posted_on": date(2025, 3, 3),
    }
    fields.update(kw)
    return Job(**fields)


def recipient(language: str = "it", address: str = MEMBER) -> Recipient:
    return Recipient(
        address=address, language=language, timezone="Europe/Rome", first_name="Giulia"
    )


def instant(language: str = "it", the_job: Job | None = None, **kw) -> EmailMessage:
    args: dict[str, Any] = {
        "notification_id": NOTIFICATION,
        "sender": SENDER,
        "recipient": recipient(language),
        "job": the_job or job(),
        "links": LINKS,
        "now": NOW,
    }
    args.update(kw)
    return compose_instant(**args)


def digest(language: str = "it", jobs: list[Job] | None = None, period: Any = "weekly"):
    return compose_digest(
        notification_id=NOTIFICATION,
        sender=SENDER,
        recipient=recipient(language),
        jobs=jobs or [job(), job("Office Manager", "Nordhavn AB", city="Stockholm")],
        links=LINKS,
        now=NOW,
        period=period,
    )


def parse(msg: EmailMessage) -> EmailMessage:
    parsed = email.message_from_bytes(serialise(msg), policy=email.policy.default)
    assert isinstance(parsed, EmailMessage)
    return parsed


def body(parsed: EmailMessage, subtype: str) -> str:
    part = parsed.get_body(preferencelist=(subtype,))
    assert part is not None
    content = part.get_content()
    assert isinstance(content, str)
    return content


def header_text(parsed: EmailMessage) -> str:
    return "\n".join(f"{k}: {v}" for k, v in parsed.items())


def assert_only_intended_headers(parsed: EmailMessage) -> None:
    assert sorted(parsed.keys()) == sorted(EXPECTED_HEADERS)
    assert [a.addr_spec for a in parsed["To"].addresses] == [MEMBER]
    assert parsed.get_all("Cc") is None
    assert parsed.get_all("Bcc") is None


# --- structure, in every language -------------------------------------------------------


@pytest.mark.parametrize("language", LANGUAGES)
@pytest.mark.parametrize("kind", ["instant", "daily", "weekly"])
def test_every_template_renders_as_multipart_alternative(language, kind):
    msg = instant(language) if kind == "instant" else digest(language, period=kind)
    parsed = parse(msg)

    assert parsed.get_content_type() == "multipart/alternative"
    parts = list(parsed.iter_parts())
    assert [p.get_content_type() for p in parts] == ["text/plain", "text/html"]
    assert all(p.get_content_charset() == "utf-8" for p in parts)
    assert_only_intended_headers(parsed)
    assert parsed["Content-Language"] == language


@pytest.mark.parametrize("language", LANGUAGES)
@pytest.mark.parametrize("kind", ["instant", "weekly"])
def test_company_and_title_are_in_the_body_and_never_in_a_header(language, kind):
    title, company = "Chief Bananas Officer", "Zanzibar Holding"
    the_job = job(title, company, city="Cortina")
    msg = instant(language, the_job) if kind == "instant" else digest(language, [the_job])
    parsed = parse(msg)
    headers = header_text(parsed)

    for text in (body(parsed, "plain"), body(parsed, "html")):
        assert title in text
        assert company in text
        assert "Cortina" in text
    for secret in (title, company, "Cortina", "Bananas", "Zanzibar"):
        assert secret.lower() not in headers.lower()


@pytest.mark.parametrize("language", LANGUAGES)
def test_subject_sender_and_preview_are_neutral(language):
    parsed = parse(instant(language))
    wording = WORDING[language]

    assert parsed["From"].addresses[0].display_name == SENDER_NAME
    assert parsed["Subject"] == wording.subject.format(date=parsed["Subject"].split("· ")[-1])
    assert "passaparola" in parsed["Subject"]
    for word in ("job", "lavoro", "jobb", "tjänst", "opportunit", "offert", "posizion"):
        assert word not in parsed["Subject"].lower()
        assert word not in wording.preheader.lower()
    # The preview text is the first visible thing in both bodies.
    html = body(parsed, "html")
    assert html.index(wording.preheader) < html.index("Ferretti")
    assert body(parsed, "plain").splitlines()[2] == wording.preheader


def test_subject_is_localised_with_the_members_date():
    assert parse(instant("it"))["Subject"] == "Il tuo aggiornamento passaparola · 4 marzo"
    assert parse(instant("en"))["Subject"] == "Your passaparola update · 4 March"
    assert parse(digest("sv"))["Subject"] == "Din veckouppdatering från passaparola · 4 mars"


def test_dates_in_the_body_are_localised():
    assert "Pubblicata il 3 marzo 2025" in body(parse(instant("it")), "plain")
    assert "Publicerad 3 mars 2025" in body(parse(instant("sv")), "plain")
    assert "Posted on 3 March 2025" in body(parse(instant("en")), "plain")


def test_list_unsubscribe_is_one_click_and_one_literal_line():
    data = serialise(instant())
    assert b"\r\nList-Unsubscribe: <https://links.passaparola.example/u/tokU>\r\n" in data
    assert b"\r\nList-Unsubscribe-Post: List-Unsubscribe=One-Click\r\n" in data


def test_a_long_unsubscribe_url_is_not_folded_into_an_encoded_word():
    long_url = "https://links.passaparola.example/u/" + "A" * 56
    parsed = parse(instant(links=dataclasses.replace(LINKS, unsubscribe=long_url)))
    assert parsed["List-Unsubscribe"] == f"<{long_url}>"


def test_message_id_is_derived_from_the_notification_id():
    first, again = parse(instant()), parse(instant())
    assert first["Message-ID"] == f"<{NOTIFICATION}@passaparola.example>"
    assert again["Message-ID"] == first["Message-ID"]
    other = parse(instant(notification_id=uuid.uuid4()))
    assert other["Message-ID"] != first["Message-ID"]


def test_the_same_notification_serialises_to_the_same_bytes():
    assert serialise(instant()) == serialise(instant())


def test_date_header_and_auto_submitted():
    parsed = parse(instant())
    assert parsed["Date"].datetime == NOW
    assert parsed["Auto-Submitted"] == "auto-generated"
    assert parsed["X-Auto-Response-Suppress"] == "OOF, AutoReply"


def test_lines_end_in_crlf_only():
    data = serialise(digest())
    assert b"\n" not in data.replace(b"\r\n", b"")
    assert b"\r" not in data.replace(b"\r\n", b"")


@pytest.mark.parametrize("language", LANGUAGES)
def test_every_action_link_is_offered_in_both_parts(language):
    parsed = parse(instant(language))
    _ = translations(language).gettext
    for text in (body(parsed, "plain"), body(parsed, "html")):
        for url in ("/i/tokI", "/n/tokN", "/f/tokF", "/pause/tokP", "/p/tokS", "/u/tokU"):
            assert f"https://links.passaparola.example{url}" in text
    html = body(parsed, "html")
    for label in (
        _("I'm interested — refer me"),
        _("Not for me"),
        _("Forward to a colleague"),
        _("Pause for a while"),
        _("Preferences"),
        _("Unsubscribe"),
    ):
        # Jinja2 prints catalog text as written (it is ours, not a company's).
        assert label in html


def test_no_images_no_external_resources_no_tracking():
    html = body(parse(digest()), "html")
    assert "<img" not in html.lower()
    assert "<link" not in html.lower()
    assert "url(" not in html.lower()
    assert "<style" not in html.lower()  # all CSS inline
    assert "<script" not in html.lower()
    hrefs = re.findall(r'href="([^"]+)"', html)
    assert hrefs
    assert all(h.startswith("https://links.passaparola.example/") for h in hrefs)


def test_digest_lists_jobs_in_the_given_order():
    jobs = [job(f"Role number {n}", f"Company {n}") for n in range(1, 5)]
    text = body(parse(digest("en", jobs)), "plain")
    positions = [text.index(f"Role number {n}") for n in range(1, 5)]
    assert positions == sorted(positions)


def test_digest_needs_jobs():
    with pytest.raises(ValueError, match="at least one"):
        compose_digest(
            notification_id=NOTIFICATION,
            sender=SENDER,
            recipient=recipient(),
            jobs=[],
            links=LINKS,
            now=NOW,
            period="daily",
        )


def test_unknown_language_reads_english():
    parsed = parse(instant("de"))
    assert parsed["Content-Language"] == "en"
    assert parsed["Subject"].startswith("Your passaparola update")


# --- hostile company text ---------------------------------------------------------------


@pytest.mark.parametrize("evil", EVIL)
@pytest.mark.parametrize("kind", ["instant", "weekly"])
def test_hostile_titles_and_names_cannot_add_headers_or_recipients(evil, kind):
    the_job = job(title=evil, company=evil, city=evil)
    msg = instant("en", the_job) if kind == "instant" else digest("en", [the_job, job()])
    data = serialise(msg)
    parsed = email.message_from_bytes(data, policy=email.policy.default)

    assert_only_intended_headers(parsed)
    assert len(parsed.get_all("To") or []) == 1
    head = data.partition(b"\r\n\r\n")[0]
    assert b"Bcc" not in head
    assert b"x@y" not in head
    assert b"a@b" not in head


@pytest.mark.parametrize("evil", EVIL)
def test_hostile_text_is_escaped_in_html_and_one_clean_line_in_text(evil):
    the_job = job(title=f"<b>{evil}</b>", company='Acme "<script>alert(1)</script>"')
    parsed = parse(instant("en", the_job))
    html, text = body(parsed, "html"), body(parsed, "plain")

    assert "<script>" not in html
    assert "&lt;script&gt;" in html
    assert "<b>" not in html
    for content in (html, text):
        assert "\x00" not in content
        assert "\r" not in content.replace("\r\n", "\n")  # CRLF is the wire's line end
        assert "\u2028" not in content
        assert "\u202e" not in content
    title_line = next(line for line in text.splitlines() if line.startswith("<b>"))
    assert title_line.endswith("</b>")  # CR/LF in the title did not break the line


def test_an_over_long_title_is_capped():
    parsed = parse(instant("en", job(title="Assistant " * 200)))
    title_line = next(line for line in body(parsed, "plain").splitlines() if "Assistant" in line)
    assert len(title_line) <= 160
    assert title_line.endswith("…")


def test_hostile_member_name_stays_in_the_body():
    hostile = Recipient(MEMBER, "it", "Europe/Rome", first_name="G\r\nBcc: z@z <i>")
    msg = compose_instant(
        notification_id=NOTIFICATION,
        sender=SENDER,
        recipient=hostile,
        job=job(),
        links=LINKS,
        now=NOW,
    )
    parsed = parse(msg)
    assert_only_intended_headers(parsed)
    assert "Ciao G Bcc: z@z &lt;i&gt;," in body(parsed, "html")


# --- addresses and links ----------------------------------------------------------------


@pytest.mark.parametrize(
    "address",
    [
        "giulia@example.it\r\nBcc: x@y",
        "giulia@example.it\n",
        "gi\x00ulia@example.it",
        "a@b, c@d",
        "Giulia <giulia@example.it>",
        "giulia@example.it>",
        '"giulia"@example.it',
        "=?utf-8?q?=0A?=x@example.it",
        "giulia",
        "@example.it",
        "giulia@",
        "giulia@-example.it",
        "giulià@example.it",
        "x" * 65 + "@example.it",
        "",
    ],
)
def test_bad_member_addresses_are_refused(address):
    with pytest.raises(InvalidAddress):
        validate_address(address)
    with pytest.raises(InvalidAddress):
        instant(recipient=recipient(address=address))


@pytest.mark.parametrize(
    "address", ["giulia.rossi@example.it", "k+jobs@mail.example.se", "o'brien@example.co.uk"]
)
def test_plain_addresses_are_accepted(address):
    assert validate_address(address) == address


@pytest.mark.parametrize(
    "url",
    [
        "http://links.passaparola.example/u/tok",
        "javascript:alert(1)",
        "https://links.passaparola.example/u/tok\r\nBcc: x@y",
        "https://links.passaparola.example/u/<tok>",
        "https://links.passaparola.example/u/tok one",
        "/u/tok",
    ],
)
def test_links_must_be_plain_https_urls(url):
    with pytest.raises(ValueError, match="link"):
        instant(links=dataclasses.replace(LINKS, unsubscribe=url))


def test_http_links_are_allowed_for_the_local_sink_only():
    local = dataclasses.replace(LINKS, unsubscribe="http://localhost:8025/u/tok")
    assert parse(instant(links=local))["List-Unsubscribe"] == "<http://localhost:8025/u/tok>"


def test_bad_mail_domain_is_refused():
    with pytest.raises(ValueError, match="mail_domain"):
        instant(sender=Sender(SENDER.address, "example.com>\r\nBcc: x@y"))


def test_naive_now_is_refused():
    with pytest.raises(ValueError, match="aware"):
        instant(now=datetime(2025, 3, 4, 7, 30))


# --- the defensive check itself ----------------------------------------------------------


def test_serialise_refuses_a_message_built_the_naive_way():
    # What the CVE looks like when company text reaches a header: on 3.11.7 the
    # encoded word becomes a real Bcc header; patched Pythons refuse to write it.
    msg = instant()
    del msg["Subject"]
    msg["Subject"] = "=?UTF-8?Q?=0A?=Bcc: x@y"
    header_write_error = getattr(email.errors, "HeaderWriteError", UnsafeMessage)
    with pytest.raises((UnsafeMessage, header_write_error)):
        serialise(msg)


def test_serialise_refuses_an_extra_header():
    msg = instant()
    msg["Reply-To"] = "someone@example.com"
    with pytest.raises(UnsafeMessage, match="unexpected header block"):
        serialise(msg)


def test_serialise_refuses_a_second_recipient():
    msg = instant()
    del msg["To"]
    msg["To"] = "giulia@example.it, other@example.com"
    with pytest.raises(UnsafeMessage, match="exactly one address"):
        serialise(msg)
