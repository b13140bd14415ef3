-- A member's own edits of their profile, from the notifier's preference page
-- (profile.edited). The time of the last one applied: an older edit that
-- arrives late (two ingest processes, a replay) is not applied over a newer.
ALTER TABLE ingest.members ADD COLUMN edited_at timestamptz;
