-- Companies, their webhook secrets, their postings; the community platform's
-- API tokens; members. Secrets and members' direct identifiers are stored
-- sealed (encrypted with the settings' secret), never in clear.

CREATE TABLE ingest.companies (
    id uuid PRIMARY KEY,
    name text NOT NULL,
    aliases text[] NOT NULL DEFAULT '{}',
    group_name text,
    disabled_at timestamptz,
    created_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE ingest.company_secrets (
    id bigserial PRIMARY KEY,
    company_id uuid NOT NULL REFERENCES ingest.companies (id),
    sealed_secret text NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    -- Set when a newer secret replaces this one: it keeps working until then.
    expires_at timestamptz
);

CREATE INDEX company_secrets_company ON ingest.company_secrets (company_id);

CREATE TABLE ingest.postings (
    id uuid PRIMARY KEY,
    company_id uuid NOT NULL REFERENCES ingest.companies (id),
    external_id text NOT NULL,
    revision integer NOT NULL,
    status text NOT NULL CHECK (status IN ('open', 'closed')),
    data jsonb NOT NULL,
    -- The webhook-timestamp of the newest change applied: an older delivery
    -- that arrives late is acknowledged but changes nothing.
    source_time timestamptz NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now(),
    closed_at timestamptz,
    UNIQUE (company_id, external_id)
);

-- webhook-id is the idempotency key, per company, kept durably: a repeat,
-- even days later, gets the first answer and has no second effect.
CREATE TABLE ingest.webhook_deliveries (
    company_id uuid NOT NULL REFERENCES ingest.companies (id),
    webhook_id text NOT NULL,
    status integer,
    response jsonb,
    received_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (company_id, webhook_id)
);

CREATE TABLE ingest.api_tokens (
    id uuid PRIMARY KEY,
    label text NOT NULL,
    token_hash bytea NOT NULL UNIQUE,
    created_at timestamptz NOT NULL DEFAULT now(),
    revoked_at timestamptz
);

CREATE TABLE ingest.members (
    id uuid PRIMARY KEY,
    external_id text NOT NULL UNIQUE,
    revision integer NOT NULL,
    opted_in boolean NOT NULL,
    -- The pseudonymous profile (what matching and delivery need).
    profile jsonb NOT NULL,
    -- {"email": ..., "name": ...}, sealed.
    sealed_contact text NOT NULL,
    -- Lets a repeated PUT with the same content be a no-op without opening
    -- the seal (a keyed hash, not the data).
    content_hash bytea NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE ingest.member_consents (
    id bigserial PRIMARY KEY,
    member_id uuid NOT NULL REFERENCES ingest.members (id) ON DELETE CASCADE,
    opted_in boolean NOT NULL,
    consented_at timestamptz NOT NULL,
    text_version text NOT NULL,
    recorded_at timestamptz NOT NULL DEFAULT now()
);
