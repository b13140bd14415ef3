-- The operator console's own schema: what operators did, for the record.
-- Only ids, counts and the operator's address: never a message's payload.
CREATE SCHEMA console;

CREATE TABLE console.audit (
    id bigserial PRIMARY KEY,
    at timestamptz NOT NULL DEFAULT now(),
    action text NOT NULL CHECK (action IN ('login', 'login_failed', 'replay', 'discard')),
    queue text,
    message_ids text[] NOT NULL DEFAULT '{}',
    requested integer,
    done integer,
    remote text
);

CREATE INDEX audit_at ON console.audit (at DESC);
