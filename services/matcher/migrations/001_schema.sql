-- The matcher service's own schema, with the two tables every service has:
-- inbox (events already handled: a redelivery has no second effect) and
-- outbox (events to publish, written in the same transaction as the change).
CREATE SCHEMA matcher;

CREATE TABLE matcher.inbox (
    event_id text PRIMARY KEY,
    event_type text NOT NULL,
    handled_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE matcher.outbox (
    id bigserial PRIMARY KEY,
    event_id text NOT NULL UNIQUE,
    routing_key text NOT NULL,
    body bytea NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    published_at timestamptz
);

CREATE INDEX outbox_unpublished ON matcher.outbox (id) WHERE published_at IS NULL;

-- Delivered at commit: wakes the relay the moment an event is committed.
CREATE FUNCTION matcher.outbox_notify() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('matcher_outbox', '');
    RETURN NULL;
END
$$;

CREATE TRIGGER outbox_notify AFTER INSERT ON matcher.outbox
    FOR EACH STATEMENT EXECUTE FUNCTION matcher.outbox_notify();
