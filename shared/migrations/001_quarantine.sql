-- Records that made a background task fail, set aside so the task keeps
-- going with the others (shared/quarantine.py). Common to every service:
-- applied as the "shared" migrations before each service's own.
--
-- reason is an error class or a fixed phrase from the code, never a message
-- that could quote the record; record_id is the record's own id (a member
-- id, a notification id), which the task's own tables already hold.
CREATE SCHEMA shared;

CREATE TABLE shared.quarantine (
    id bigserial PRIMARY KEY,
    service text NOT NULL,
    task text NOT NULL,
    record_id text NOT NULL,
    reason text NOT NULL,
    failures integer NOT NULL DEFAULT 1,
    first_failed_at timestamptz NOT NULL DEFAULT now(),
    last_failed_at timestamptz NOT NULL DEFAULT now(),
    -- Set when an operator asks for a retry: the task takes the record again.
    released_at timestamptz,
    UNIQUE (service, task, record_id)
);

CREATE INDEX quarantine_held ON shared.quarantine (task) WHERE released_at IS NULL;
