"""The fast path to wire bytes says exactly what the EmailMessage path says.

``instant_bytes`` and ``digest_bytes`` write headers and bodies directly and
render each body shape once (per-member values substituted afterwards); the
bytes a member receives must mean the same, header for header and body for
body, as ``serialise(compose_...)``, and each body must be what rendering the
templates with that member's own values gives, whatever the companies wrote.
"""

from __future__ import annotations

import email
import email.policy
import uuid
from datetime import UTC, datetime
from email.message import EmailMessage, MIMEPart
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from services.notifier import compose
from services.notifier.compose import (
    EXPECTED_HEADERS,
    Job,
    JobLinks,
    MemberLinks,
    Recipient,
    Sender,
    UnsafeMessage,
    compose_digest,
    compose_instant,
    digest_bytes,
    instant_bytes,
    serialise,
)
from services.notifier.sanitise import clean_inline
from services.notifier.schedule import member_zone
from services.notifier.wording import LANGUAGES, language_of
from shared.mail_wire import check_header_block

NOW = datetime(2025, 3, 4, 7, 30, tzinfo=UTC)
SENDER = Sender(address="aggiornamenti@passaparola.example", mail_domain="passaparola.example")

# Text as hostile as a company or a profile can make it: encoded words, line
# breaks, NUL, bidi overrides, markup, and the "=_" of our boundary.
HOSTILE = st.one_of(
    st.text(max_size=80),
    st.sampled_from(
        [
            "=?UTF-8?Q?=0A?=Bcc: x@y",
            "Evil\r\nBcc: a@b",
            "x\x00y",
            "<b>Bold & 'quoted'</b>",
            "--=_passaparola_",
            "Title\u2028Cc: c@d",
            "\u202emoc.live\u202c",
            "Åsa Öberg-Lindqvist",
        ]
    ),
)
TOKEN = st.text(
    alphabet="ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_.~&'=", min_size=1
)
EXPLANATIONS: st.SearchStrategy[dict[str, Any]] = st.sampled_from(
    [
        {},
        {"place": {"kind": "same_city", "city": "Milano"}},
        {
            "title": {"posting_role": "executive-assistant", "member_role": "office-manager"},
            "skills": ["SAP", "<script>"],
        },
    ]
)


@st.composite
def jobs(draw: st.DrawFn) -> Job:
    def link(path: str) -> str:
        return f"https://links.passaparola.example/{path}/{draw(TOKEN)}"

    return Job(
        title=draw(HOSTILE),
        company=draw(HOSTILE),
        city=draw(st.none() | HOSTILE),
        explanation=draw(EXPLANATIONS),
        links=JobLinks(
            interested=link("i"),
            not_for_me=link("n"),
            forward=link("f"),
            # Some jobs have an opening page, some do not: the card differs.
            opening=draw(st.sampled_from(["", link("o")])),
        ),
    )


@st.composite
def emails(draw: st.DrawFn) -> dict[str, Any]:
    def link(path: str) -> str:
        return f"https://links.passaparola.example/{path}/{draw(TOKEN)}"

    return {
        "notification_id": uuid.UUID(int=draw(st.integers(0, 2**128 - 1))),
        "sender": SENDER,
        "recipient": Recipient(
            address=draw(st.sampled_from(["giulia@example.it", "karin.o+jobs@example.se"])),
            language=draw(st.sampled_from([*LANGUAGES, "de"])),
            timezone=draw(st.sampled_from(["Europe/Rome", "Europe/Stockholm", "Pacific/Auckland"])),
            first_name=draw(st.none() | HOSTILE),
        ),
        "links": MemberLinks(pause=link("pause"), preferences=link("p"), unsubscribe=link("u")),
        "now": NOW,
    }


def parsed(data: bytes) -> EmailMessage:
    msg = email.message_from_bytes(data, policy=email.policy.default)
    assert isinstance(msg, EmailMessage)
    return msg


