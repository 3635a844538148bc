-- The last configuration snapshot this instance received, so that it can
-- start and keep routing while the configuration server is down.
CREATE TABLE config_cache (
    id          integer PRIMARY KEY CHECK (id = 1),
    application text NOT NULL,
    revision    bigint NOT NULL,
    whoami      jsonb NOT NULL,
    snapshot    jsonb NOT NULL,
    saved_at    timestamptz NOT NULL DEFAULT now()
);
