-- Delivered at commit: a new notification wakes the notifiers' planners at
-- once (LISTEN notifier_due), instead of at their next poll. One per
-- statement, and PostgreSQL folds equal notifications of a transaction.
CREATE FUNCTION notifier.notify_due() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('notifier_due', '');
    RETURN NULL;
END
$$;

CREATE TRIGGER notifications_due AFTER INSERT ON notifier.notifications
    FOR EACH STATEMENT EXECUTE FUNCTION notifier.notify_due();
