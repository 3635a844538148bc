-- Routing. An agent's own events (log-in, readiness) concern no
-- interaction and no process; events where an agent is involved name it.
ALTER TABLE interaction_events ALTER COLUMN interaction_id DROP NOT NULL,
    ALTER COLUMN process DROP NOT NULL,
    ADD COLUMN agent text;

-- Whose workbin a parked interaction is in: an agent or an agent group.
ALTER TABLE interactions ADD COLUMN owner text;

-- Each agent's log-in and readiness per media, written in the same
-- transaction as the change that made it, so that a restart finds agents as
-- they were. Their load follows from the interactions they handle.
CREATE TABLE agent_states (
    name       text PRIMARY KEY,
    state      jsonb NOT NULL,
    updated_at timestamptz NOT NULL
);
