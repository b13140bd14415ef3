-- A member's "not for me" with its reason (member.declined, from the notifier),
-- with what the declined posting was: its title's normalised key and roles,
-- city, seniority level and company. Kept in this form so the member's later
-- matches avoid its like after the posting itself has closed, and so operators
-- can see which titles members reject for their role (taxonomy suggestions).
-- Nothing about the member but the id; erased with the member.
CREATE TABLE matcher.declines (
    member_id text NOT NULL,
    posting_id text NOT NULL,
    reason text NOT NULL,
    company_id text NOT NULL,
    title_key text NOT NULL,
    roles text[] NOT NULL,
    place text NOT NULL,
    level integer,
    created_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (member_id, posting_id)
);
CREATE INDEX declines_reason_title ON matcher.declines (reason, title_key);
