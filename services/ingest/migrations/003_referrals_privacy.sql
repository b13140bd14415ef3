-- Referrals to companies, members' data exports, erasure counts, the audit log.

-- Where a company receives the referrals members consent to: its callback URL
-- (signed by us with the Standard Webhooks scheme, under a secret of its own,
-- sealed here) or, without one, an email to its contact address.
ALTER TABLE ingest.companies
    ADD COLUMN callback_url text,
    ADD COLUMN callback_secret_sealed text,
    ADD COLUMN contact_email text;

-- One referral a member confirmed, as ingest delivers it.
--   pending -> delivered | failed (attempts used up: the dead letter) |
--   withdrawn (by the member, before delivery) | cancelled (erased, posting
--   closed or unknown)
-- What the company receives stays sealed until the moment it is sent; after
-- delivery or cancellation the sealed copy is dropped (only ids remain).
CREATE TABLE ingest.referrals (
    referral_id uuid PRIMARY KEY,
    member_id uuid,
    posting_id uuid NOT NULL,
    company_id uuid,
    language text NOT NULL,
    consented_at timestamptz NOT NULL,
    sealed_referral text,
    state text NOT NULL CHECK (state IN ('pending', 'delivered', 'failed', 'withdrawn', 'cancelled')),
    channel text CHECK (channel IN ('callback', 'email')),
    attempts integer NOT NULL DEFAULT 0,
    next_attempt_at timestamptz NOT NULL,
    reason text,
    requested_at timestamptz NOT NULL DEFAULT now(),
    settled_at timestamptz,
    updated_at timestamptz NOT NULL DEFAULT now()
);

CREATE INDEX referrals_due ON ingest.referrals (next_attempt_at) WHERE state = 'pending';
CREATE INDEX referrals_member ON ingest.referrals (member_id);

-- The durable delivery log: one row per attempt, no personal data.
CREATE TABLE ingest.referral_attempts (
    id bigserial PRIMARY KEY,
    referral_id uuid NOT NULL,
    attempt integer NOT NULL,
    channel text,
    status integer,
    error text,
    attempted_at timestamptz NOT NULL DEFAULT now()
);

CREATE INDEX referral_attempts_referral ON ingest.referral_attempts (referral_id);

-- A member's data export in progress: each service's part arrives sealed
-- (export.part) and is kept only until the export is read or a day passes.
CREATE TABLE ingest.exports (
    export_id uuid PRIMARY KEY,
    member_id uuid NOT NULL,
    requested_by text NOT NULL,
    requested_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE ingest.export_parts (
    export_id uuid NOT NULL REFERENCES ingest.exports (export_id) ON DELETE CASCADE,
    service text NOT NULL,
    sealed_data text NOT NULL,
    received_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (export_id, service)
);

-- What an erasure leaves: a count per day, nothing about whom.
CREATE TABLE ingest.erasure_counts (
    day date PRIMARY KEY,
    erased integer NOT NULL
);

-- Operator actions that reveal member data (shared/audit.py).
CREATE TABLE ingest.audit_log (
    id bigserial PRIMARY KEY,
    at timestamptz NOT NULL DEFAULT now(),
    actor text NOT NULL,
    action text NOT NULL,
    subject text,
    details jsonb NOT NULL DEFAULT '{}'
);
