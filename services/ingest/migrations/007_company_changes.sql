-- Ingest caches each company's record (disabled or not, live secrets) between
-- webhooks. Any change to a company or its secrets is announced on
-- ingest_company_changed (delivered at commit), so every ingest process drops
-- its copy at once: a disabled company is refused and a rotated secret
-- accepted from the next request, whoever made the change.
CREATE FUNCTION ingest.company_changed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_TABLE_NAME = 'companies' THEN
        PERFORM pg_notify('ingest_company_changed', coalesce(NEW.id, OLD.id)::text);
    ELSE
        PERFORM pg_notify('ingest_company_changed', coalesce(NEW.company_id, OLD.company_id)::text);
    END IF;
    RETURN NULL;
END $$;

CREATE TRIGGER company_changed AFTER UPDATE OR DELETE ON ingest.companies
    FOR EACH ROW EXECUTE FUNCTION ingest.company_changed();
CREATE TRIGGER company_secrets_changed AFTER INSERT OR UPDATE OR DELETE ON ingest.company_secrets
    FOR EACH ROW EXECUTE FUNCTION ingest.company_changed();
