-- Emails and forwards go through the one delivery runner (shared/delivery.py):
-- every delivery table has the same columns, so one set of statements claims,
-- leases, retries and fails them.
--   leased_until:  a worker claimed the row until then; after it (a worker
--                  that died), the row is due again
--   reason:        why it failed, was cancelled or is being retried (fixed
--                  texts and codes, never personal data)
--   failing_since: first failure of the current run of failures: a row still
--                  retrying long after it is "stuck", for the operator
ALTER TABLE notifier.emails
    ADD COLUMN leased_until timestamptz,
    ADD COLUMN reason text,
    ADD COLUMN failing_since timestamptz;

ALTER TABLE notifier.forwards
    ADD COLUMN next_attempt_at timestamptz NOT NULL DEFAULT now(),
    ADD COLUMN leased_until timestamptz,
    ADD COLUMN reason text,
    ADD COLUMN failing_since timestamptz;

-- A forward whose sealed copy is gone or unusable when its turn comes is
-- cancelled, as an email is.
ALTER TABLE notifier.forwards DROP CONSTRAINT forwards_state_check;
ALTER TABLE notifier.forwards ADD CONSTRAINT forwards_state_check
    CHECK (state IN ('pending', 'sent', 'failed', 'blocked', 'cancelled'));

DROP INDEX notifier.forwards_pending;
CREATE INDEX forwards_due ON notifier.forwards (next_attempt_at) WHERE state = 'pending';
CREATE INDEX emails_failing ON notifier.emails (failing_since) WHERE state IN ('sending', 'failed');
CREATE INDEX forwards_failing ON notifier.forwards (failing_since) WHERE state IN ('pending', 'failed');
