-- Group commit for new postings: the deliveries that arrive while one
-- statement is in flight go together in the next one, one round trip and
-- one WAL flush for all of them. Each element is accept_new_posting (004),
-- with its answer in the same position. When any element's webhook-id was
-- delivered before, the whole statement fails (unique_violation) and writes
-- nothing; the caller then submits the elements one by one.
CREATE FUNCTION ingest.accept_new_postings(
    p_posting_ids uuid[],
    p_company_ids uuid[],
    p_external_ids text[],
    p_statuses text[],
    p_data jsonb[],
    p_source_times timestamptz[],
    p_webhook_ids text[],
    p_responses jsonb[],
    p_event_ids text[],
    p_routing_keys text[],
    p_bodies bytea[]
) RETURNS boolean[] LANGUAGE plpgsql AS $$
DECLARE
    answers boolean[] := '{}';
BEGIN
    FOR i IN 1 .. coalesce(array_length(p_posting_ids, 1), 0) LOOP
        answers := answers || ingest.accept_new_posting(
            p_posting_ids[i], p_company_ids[i], p_external_ids[i], p_statuses[i], p_data[i],
            p_source_times[i], p_webhook_ids[i], p_responses[i], p_event_ids[i],
            p_routing_keys[i], p_bodies[i]
        );
    END LOOP;
    RETURN answers;
END
$$;
