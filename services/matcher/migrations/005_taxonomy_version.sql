-- Bumped by every taxonomy import in the same transaction as the titles, so a
-- running matcher sees the change at its next message and rebuilds its title
-- matcher and linker, instead of waiting for a restart.
CREATE TABLE matcher.taxonomy_version (
    only_row boolean PRIMARY KEY DEFAULT true CHECK (only_row),
    version bigint NOT NULL
);
INSERT INTO matcher.taxonomy_version (only_row, version) VALUES (true, 0);
