-- The writer's commit sequence. Every batch claims the next number in the
-- same statement that writes it (`UPDATE … WHERE seq = claimed - 1`), so that
-- a batch whose answer was lost is told apart from one that never committed
-- by reading this row, and a late or repeated copy of a batch applies
-- nothing.
CREATE TABLE writer_commit (
    id  integer PRIMARY KEY CHECK (id = 1),
    seq bigint NOT NULL
);
INSERT INTO writer_commit (id, seq) VALUES (1, 0);

-- What a committed batch did not write, kept only for batches that turned a
-- new interaction away (its external id was taken) or held a change the
-- database already had a newer version of. Read when a batch's answer was
-- lost; retention deletes the old ones.
CREATE TABLE writer_outcomes (
    seq         bigint PRIMARY KEY,
    turned_away uuid[] NOT NULL,
    not_applied uuid[] NOT NULL
);
