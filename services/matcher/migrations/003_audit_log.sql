-- Operator actions that reveal member data (shared/audit.py): `match explain`.
CREATE TABLE matcher.audit_log (
    id bigserial PRIMARY KEY,
    at timestamptz NOT NULL DEFAULT now(),
    actor text NOT NULL,
    action text NOT NULL,
    subject text,
    details jsonb NOT NULL DEFAULT '{}'
);
