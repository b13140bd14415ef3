-- Matcher shards (docs/scaling.md).
--
-- A member's bucket: the first 32 bits of the MD5 of its id, modulo 256
-- (shared.topology.bucket; modulo 256 that is the fourth byte). A shard owns
-- the buckets whose number modulo the shard count is its index, and rebuilds
-- its index from the rows of its buckets only. Generated, so that a row can
-- never disagree with the routing key its events were published under.
ALTER TABLE matcher.members
    ADD COLUMN bucket smallint NOT NULL
    GENERATED ALWAYS AS ((('x' || substr(md5(member_id), 7, 2))::bit(8)::int)::smallint) STORED;

-- Each shard's answer for one revision of a posting: written by the shard,
-- read by whichever shard completes the set (under the matcher's global lock),
-- which then tells the best matches overall within the posting's cap.
CREATE TABLE matcher.shard_reports (
    posting_id text NOT NULL,
    revision bigint NOT NULL,
    shards smallint NOT NULL,
    shard smallint NOT NULL,
    candidates integer NOT NULL,
    reported_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (posting_id, revision, shards, shard)
);

-- The members a shard proposes for a posting revision: `top` (its best,
-- within the cap), `kept` (told earlier and still fitting), `dropped` (told
-- earlier and no longer fitting). Pseudonymous ids and scores only; deleted
-- once the posting revision is settled.
CREATE TABLE matcher.shard_candidates (
    posting_id text NOT NULL,
    revision bigint NOT NULL,
    shard smallint NOT NULL,
    member_id text NOT NULL,
    kind text NOT NULL CHECK (kind IN ('top', 'kept', 'dropped')),
    score double precision NOT NULL,
    explanation jsonb NOT NULL,
    PRIMARY KEY (posting_id, revision, member_id)
);

-- A posting revision whose shard reports were merged: at most once.
CREATE TABLE matcher.shard_merges (
    posting_id text NOT NULL,
    revision bigint NOT NULL,
    merged_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (posting_id, revision)
);
