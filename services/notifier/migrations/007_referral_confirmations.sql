-- The email that tells a member their referral reached the company: one per
-- referral (its id is the key: a redelivered referral.settled adds nothing),
-- sent through the delivery runner like every email (same columns as
-- notifier.forwards, migration 004). No personal data here: the address is
-- read from the member's sealed contact when the email is sent.
CREATE TABLE notifier.referral_confirmations (
    referral_id uuid PRIMARY KEY,
    member_id text,
    notification_id uuid NOT NULL,
    state text NOT NULL DEFAULT 'pending'
        CHECK (state IN ('pending', 'sent', 'failed', 'cancelled')),
    attempts integer NOT NULL DEFAULT 0,
    next_attempt_at timestamptz NOT NULL DEFAULT now(),
    leased_until timestamptz,
    reason text,
    failing_since timestamptz,
    created_at timestamptz NOT NULL DEFAULT now(),
    sent_at timestamptz
);

CREATE INDEX referral_confirmations_due ON notifier.referral_confirmations (next_attempt_at)
    WHERE state = 'pending';
CREATE INDEX referral_confirmations_failing ON notifier.referral_confirmations (failing_since)
    WHERE state IN ('pending', 'failed');
