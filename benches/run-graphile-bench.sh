#!/usr/bin/env bash
# The interaction lifecycle through graphile-worker, the well-known
# PostgreSQL job queue, on the same PostgreSQL server as ixs: producers add
# jobs (each add its own durable commit, like a gateway's submit), worker
# processes take each job and complete it with an empty task (hold 0). It
# reports jobs added/s, jobs completed/s over the whole run, and the
# latencies add → start and add → completion committed, to set beside
# `ixs bench` (README, "### `ixs bench`") measured in the same session.
#
# The script is benches/graphile-worker/bench.mjs (Node 20+); this wrapper
# installs its pinned packages (npm ci) the first time, prints the machine
# facts, optionally a pgbench reference, then runs it with the given
# arguments. It works in its own database, graphile_bench (created when
# missing), whose graphile_worker schema it drops and recreates every run.
#
# Usage: benches/run-graphile-bench.sh [bench.mjs options]
#        benches/run-graphile-bench.sh --help       (the options)
# e.g.   benches/run-graphile-bench.sh --duration 20
#        benches/run-graphile-bench.sh --duration 20 --concurrency 50 --json
#   GRAPHILE_BENCH_DATABASE_URL  the database (default
#                                postgres://postgres@127.0.0.1:5432/graphile_bench)
#   PGBENCH_SECS                 set: first run pgbench for that many seconds,
#                                8 clients, the single-row INSERT of
#                                benches/pgbench-insert.sql in a scratch table
#                                of graphile_bench: the server's speed at the
#                                time, to compare runs made at different times
set -euo pipefail

ROOT="$(cd "$(dirname "$0")/.." && pwd)"
DIR="$ROOT/benches/graphile-worker"
URL="${GRAPHILE_BENCH_DATABASE_URL:-postgres://postgres@127.0.0.1:5432/graphile_bench}"

if ! command -v node >/dev/null; then
    echo "node (20 or later) is needed" >&2
    exit 1
fi
if [ ! -d "$DIR/node_modules" ]; then
    echo "== npm ci ==" >&2
    (cd "$DIR" && npm ci --no-audit --no-fund >&2)
fi

case " $* " in
*" --help "* | *" -h "*) exec node "$DIR/bench.mjs" --help ;;
esac

sql() { psql "$1" -X -q -A -t -v ON_ERROR_STOP=1 -c "$2"; }
ADMIN_URL="${URL%/*}/postgres"

echo "== machine ==" >&2
{
    echo "nproc:              $(nproc)"
    echo "memory:             $(free -h | awk '/^Mem:/ {print $2}')"
    echo "cpu:                $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ //')"
    echo "node:               $(node --version)"
    echo "postgresql:         $(sql "$ADMIN_URL" 'SELECT version()')"
    echo "synchronous_commit: $(sql "$ADMIN_URL" 'SHOW synchronous_commit')"
    echo "fsync:              $(sql "$ADMIN_URL" 'SHOW fsync')"
    echo "load average:       $(cut -d' ' -f1-3 /proc/loadavg)"
} >&2

if [ -n "${PGBENCH_SECS:-}" ]; then
    DB="${URL##*/}"
    if [ -z "$(sql "$ADMIN_URL" "SELECT 1 FROM pg_database WHERE datname = '$DB'")" ]; then
        sql "$ADMIN_URL" "CREATE DATABASE $DB"
    fi
    read -r PGHOST_ PGPORT_ PGUSER_ < <(sql "$URL" \
        "SELECT coalesce(host(inet_server_addr()), 'localhost'), inet_server_port(), current_user" |
        tr '|' ' ')
    sql "$URL" "SET client_min_messages = warning; DROP TABLE IF EXISTS bench_insert; DROP SEQUENCE IF EXISTS bench_insert_id;
        CREATE SEQUENCE bench_insert_id;
        CREATE TABLE bench_insert (id bigint PRIMARY KEY, at timestamptz NOT NULL, payload text NOT NULL);"
    echo >&2
    echo "== pgbench: 8 clients, single-row INSERT transactions, ${PGBENCH_SECS} s ==" >&2
    LOG="$(mktemp)"
    trap 'rm -f "$LOG"; sql "$URL" "DROP TABLE IF EXISTS bench_insert; DROP SEQUENCE IF EXISTS bench_insert_id" >/dev/null 2>&1 || true' EXIT
    pgbench -n -c 8 -j 2 -T "$PGBENCH_SECS" -D width=300 -f "$ROOT/benches/pgbench-insert.sql" \
        -h "$PGHOST_" -p "$PGPORT_" -U "$PGUSER_" "$DB" >"$LOG" 2>&1 || { cat "$LOG" >&2; exit 1; }
    echo "tps = $(sed -n 's/^tps = \([0-9.]*\) (without initial connection time)$/\1/p' "$LOG")" >&2
fi

echo >&2
echo "== graphile-worker: $* ==" >&2
node "$DIR/bench.mjs" "$@"
