#!/usr/bin/env bash
# The durable-submit benchmark of the README, in one run on one PostgreSQL
# server:
#
#   1. pgbench, 8 clients, single-row INSERT transactions
#      (benches/pgbench-insert.sql on a fresh scratch database);
#   2. ixs, 64 HTTP clients submitting interactions, each answered only once
#      committed (cargo bench --bench submit_load: a fresh database, the real
#      `ixs serve` binary, a single-client latency probe first);
#   3. pgbench again, to show the server did not drift during the run.
#
# It prints the machine facts first: `nproc`, memory (`free`), the
# PostgreSQL server version, and the server's `SHOW synchronous_commit`,
# `SHOW fsync` and `SHOW wal_sync_method` — read from the server, never
# changed: durability is the point. Then a table: pgbench tps (8 clients),
# ixs durable submits/s (64 clients), their ratio, ixs latency p50/p99, the
# writer's mean batch size, and the single-client p50.
#
# Run it on an otherwise idle machine (it refuses to start while a cargo
# build runs): it builds first, then measures.
#
# Usage: benches/run-submit-bench.sh [SECONDS]        (default 20 per phase)
#   IXS_BENCH_DATABASE_URL  server to use (default
#                           postgres://postgres@127.0.0.1:5432/postgres)
#   PGBENCH_WIDTH           payload bytes of the pgbench row (default 300)
#   IXS_BENCH_IGNORE_BUSY   set: run even while cargo builds (figures suffer)
#   extra arguments for the load generator go in SUBMIT_LOAD_ARGS,
#   e.g. SUBMIT_LOAD_ARGS="--instance in-process".
set -euo pipefail

SECS="${1:-20}"
URL="${IXS_BENCH_DATABASE_URL:-postgres://postgres@127.0.0.1:5432/postgres}"
WIDTH="${PGBENCH_WIDTH:-300}"
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
cd "$ROOT"

if [ -z "${IXS_BENCH_IGNORE_BUSY:-}" ] && { pgrep -x cargo >/dev/null || pgrep -x rustc >/dev/null || pgrep -x clippy-driver >/dev/null; }; then
    echo "a cargo build is running on this machine; run the benchmark when it is idle" >&2
    echo "(or set IXS_BENCH_IGNORE_BUSY=1)" >&2
    exit 1
fi

echo "== build (bench profile) =="
cargo bench --bench submit_load --no-run 2>&1 | tail -n 2

sql() { psql "$URL" -X -q -A -t -v ON_ERROR_STOP=1 -c "$1"; }

echo
echo "== machine =="
echo "nproc:              $(nproc)"
echo "memory:             $(free -h | awk '/^Mem:/ {print $2}')"
echo "cpu:                $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ //')"
echo "postgresql:         $(sql 'SELECT version()')"
echo "synchronous_commit: $(sql 'SHOW synchronous_commit')"
echo "fsync:              $(sql 'SHOW fsync')"
echo "wal_sync_method:    $(sql 'SHOW wal_sync_method')"
echo "load average:       $(cut -d' ' -f1-3 /proc/loadavg)"

# pgbench connects like psql, with the server's host, port and user.
read -r PGHOST_ PGPORT_ PGUSER_ < <(sql \
    "SELECT coalesce(host(inet_server_addr()), 'localhost'), inet_server_port(), current_user" |
    tr '|' ' ')
SCRATCH="ixs_pgbench_$$"
cleanup() { sql "DROP DATABASE IF EXISTS $SCRATCH WITH (FORCE)" >/dev/null 2>&1 || true; }
trap cleanup EXIT
sql "CREATE DATABASE $SCRATCH"
psql -X -q -v ON_ERROR_STOP=1 -h "$PGHOST_" -p "$PGPORT_" -U "$PGUSER_" -d "$SCRATCH" -c "
    CREATE SEQUENCE bench_insert_id;
    CREATE TABLE bench_insert (
        id      bigint PRIMARY KEY,
        at      timestamptz NOT NULL,
        payload text NOT NULL
    );"

# Runs pgbench for SECS and prints its tps (without initial connection time).
pgbench_tps() {
    sql 'CHECKPOINT' >/dev/null
    pgbench -n -c 8 -j 2 -T "$SECS" -D "width=$WIDTH" -f benches/pgbench-insert.sql \
        -h "$PGHOST_" -p "$PGPORT_" -U "$PGUSER_" "$SCRATCH" >"$LOG" 2>&1 ||
        { cat "$LOG" >&2; exit 1; }
    sed -n 's/^tps = \([0-9.]*\) (without initial connection time)$/\1/p' "$LOG"
}
LOG="$(mktemp)"
OUT="$(mktemp)"
trap 'cleanup; rm -f "$LOG" "$OUT"' EXIT

echo
echo "== pgbench: 8 clients, single-row INSERT transactions, ${SECS} s =="
TPS_BEFORE="$(pgbench_tps)"
echo "tps = $TPS_BEFORE"

echo
echo "== ixs: 64 clients, durable submits through HTTP, ${SECS} s =="
sql 'CHECKPOINT' >/dev/null
# shellcheck disable=SC2086 # SUBMIT_LOAD_ARGS is a list of arguments
IXS_BENCH_DATABASE_URL="$URL" cargo bench -q --bench submit_load -- \
    --clients 64 --secs "$SECS" ${SUBMIT_LOAD_ARGS:-} | tee "$OUT"
RESULT="$(grep '^RESULT ' "$OUT")"
field() { sed -n "s/.* $1=\([^ ]*\).*/\1/p" <<<"$RESULT"; }

echo
echo "== pgbench again, ${SECS} s =="
TPS_AFTER="$(pgbench_tps)"
echo "tps = $TPS_AFTER"

TPS="$(awk -v a="$TPS_BEFORE" -v b="$TPS_AFTER" 'BEGIN { printf "%.0f", (a + b) / 2 }')"
IXS="$(field submits_per_sec)"
RATIO="$(awk -v i="$IXS" -v p="$TPS" 'BEGIN { printf "%.2f", i / p }')"

echo
echo "== result =="
printf '%-44s %s\n' \
    "pgbench tps, 8 clients (before / after)" "$TPS ($TPS_BEFORE / $TPS_AFTER)" \
    "ixs durable submits/s, 64 clients" "$IXS ($(field instance))" \
    "ratio ixs / pgbench" "$RATIO" \
    "ixs latency p50 / p99 / max (ms)" "$(field p50_ms) / $(field p99_ms) / $(field max_ms)" \
    "writer mean batch (changes per commit)" "$(field mean_batch)" \
    "single-client submit p50 / p99 (ms)" "$(field probe_p50_ms) / $(field probe_p99_ms)" \
    "errors (non-201)" "$(field errors)" \
    "cores used by other processes during ixs" "$(field other_cores)"
if awk -v o="$(field other_cores)" 'BEGIN { exit !(o > 0.3) }'; then
    echo "WARNING: other processes used $(field other_cores) cores during the ixs run:" \
        "the machine was not idle, the figures are low" >&2
fi
