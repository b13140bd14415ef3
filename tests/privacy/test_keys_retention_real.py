"""Key rotation (``passaparola keys rotate``) and the retention purges, on the
real database."""

from __future__ import annotations

import dataclasses
import os
import subprocess
import sys
import uuid

import pytest

from services.ingest import operators
from services.ingest import privacy as ingest_privacy
from services.matcher import privacy as matcher_privacy
from services.notifier import privacy as notifier_privacy
from shared.sealing import Sealer, SealError
from shared.settings import Settings
from tests.helpers import ROOT

pytestmark = pytest.mark.real

NEW = "n" * 40
OLD = "o" * 40


def rotate(settings: Settings, previous: str) -> subprocess.CompletedProcess[str]:
    env = {
        **os.environ,
        "PASSAPAROLA_DATABASE_URL": settings.database_url,
        "PASSAPAROLA_AMQP_URL": settings.amqp_url,
        "PASSAPAROLA_SECRET_KEY": NEW,
        "PASSAPAROLA_PREVIOUS_SECRET_KEYS": previous,
    }
    return subprocess.run(
        [sys.executable, "-m", "services.cli", "keys", "rotate"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )


async def test_keys_rotate_reseals_every_sealed_value(pool, settings: Settings) -> None:
    old = dataclasses.replace(settings, secret_key=OLD)
    made = await operators.add_company(pool, old, "Acme SpA", [], None)
    await operators.set_callback(
        pool, old, uuid.UUID(made["company_id"]), "https://a.example/r", None
    )
    contact = {"email": "rot.canary@example.it", "name": "Rota Canary"}
    await pool.execute(
        "INSERT INTO notifier.members (member_id, revision, opted_in, language, timezone,"
        " frequency, sealed_contact) VALUES ('m-rot', 1, true, 'it', 'Europe/Rome', 'instant', $1)",
        Sealer([OLD]).seal(contact),
    )

    done = rotate(settings, OLD)
    assert done.returncode == 0, done.stderr
    assert "notifier.members.sealed_contact: 1 re-sealed" in done.stdout

    new_only = Sealer([NEW])
    sealed = await pool.fetchval("SELECT sealed_contact FROM notifier.members")
    assert new_only.open(sealed) == contact
    for value in await pool.fetch("SELECT sealed_secret AS v FROM ingest.company_secrets"):
        assert new_only.open(value["v"])["secret"] == made["secret"]
    callback = await pool.fetchval("SELECT callback_secret_sealed FROM ingest.companies")
    assert new_only.open(callback)["secret"].startswith("whsec_")
    with pytest.raises(SealError):
        Sealer([OLD]).open(sealed)
    audit = await pool.fetchval("SELECT action FROM ingest.audit_log")
    assert await pool.fetchval("SELECT jsonb_typeof(details) FROM ingest.audit_log") == "object"
    assert audit == "keys.rotate"

    # Once rotated, the old key is not needed any more.
    assert rotate(settings, "").returncode == 0
    # A value no listed key opens: refused, and nothing changes.
    stranger = Sealer(["s" * 40]).seal(contact)
    await pool.execute("UPDATE notifier.members SET sealed_contact = $1", stranger)
    refused = rotate(settings, "")
    assert refused.returncode == 65 and "CannotOpen" in refused.stderr
    assert await pool.fetchval("SELECT sealed_contact FROM notifier.members") == stranger


async def test_retention_purges_what_is_old_and_keeps_the_rest(pool, settings: Settings) -> None:
    made = await operators.add_company(pool, settings, "Acme SpA", [], None)
    company = uuid.UUID(made["company_id"])
    for external, closed_days in (("old", 400), ("recent", 3)):
        await pool.execute(
            "INSERT INTO ingest.postings (id, company_id, external_id, revision, status, data,"
            " source_time, closed_at) VALUES ($1, $2, $3, 1, 'closed', '{}', now(),"
            " now() - make_interval(days => $4))",
            uuid.uuid4(),
            company,
            external,
            closed_days,
        )
    await pool.execute(
        "INSERT INTO ingest.postings (id, company_id, external_id, revision, status, data,"
        " source_time) VALUES ($1, $2, 'open', 1, 'open', '{}', now())",
        uuid.uuid4(),
        company,
    )
    await pool.execute(
        "INSERT INTO ingest.referral_attempts (referral_id, attempt, status, attempted_at)"
        " VALUES ($1, 1, 200, now() - interval '200 days'), ($1, 2, 200, now())",
        uuid.uuid4(),
    )
    await pool.execute(
        "INSERT INTO matcher.postings (posting_id, company_id, revision, state, closed_at)"
        " VALUES ('p-old', 'c', 1, 'closed', now() - interval '400 days'),"
        " ('p-open', 'c', 1, 'open', NULL)"
    )
    await pool.execute(
        "INSERT INTO matcher.matches (match_id, posting_id, member_id, state, score,"
        " explanation, posting_revision, created_at) VALUES"
        " ($1, 'p-old', 'm1', 'active', 0.8, '{}', 1, now() - interval '400 days'),"
        " ($2, 'p-open', 'm1', 'active', 0.8, '{}', 1, now() - interval '400 days'),"
        " ($3, 'p-open', 'm2', 'withdrawn', 0.8, '{}', 1, now() - interval '400 days'),"
        " ($4, 'p-open', 'm3', 'withdrawn', 0.8, '{}', 1, now())",
        uuid.uuid4(),
        uuid.uuid4(),
        uuid.uuid4(),
        uuid.uuid4(),
    )
    old_email, new_email = uuid.uuid4(), uuid.uuid4()
    await pool.execute(
        "INSERT INTO notifier.emails (id, member_id, kind, state, created_at) VALUES"
        " ($1, 'm1', 'instant', 'sent', now() - interval '100 days'),"
        " ($2, 'm1', 'instant', 'sent', now())",
        old_email,
        new_email,
    )
    for email_id, posting, days in ((old_email, "p-old", 400), (new_email, "p-open", 0)):
        await pool.execute(
            "INSERT INTO notifier.notifications (id, match_id, member_id, posting_id,"
            " posting_revision, score, explanation, title, company_name, state, due_at,"
            " email_id, created_at) VALUES ($1, $2, 'm1', $3, 1, 0.8, '{}', 'EA', 'Acme',"
            " 'sent', now(), $4, now() - make_interval(days => $5))",
            uuid.uuid4(),
            str(uuid.uuid4()),
            posting,
            email_id,
            days,
        )

    async with pool.acquire() as conn:
        ingest = await ingest_privacy.purge(conn, settings)
        matcher = await matcher_privacy.purge(conn, settings)
        notifier = await notifier_privacy.purge(conn, settings)
    assert ingest["postings"] == 1 and ingest["referral_attempts"] == 1
    assert matcher["matches"] + matcher["closed_posting_matches"] == 2
    assert matcher["postings"] == 1
    assert notifier["notifications"] == 1 and notifier["emails"] == 1

    postings = {
        r["external_id"] for r in await pool.fetch("SELECT external_id FROM ingest.postings")
    }
    assert postings == {"recent", "open"}
    kept = await pool.fetch("SELECT posting_id, member_id FROM matcher.matches ORDER BY member_id")
    assert [(r["posting_id"], r["member_id"]) for r in kept] == [("p-open", "m1"), ("p-open", "m3")]
    assert await pool.fetchval("SELECT count(*) FROM notifier.emails") == 1
    assert await pool.fetchval("SELECT count(*) FROM notifier.notifications") == 1
