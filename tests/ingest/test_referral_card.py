"""The candidate card a company receives by email: its language, its fields,
and a header block that nothing from outside can change."""

from __future__ import annotations

import email
import email.policy
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from services.ingest.referral_card import (
    HEADERS,
    card,
    company_language,
    message,
    wire_bytes,
)
from shared.mail_wire import UnsafeMessage


def body(**candidate: Any) -> dict[str, Any]:
    return {
        "type": "referral.requested",
        "timestamp": "2026-11-23T08:36:27Z",
        "data": {
            "referral_id": "a5250552-8c1e-4c38-9d3c-4c1a0e6a0b11",
            "posting": {
                "id": "p-1",
                "external_id": "FB-2026-014",
                "title": "Assistente di direzione",
            },
            "candidate": {
                "name": "Giulia Rossi",
                "email": "giulia@member.example",
                "note": "Disponibile da gennaio.",
                "profile_url": "https://cv.example/giulia",
                **candidate,
            },
            "language": "it",
            "consented_at": "2026-11-23T09:36:25+01:00",
        },
    }


def test_the_language_follows_the_opening_country():
    assert company_language("IT") == "it"
    assert company_language("se") == "sv"
    assert company_language("GB") == "en"
    assert company_language(None) == "en"


@pytest.mark.parametrize(
    ("language", "subject", "words"),
    [
        ("it", "Candidatura per Assistente di direzione", ["Posizione", "Nome", "La sua nota"]),
        ("sv", "Kandidat till Assistente di direzione", ["Tjänst", "Namn", "Meddelande"]),
        ("en", "Candidate for Assistente di direzione", ["Opening", "Name", "Their note"]),
    ],
)
def test_the_card_names_the_opening_and_the_candidate_in_the_company_language(
    language, subject, words
):
    made_subject, text, page = card(body(), language)
    assert made_subject == subject
    for shown in (text, page):
        for word in [*words, "Giulia Rossi", "giulia@member.example", "FB-2026-014"]:
            assert word in shown
        assert "Disponibile da gennaio." in shown
        assert "https://cv.example/giulia" in shown
    assert "{" not in text, "no JSON pasted into the email"
    assert '<a href="https://cv.example/giulia">' in page
    assert f'<html lang="{language}">' in page


def test_the_member_text_is_escaped_in_the_html():
    _, _, page = card(body(name="<b>Eve</b>", note="<script>x()</script>"), "en")
    assert "<script>" not in page and "<b>Eve" not in page
    assert "&lt;script&gt;" in page


def test_a_profile_link_that_is_not_http_is_not_a_link():
    _, _, page = card(body(profile_url="javascript:alert(1)"), "en")
    assert 'href="javascript' not in page


def test_the_message_replies_to_the_member_and_has_exactly_the_allowed_headers():
    data = wire_bytes(message("passaparola <noreply@pp.example>", "hr@acme.example", body(), "it"))
    parsed = email.message_from_bytes(data, policy=email.policy.default)
    assert parsed["Reply-To"].addresses[0].addr_spec == "giulia@member.example"
    assert parsed["To"].addresses[0].addr_spec == "hr@acme.example"
    assert parsed["Subject"] == "Candidatura per Assistente di direzione"
    head = data.partition(b"\r\n\r\n")[0].decode()
    names = [line.split(":")[0] for line in head.split("\r\n") if line[:1] not in (" ", "\t")]
    assert sorted(names) == sorted(HEADERS)
    assert parsed.get_body(("html",)) is not None
    assert parsed.get_body(("plain",)) is not None


@pytest.mark.parametrize(
    "address",
    ["giulia@member.example\r\nBcc: all@evil.example", "a@x.example, b@y.example", "", "@"],
)
def test_a_member_address_that_is_not_one_address_is_refused(address):
    with pytest.raises(UnsafeMessage):
        wire_bytes(message("noreply@pp.example", "hr@acme.example", body(email=address), "en"))


texts = st.text(st.characters(blacklist_categories=["Cs"]), min_size=1, max_size=60)


@given(title=texts, name=texts, note=texts)
def test_whatever_the_title_name_and_note_the_header_block_stays_the_allowed_one(title, name, note):
    referral = body(name=name, note=note)
    referral["data"]["posting"]["title"] = title
    try:
        data = wire_bytes(message("noreply@pp.example", "hr@acme.example", referral, "sv"))
    except UnsafeMessage:
        return
    head = data.partition(b"\r\n\r\n")[0].decode("ascii")
    names = [line.split(":")[0] for line in head.split("\r\n") if line[:1] not in (" ", "\t")]
    assert sorted(names) == sorted(HEADERS)
    parsed = email.message_from_bytes(data, policy=email.policy.default)
    assert parsed["Reply-To"].addresses[0].addr_spec == "giulia@member.example"
    assert len(parsed["To"].addresses) == 1
