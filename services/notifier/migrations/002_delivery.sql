-- What the notifier needs to decide, send and answer members' links.
-- No member's name or address is ever stored in clear: the contact stays
-- sealed (Fernet, see shared/sealing.py) exactly as member.changed carried it,
-- and a suppressed address is kept only as a keyed hash.

-- Members' delivery preferences: the read model of member.changed.
-- The platform owns the profile; what a member chooses through the links in
-- an email (local_*, unsubscribed_at) overrides the platform's value until
-- the platform sends a different value for that field.
CREATE TABLE notifier.members (
    member_id text PRIMARY KEY,
    -- The opaque id the member's own links carry (never member_id).
    link_id uuid NOT NULL UNIQUE DEFAULT gen_random_uuid(),
    revision integer NOT NULL,
    opted_in boolean NOT NULL,
    language text NOT NULL,
    timezone text NOT NULL,
    frequency text NOT NULL CHECK (frequency IN ('instant', 'daily', 'weekly')),
    quiet_hours text[] NOT NULL DEFAULT '{}',
    paused_until timestamptz,
    sealed_contact text,
    unsubscribed_at timestamptz,
    local_paused_until timestamptz,
    local_frequency text CHECK (local_frequency IN ('instant', 'daily', 'weekly')),
    local_language text CHECK (local_language IN ('it', 'sv', 'en')),
    local_quiet_hours text[],
    updated_at timestamptz NOT NULL DEFAULT now()
);

-- Erased members: a late or replayed member.changed must not bring one back.
CREATE TABLE notifier.erased_members (
    member_id text PRIMARY KEY,
    erased_at timestamptz NOT NULL DEFAULT now()
);

-- Postings' open/closed state, from job.* events. An unknown posting counts
-- as open: only a job.closed closes one.
CREATE TABLE notifier.postings (
    posting_id text PRIMARY KEY,
    revision integer NOT NULL,
    open boolean NOT NULL,
    closed_at timestamptz,
    updated_at timestamptz NOT NULL DEFAULT now()
);

-- Matches withdrawn by the matcher, kept so that a match.found arriving after
-- its withdrawal is not sent.
CREATE TABLE notifier.withdrawn_matches (
    match_id text PRIMARY KEY,
    reason text NOT NULL,
    withdrawn_at timestamptz NOT NULL DEFAULT now()
);

-- One email as it goes over SMTP. Its id is the Message-ID; a resend after a
-- crash uses the same row, so the same Message-ID (docs/reliability.md).
--   sending: committed before any SMTP attempt; stays so while waiting to retry
--   sent:    the server accepted it (250 after DATA)
--   failed:  refused permanently (5xx) or retries used up
--   cancelled: nothing left to send when its turn came (member erased)
CREATE TABLE notifier.emails (
    id uuid PRIMARY KEY,
    member_id text NOT NULL,
    kind text NOT NULL CHECK (kind IN ('instant', 'daily', 'weekly')),
    state text NOT NULL CHECK (state IN ('sending', 'sent', 'failed', 'cancelled')),
    attempts integer NOT NULL DEFAULT 0,
    next_attempt_at timestamptz NOT NULL DEFAULT now(),
    last_attempt_at timestamptz,
    created_at timestamptz NOT NULL DEFAULT now(),
    sent_at timestamptz,
    smtp_code integer,
    smtp_reply text
);

CREATE INDEX emails_due ON notifier.emails (next_attempt_at) WHERE state = 'sending';

-- One matched job to tell one member about.
--   pending -> sending (in an email) -> sent | failed;  pending -> cancelled
CREATE TABLE notifier.notifications (
    id uuid PRIMARY KEY,
    match_id text NOT NULL UNIQUE,
    member_id text NOT NULL,
    posting_id text NOT NULL,
    posting_revision integer NOT NULL,
    score double precision NOT NULL,
    explanation jsonb NOT NULL,
    -- What the email shows of the opening: company data, body only.
    title text NOT NULL,
    company_name text NOT NULL,
    city text,
    region text,
    country text,
    remote text NOT NULL DEFAULT 'no',
    apply_url text,
    valid_through text,
    state text NOT NULL CHECK (state IN ('pending', 'sending', 'sent', 'failed', 'cancelled')),
    due_at timestamptz NOT NULL,
    email_id uuid REFERENCES notifier.emails (id),
    reason text,
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now()
);

CREATE INDEX notifications_due ON notifier.notifications (due_at) WHERE state = 'pending';
CREATE INDEX notifications_member ON notifier.notifications (member_id, state);
CREATE INDEX notifications_posting ON notifier.notifications (posting_id) WHERE state = 'pending';
CREATE INDEX notifications_email ON notifier.notifications (email_id);
-- Never the same job twice to the same member.
CREATE UNIQUE INDEX notifications_once ON notifier.notifications (member_id, posting_id)
    WHERE state IN ('sending', 'sent');

-- Addresses that answered 5xx: no more mail to them until the member's
-- address changes. A keyed hash (HMAC), never the address.
CREATE TABLE notifier.suppressed_addresses (
    address_hash bytea PRIMARY KEY,
    smtp_code integer NOT NULL,
    smtp_reply text NOT NULL,
    email_id uuid,
    suppressed_at timestamptz NOT NULL DEFAULT now()
);

-- Jobs committed to email per member and local week (week_start is the UTC
-- instant of the member's Monday 00:00): the weekly cap.
CREATE TABLE notifier.weekly_counts (
    member_id text NOT NULL,
    week_start timestamptz NOT NULL,
    jobs integer NOT NULL,
    PRIMARY KEY (member_id, week_start)
);

-- "Not for me", with a reason from a fixed list (no free text: nothing
-- personal can slip in).
CREATE TABLE notifier.feedback (
    member_id text NOT NULL,
    posting_id text NOT NULL,
    notification_id uuid NOT NULL,
    reason text NOT NULL CHECK (reason IN ('role', 'place', 'level', 'company', 'timing', 'other', 'none')),
    created_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (member_id, posting_id)
);
