-- pgbench script for benches/run-submit-bench.sh: one single-row INSERT per
-- transaction (pgbench runs each script execution as one transaction, in
-- autocommit), into a table with a primary key and a row about as wide as
-- an ixs interaction row. Every commit is durable: the server's own
-- synchronous_commit and fsync settings apply, as for ixs.
INSERT INTO bench_insert (id, at, payload)
VALUES (nextval('bench_insert_id'), now(), repeat('x', :width));
