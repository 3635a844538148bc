-- The reporting feed (`GET /v1/events`). Each journal entry names the queue
-- and media type of its interaction as they were after the change, so that
-- the feed can be filtered by queue without reading `interactions` (whose
-- rows change and are purged).
ALTER TABLE interaction_events ADD COLUMN queue text,
    ADD COLUMN media_type text;

-- How far retention has deleted the journal: every entry at or below
-- `purged_through` is gone. Retention deletes a prefix of the journal and
-- moves this mark in the same transaction, so that a reader asking for
-- entries after a position below it is told they are gone (410 purged)
-- rather than silently given the rest. Entries deleted before this
-- migration (by time, not as a prefix) are taken as purged up to the oldest
-- one kept.
CREATE TABLE journal_retention (
    id             integer PRIMARY KEY CHECK (id = 1),
    purged_through bigint NOT NULL
);
INSERT INTO journal_retention (id, purged_through)
SELECT 1, COALESCE(
    (SELECT min(id) - 1 FROM interaction_events),
    (SELECT last_value FROM interaction_events_id_seq WHERE is_called),
    0);
