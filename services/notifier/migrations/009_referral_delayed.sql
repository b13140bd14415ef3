-- When ingest told us that the first attempt to deliver a referral failed
-- and it keeps trying (referral.delayed): the member's page says the company
-- has not taken it yet, instead of "on its way" for as long as the company's
-- system is down. Still 'requested' (it can be withdrawn); cleared by nothing,
-- since a settled referral's page no longer reads it.
ALTER TABLE notifier.referrals ADD COLUMN delayed_at timestamptz;
