-- Console sessions kept on the server: signing out revokes one at once, and
-- each expires. Only a hash of the session id is stored (the cookie holds the
-- id itself), so a copy of this table signs nobody in.
CREATE TABLE console.sessions (
    id_hash bytea PRIMARY KEY,
    created_at timestamptz NOT NULL DEFAULT now(),
    expires_at timestamptz NOT NULL,
    revoked_at timestamptz,
    remote text
);

CREATE INDEX sessions_expires_at ON console.sessions (expires_at);

-- Signing out is recorded like signing in.
ALTER TABLE console.audit DROP CONSTRAINT audit_action_check;
ALTER TABLE console.audit ADD CONSTRAINT audit_action_check
    CHECK (action IN ('login', 'login_failed', 'logout', 'replay', 'discard'));
