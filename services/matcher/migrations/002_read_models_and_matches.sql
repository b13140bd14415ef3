-- The matcher's read models and its matches.
--
-- Every write below happens in a handler that first takes the matcher's
-- transaction-level advisory lock (services/matcher/live.py), so matcher
-- transactions run one at a time and `seq` values become visible in commit
-- order: "rows with seq > N" is a gap-free change feed the in-memory member
-- index follows, and it never sees a change that was rolled back.

CREATE SEQUENCE matcher.member_seq;

-- Members, fed only by member.changed / member.erased events. `profile` is the
-- pseudonymous matching profile of the latest revision (shared.events.
-- MemberChanged without sealed_contact): ids, titles, places, languages,
-- company names; never a name or an address.
CREATE TABLE matcher.members (
    member_id text PRIMARY KEY,
    revision bigint NOT NULL,
    opted_in boolean NOT NULL,
    profile jsonb NOT NULL,
    seq bigint NOT NULL,
    updated_at timestamptz NOT NULL DEFAULT now()
);

CREATE INDEX members_seq ON matcher.members (seq);

-- An erased member leaves only its pseudonymous id here, so that a late or
-- redelivered member.changed cannot bring the profile back.
CREATE TABLE matcher.erased_members (
    member_id text PRIMARY KEY,
    seq bigint NOT NULL,
    erased_at timestamptz NOT NULL DEFAULT now()
);

CREATE INDEX erased_members_seq ON matcher.erased_members (seq);

-- Postings seen on job events. `revision` is the highest revision applied;
-- older ones are ignored. `closed` is final: a job.closed that arrives before
-- its job.created leaves a closed row without a posting, and the late created
-- event is then ignored.
CREATE TABLE matcher.postings (
    posting_id text PRIMARY KEY,
    company_id text NOT NULL,
    revision bigint NOT NULL,
    state text NOT NULL CHECK (state IN ('open', 'closed')),
    posting jsonb,
    closed_at timestamptz,
    updated_at timestamptz NOT NULL DEFAULT now()
);

CREATE INDEX postings_open ON matcher.postings (posting_id) WHERE state = 'open';

-- One match per posting and member, whatever the redeliveries. A withdrawn
-- match that fits again is reactivated under the same match_id.
CREATE TABLE matcher.matches (
    match_id uuid PRIMARY KEY,
    posting_id text NOT NULL,
    member_id text NOT NULL,
    state text NOT NULL CHECK (state IN ('active', 'withdrawn')),
    score double precision NOT NULL,
    explanation jsonb NOT NULL,
    posting_revision bigint NOT NULL,
    reason text,
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now(),
    UNIQUE (posting_id, member_id)
);

CREATE INDEX matches_member ON matcher.matches (member_id, created_at);

-- Titles imported from an ESCO export (`passaparola taxonomy import-esco`):
-- extra titles for the project's roles, and ESCO occupations as roles of
-- their own. Loaded by the matcher at start-up, when present.
CREATE TABLE matcher.taxonomy_titles (
    role_id text NOT NULL,
    family text NOT NULL,
    source text NOT NULL,
    language text NOT NULL,
    title text NOT NULL,
    PRIMARY KEY (role_id, language, title)
);
