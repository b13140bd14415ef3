"""What a company receives, read as the company reads it: the email card from
the real SMTP sink, parsed; the callback verified with ``standardwebhooks``
and checked against the documented JSON Schema."""

from __future__ import annotations

import json
import uuid
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from aiohttp import web
from standardwebhooks import Webhook

from services.ingest import operators
from services.ingest.referrals import Deliverer
from shared.sealing import sealer_for
from tests.helpers import eventually, free_port
from tests.notifier.real import Mailbox, domain

pytestmark = pytest.mark.real

SCHEMA = json.loads(
    (Path(__file__).resolve().parents[2] / "docs" / "referral-callback.schema.json").read_text()
)
MEMBER = {
    "name": "Giulia D'Annunzio",
    "email": "giulia.dannunzio@member.example",
    "note": "Disponibile da gennaio <subito>.",
    "profile_url": "https://cv.example/giulia",
}


@pytest.fixture
def fast(settings):
    return replace(settings, loopback_http_callbacks=True, delivery_retry_delays_ms=(100,))


async def _referral(pool, settings, company_id: uuid.UUID, country: str) -> uuid.UUID:
    posting_id, referral_id = uuid.uuid4(), uuid.uuid4()
    await pool.execute(
        "INSERT INTO ingest.postings (id, company_id, external_id, revision, status, data,"
        " source_time) VALUES ($1, $2, 'FB-2026-014', 1, 'open', $3::jsonb, now())",
        posting_id,
        company_id,
        {"title": "Assistente di direzione", "location": {"country": country}},
    )
    await pool.execute(
        "INSERT INTO ingest.referrals (referral_id, member_id, posting_id, language,"
        " consented_at, sealed_referral, state, next_attempt_at)"
        " VALUES ($1, $2, $3, 'it', $4, $5, 'pending', now())",
        referral_id,
        uuid.uuid4(),
        posting_id,
        datetime(2026, 11, 23, 9, 36, 25, tzinfo=UTC),
        sealer_for(settings.secret_keys).seal(MEMBER),
    )
    return referral_id


async def test_a_company_by_email_gets_a_candidate_card_in_its_language(pool, fast):
    box = domain()
    mailbox = Mailbox(box)
    made = await operators.add_company(
        pool, fast, "Card S.p.A.", [], None, contact_email=f"hr@{box}"
    )
    referral_id = await _referral(pool, fast, uuid.UUID(made["company_id"]), "IT")
    deliverer = Deliverer(pool, fast)
    try:
        await eventually(lambda: _deliver(deliverer, pool, referral_id), 30, "delivered")
    finally:
        await deliverer.close()
    (mail,) = await mailbox.wait_for(1)
    message = mail.message
    assert message["Subject"] == "Candidatura per Assistente di direzione"
    assert message["Reply-To"].addresses[0].addr_spec == MEMBER["email"]
    assert message["Reply-To"].addresses[0].display_name == MEMBER["name"]
    assert sorted(mail.header_names) == sorted(
        ["From", "To", "Reply-To", "Subject", "Message-ID", "Auto-Submitted", "MIME-Version",
         "Content-Type"]
    )  # fmt: skip
    text, page = mail.text("plain"), mail.text("html")
    for shown in (text, page):
        assert "Posizione" in shown and "FB-2026-014" in shown
        assert "Giulia D" in shown and MEMBER["email"] in shown
        assert "https://cv.example/giulia" in shown
        assert "2026-11-23" in shown
    assert MEMBER["note"] in text
    assert "Disponibile da gennaio &lt;subito&gt;." in page
    assert '"candidate"' not in text, "no JSON pasted into the email"


async def test_a_callback_carries_the_same_fields_signed_and_as_documented(pool, fast):
    received: list[tuple[bytes, dict[str, str]]] = []

    async def hook(request: web.Request) -> web.Response:
        received.append((await request.read(), dict(request.headers)))
        return web.Response(status=204)

    app = web.Application()
    app.router.add_post("/hook", hook)
    runner = web.AppRunner(app)
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    try:
        made = await operators.add_company(
            pool, fast, "Hook AB", [], None, callback_url=f"http://127.0.0.1:{port}/hook"
        )
        referral_id = await _referral(pool, fast, uuid.UUID(made["company_id"]), "SE")
        deliverer = Deliverer(pool, fast)
        try:
            await eventually(lambda: _deliver(deliverer, pool, referral_id), 30, "delivered")
        finally:
            await deliverer.close()
    finally:
        await runner.cleanup()
    ((raw, headers),) = received
    body: dict[str, Any] = Webhook(made["delivery_secret"]).verify(raw, headers)
    jsonschema.validate(body, SCHEMA, format_checker=jsonschema.FormatChecker())
    data = body["data"]
    assert data["referral_id"] == str(referral_id)
    assert data["posting"]["title"] == "Assistente di direzione"
    assert data["posting"]["external_id"] == "FB-2026-014"
    assert data["candidate"] == MEMBER
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate({**body, "data": {**data, "extra": 1}}, SCHEMA)


async def _deliver(deliverer: Deliverer, pool, referral_id: uuid.UUID) -> bool:
    await deliverer.deliver_due()
    state = await pool.fetchval(
        "SELECT state FROM ingest.referrals WHERE referral_id = $1", referral_id
    )
    return bool(state == "delivered")
