-- The current state of every interaction this instance has accepted.
CREATE TABLE interactions (
    id                 uuid PRIMARY KEY,
    external_id        text,
    submitted_by       text NOT NULL,
    process            text NOT NULL,
    queue              text,
    workbin            text,
    state              text NOT NULL,
    media_type         text NOT NULL,
    type               text NOT NULL,
    subtype            text,
    priority           integer NOT NULL,
    properties         jsonb NOT NULL DEFAULT '{}'::jsonb,
    agent              text,
    submitted_at       timestamptz NOT NULL,
    placed_in_queue_at timestamptz,
    offered_at         timestamptz,
    assigned_at        timestamptz,
    stopped_at         timestamptz,
    stop_reason        text,
    version            bigint NOT NULL
);

-- Idempotent submit: one interaction per submitter and external id.
CREATE UNIQUE INDEX interactions_external_id
    ON interactions (submitted_by, external_id)
    WHERE external_id IS NOT NULL;

-- Recovery loads the live set; find filters it by process and queue.
CREATE INDEX interactions_live
    ON interactions (process, queue)
    WHERE state <> 'stopped';

-- Retention finds the oldest stopped interactions in small batches.
CREATE INDEX interactions_stopped_at
    ON interactions (stopped_at)
    WHERE stopped_at IS NOT NULL;

-- Append-only journal: the durable source of the reporting feed.
CREATE TABLE interaction_events (
    id             bigserial PRIMARY KEY,
    interaction_id uuid NOT NULL,
    kind           text NOT NULL,
    process        text NOT NULL,
    at             timestamptz NOT NULL,
    data           jsonb NOT NULL
);

-- The single-writer lease. One row; the holder renews `expires_at`, and every
-- batch checks `epoch` inside its own transaction (fencing).
CREATE TABLE instance_lease (
    id         integer PRIMARY KEY CHECK (id = 1),
    holder     text,
    instance   text,
    epoch      bigint NOT NULL,
    expires_at timestamptz NOT NULL
);
INSERT INTO instance_lease (id, holder, instance, epoch, expires_at)
VALUES (1, NULL, NULL, 0, '-infinity');
