-- The sessions of the persons logged in to this instance, so that a restart
-- does not log them out. A session is known by the SHA-256 digest of its
-- token: the token itself is never stored, and a copy of this table gives
-- nobody a token that works.
--
-- A session a change in the directory ended keeps its row, with
-- `revoked_at`, so that its token is refused as revoked until it would have
-- expired; retention then removes the row. No index besides the key: the
-- table holds one row per log-in of the last hours, read whole at start.
CREATE TABLE instance_sessions (
    digest     bytea PRIMARY KEY CHECK (length(digest) = 32),
    person     text NOT NULL,
    roles      text[] NOT NULL,
    issued_at  timestamptz NOT NULL,
    expires_at timestamptz NOT NULL,
    revoked_at timestamptz
);
