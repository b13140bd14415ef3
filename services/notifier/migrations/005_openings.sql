-- What a member's opening page shows of a posting, from job.* events of
-- payload version 2 (company text, never member data). Empty for postings
-- announced before: their page shows what the email showed.
ALTER TABLE notifier.postings
    ADD COLUMN description text,
    ADD COLUMN salary_min double precision,
    ADD COLUMN salary_max double precision,
    ADD COLUMN salary_currency text,
    ADD COLUMN salary_period text;
