-- Referrals go through the one delivery runner (shared/delivery.py), like
-- the notifier's emails and forwards:
--   leased_until:  a worker claimed the referral until then; after it (a
--                  worker that died), it is due again. A withdrawal waits
--                  while the lease holds (an attempt may be on the wire).
--   failing_since: first failure of the current run of failures: a referral
--                  still retrying long after it is "stuck", for the operator
ALTER TABLE ingest.referrals
    ADD COLUMN leased_until timestamptz,
    ADD COLUMN failing_since timestamptz;

CREATE INDEX referrals_failing ON ingest.referrals (failing_since)
    WHERE state IN ('pending', 'failed');