def part_headers(part: MIMEPart) -> list[tuple[str, Any]]:
    return [(k, v) for k, v in part.items() if k != "MIME-Version"]


def assert_same_email(fast: bytes, reference: bytes) -> None:
    a, b = parsed(fast), parsed(reference)
    assert list(a.items()) == list(b.items())
    assert [str(v) for v in a.values()] == [str(v) for v in b.values()]
    assert a["To"].addresses == b["To"].addresses
    parts_a, parts_b = list(a.iter_parts()), list(b.iter_parts())
    assert [p.get_content_type() for p in parts_a] == ["text/plain", "text/html"]
    # add_alternative leaves a MIME-Version inside the html part: meaningless
    # there (RFC 2045 puts it at the top level only), and the fast path omits it.
    assert [part_headers(p) for p in parts_a] == [part_headers(p) for p in parts_b]
    assert [p.get_content() for p in parts_a] == [p.get_content() for p in parts_b]
    assert not a.defects and all(not p.defects for p in parts_a)


def rendered_directly(kind: str, args: dict[str, Any], shown: list[Job]) -> tuple[str, str]:
    """The bodies as the templates render them with this member's own values."""
    recipient: Recipient = args["recipient"]
    language = language_of(recipient.language)
    local_day = NOW.astimezone(member_zone(recipient.timezone)).date()
    links: MemberLinks = args["links"]
    real = [links.pause, links.preferences, links.unsubscribe]
    for job in shown:
        real += [job.links.interested, job.links.not_for_me, job.links.forward, job.links.opening]
    openings = tuple(bool(job.links.opening) for job in shown)
    name = clean_inline(recipient.first_name, limit=60)
    subject = compose._subject(kind, language, local_day)
    texts = [compose._job_text(*compose._job_key(job), language) for job in shown]
    context = compose._context(kind, language, name, texts, real, openings, local_day, subject)
    return (
        compose._render("txt", kind, language, context),
        compose._render("html", kind, language, context),
    )


def bodies(data: bytes) -> list[str]:
    # get_content keeps the wire's CRLF line ends; the templates write "\n".
    return [str(p.get_content()).replace("\r\n", "\n") for p in parsed(data).iter_parts()]


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(args=emails(), job=jobs())
def test_an_instant_email_on_the_fast_path_is_the_composed_one(args, job):
    fast = instant_bytes(job=job, **args)
    assert_same_email(fast, serialise(compose_instant(job=job, **args)))
    text, html = rendered_directly("instant", args, [job])
    assert bodies(fast) == [text, html]


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    args=emails(),
    shown=st.lists(jobs(), min_size=1, max_size=12),
    period=st.sampled_from(["daily", "weekly"]),
)
def test_a_digest_on_the_fast_path_is_the_composed_one(args, shown, period):
    fast = digest_bytes(jobs=shown, period=period, **args)
    assert_same_email(fast, serialise(compose_digest(jobs=shown, period=period, **args)))
    text, html = rendered_directly(period, args, shown)
    assert bodies(fast) == [text, html]


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(first=emails(), second=emails(), job=jobs())
def test_members_sent_the_same_opening_each_get_their_own_name_and_links(first, second, job):
    second["recipient"] = Recipient(
        address="other@example.org",
        language=first["recipient"].language,
        timezone=first["recipient"].timezone,
        first_name=second["recipient"].first_name,
    )
    instant_bytes(job=job, **first)  # the shape is now rendered and kept
    fast = instant_bytes(job=job, **second)
    text, html = rendered_directly("instant", second, [job])
    assert bodies(fast) == [text, html]


