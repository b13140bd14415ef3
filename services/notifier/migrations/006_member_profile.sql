-- What the preference page shows of a member's matching profile: the roles,
-- cities, remote work, languages and blocked companies of the last
-- member.changed, or of the member's own edit until ingest re-publishes it.
ALTER TABLE notifier.members ADD COLUMN profile jsonb NOT NULL DEFAULT '{}';
