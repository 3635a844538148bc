-- The writer's commit sequence, on the lease row. Every batch claims the
-- next number in the same statement that writes it (`UPDATE … WHERE
-- seq = claimed - 1`, with the holder and epoch: the fence), so that a batch
-- whose answer was lost is told apart from one that never committed by
-- reading this row, and a late or repeated copy of a batch applies nothing.
-- `batch` names the batch that claimed `seq`, so that a writer that lost an
-- answer tells its own commit from any other.
ALTER TABLE instance_lease ADD COLUMN seq bigint NOT NULL DEFAULT 0,
    ADD COLUMN batch uuid;
-- What a committed batch did not write, kept only for batches that turned a
-- new interaction away (its external id was taken) or held a change the
-- database already had a newer version of. Read when a batch's answer was
-- lost; retention deletes the old ones.
CREATE TABLE writer_outcomes (
    seq         bigint PRIMARY KEY,
    turned_away uuid[] NOT NULL,
    not_applied uuid[] NOT NULL
);
