-- Referrals members confirmed, openings forwarded to colleagues, the audit log.

-- A referral as the member sees it: requested here (double opt-in), delivered
-- by ingest, which tells us how it ended (referral.settled).
--   requested -> delivered | failed | cancelled;  requested -> withdrawn (by the member)
-- What the company will receive stays sealed only while it can still change
-- hands; once settled only ids and states remain.
CREATE TABLE notifier.referrals (
    referral_id uuid PRIMARY KEY,
    notification_id uuid NOT NULL,
    member_id text NOT NULL,
    posting_id text NOT NULL,
    state text NOT NULL CHECK (state IN ('requested', 'withdrawn', 'delivered', 'failed', 'cancelled')),
    channel text,
    sealed_referral text,
    requested_at timestamptz NOT NULL DEFAULT now(),
    settled_at timestamptz,
    updated_at timestamptz NOT NULL DEFAULT now()
);

CREATE INDEX referrals_member ON notifier.referrals (member_id);
-- One live referral per member and opening.
CREATE UNIQUE INDEX referrals_once ON notifier.referrals (member_id, posting_id)
    WHERE state IN ('requested', 'delivered');

-- An opening a member forwarded to a colleague. The colleague's address is
-- sealed only until the email is sent, then dropped; what stays is a keyed
-- hash (HMAC), for the member's daily limit and the colleague's opt-out.
CREATE TABLE notifier.forwards (
    id uuid PRIMARY KEY,
    member_id text,
    posting_id text NOT NULL,
    notification_id uuid,
    colleague_hash bytea NOT NULL,
    sealed_send text,
    state text NOT NULL CHECK (state IN ('pending', 'sent', 'failed', 'blocked')),
    attempts integer NOT NULL DEFAULT 0,
    created_at timestamptz NOT NULL DEFAULT now(),
    sent_at timestamptz
);

CREATE INDEX forwards_member ON notifier.forwards (member_id, created_at);
CREATE INDEX forwards_pending ON notifier.forwards (created_at) WHERE state = 'pending';

-- Colleagues who asked never to be written to again: a keyed hash only.
CREATE TABLE notifier.colleague_optouts (
    colleague_hash bytea PRIMARY KEY,
    opted_out_at timestamptz NOT NULL DEFAULT now()
);

-- Operator actions that reveal member data (shared/audit.py).
CREATE TABLE notifier.audit_log (
    id bigserial PRIMARY KEY,
    at timestamptz NOT NULL DEFAULT now(),
    actor text NOT NULL,
    action text NOT NULL,
    subject text,
    details jsonb NOT NULL DEFAULT '{}'
);