@pytest.mark.parametrize("language", LANGUAGES)
def test_the_fast_path_is_byte_for_byte_stable(language):
    args: dict[str, Any] = {
        "notification_id": uuid.UUID("8d3c1f0e-5a7b-4c2d-9e1f-0a1b2c3d4e5f"),
        "sender": SENDER,
        "recipient": Recipient("giulia@example.it", language, "Europe/Rome", "Giulia"),
        "links": MemberLinks(
            pause="https://l.example/pause/a",
            preferences="https://l.example/p/b",
            unsubscribe="https://l.example/u/c",
        ),
        "now": NOW,
    }
    job = Job(
        title="EA",
        company="Ferretti SpA",
        city="Milano",
        explanation={},
        links=JobLinks("https://l.example/i/1", "https://l.example/n/2", "https://l.example/f/3"),
    )
    first = instant_bytes(job=job, **args)
    compose._render_shape.cache_clear()
    assert instant_bytes(job=job, **args) == first
    assert sorted(parsed(first).keys()) == sorted(EXPECTED_HEADERS)


def test_the_header_check_still_guards_the_fast_path():
    # The check _wire runs on its own output refuses a block with a header too many.
    with pytest.raises(UnsafeMessage, match="unexpected header block"):
        check_header_block(b"To: a@b.example\r\nBcc: x@y.example\r\n\r\nbody", EXPECTED_HEADERS)


def test_an_unusable_address_builds_nothing_on_the_fast_path():
    args: dict[str, Any] = {
        "notification_id": uuid.uuid4(),
        "sender": SENDER,
        "recipient": Recipient("=?UTF-8?Q?=0A?=Bcc: x@y", "it", "Europe/Rome"),
        "links": MemberLinks("https://l.example/a", "https://l.example/b", "https://l.example/c"),
        "now": NOW,
    }
    job = Job(
        "EA",
        "Acme",
        None,
        {},
        JobLinks("https://l.example/i", "https://l.example/n", "https://l.example/f"),
    )
    with pytest.raises(compose.InvalidAddress):
        instant_bytes(job=job, **args)


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(first=emails(), second=emails(), shown=st.lists(jobs(), min_size=2, max_size=5))
def test_a_card_kept_from_one_digest_gets_its_own_place_and_links_in_another(first, second, shown):
    # Cards and frames are kept between digests: the same openings in the
    # reverse order, for another member, must still carry that member's links
    # for each card's new place, and the other member's greeting.
    second["recipient"] = Recipient(
        address="other@example.org",
        language=first["recipient"].language,
        timezone=first["recipient"].timezone,
        first_name=second["recipient"].first_name,
    )
    digest_bytes(jobs=shown, period="daily", **first)
    reordered = shown[::-1]
    fast = digest_bytes(jobs=reordered, period="daily", **second)
    text, html = rendered_directly("daily", second, reordered)
    assert bodies(fast) == [text, html]


# Lines as templates print them: words, spaces and tabs (at the ends too),
# "=", dots, non-ASCII, long runs; empty lines; and lines with no break.
LINE_TEXT = st.text(
    alphabet=st.sampled_from(["a", "Z", " ", "\t", "=", ".", "é", "—", "\r", "0", "<", '"']),
    max_size=180,
)


@settings(max_examples=200, deadline=None)
@given(
    pieces=st.lists(st.tuples(LINE_TEXT, st.booleans()), min_size=1, max_size=12),
    values=st.lists(LINE_TEXT, min_size=12, max_size=12),
)
def test_a_body_encoded_in_pieces_is_the_body_encoded_whole(pieces, values):
    # _compile encodes the lines that are the same for every member once;
    # _encode encodes the rest per member: together they must be exactly
    # the quoted-printable of the whole text, soft line breaks included.
    text, filled = "", {}
    for i, (piece, newline) in enumerate(pieces):
        text += piece + ("\n" if newline else "") + compose._standin(str(i))
        filled[str(i)] = values[i]
    body = compose._fill(compose._compile(text), filled)
    whole = compose._text(body)
    assert whole == "".join(p + ("\n" if n else "") + values[i] for i, (p, n) in enumerate(pieces))
    assert compose._encode(body) == compose._quoted_printable(whole)
