-- The common webhook in one statement, so one round trip to the database: a
-- posting the company has not sent before, under a webhook-id not seen
-- before. The posting, its delivery record and its event are written in the
-- statement's own transaction, or none of them is:
-- * the posting exists already: nothing is written, the function answers
--   false, and the caller decides in a transaction of its own (the general
--   path, with the row locked);
-- * the webhook-id was delivered before (with another posting): the function
--   fails with unique_violation, which undoes the posting it just inserted,
--   and the caller answers with the first delivery's stored response.
CREATE FUNCTION ingest.accept_new_posting(
    p_posting_id uuid,
    p_company_id uuid,
    p_external_id text,
    p_status text,
    p_data jsonb,
    p_source_time timestamptz,
    p_webhook_id text,
    p_response jsonb,
    p_event_id text,
    p_routing_key text,
    p_body bytea
) RETURNS boolean LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO ingest.postings
        (id, company_id, external_id, revision, status, data, source_time, closed_at)
    VALUES
        (p_posting_id, p_company_id, p_external_id, 1, p_status, p_data, p_source_time,
         CASE WHEN p_status = 'closed' THEN now() END)
    ON CONFLICT (company_id, external_id) DO NOTHING;
    IF NOT FOUND THEN
        RETURN false;
    END IF;
    INSERT INTO ingest.webhook_deliveries (company_id, webhook_id, status, response)
    VALUES (p_company_id, p_webhook_id, 202, p_response)
    ON CONFLICT DO NOTHING;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'webhook-id already delivered' USING ERRCODE = 'unique_violation';
    END IF;
    IF p_event_id IS NOT NULL THEN
        INSERT INTO ingest.outbox (event_id, routing_key, body)
        VALUES (p_event_id, p_routing_key, p_body);
    END IF;
    RETURN true;
END
$$;
