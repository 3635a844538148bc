#!/usr/bin/env bash
# The lifecycle scenarios of the README's "Performance" section, in one run
# on one PostgreSQL server, against the release build of `ixs demo` on a
# tenant with 200 agents of capacity 5 (`ixs bench --write-tenant`):
#
#   pgbench  8 clients, single-row INSERT transactions, for scale
#   a        submit only, 64 concurrent clients
#   b        full lifecycle (submit → offer → accept → stop), 200 agents of
#            capacity 5, as fast as it goes (64 clients), with a reader of
#            the event feed measuring its lag; then open loop at half that
#            rate for the submit→offer latency
#   c        deep queue: submit→offer at a moderate rate with the queue
#            empty, then again with DEEP (1,000,000) interactions queued in
#            the queue `backlog`, which no agent of the run is eligible for
#   e        memory: the instance's resident memory grown by those DEEP
#            queued interactions (5 small properties each), per interaction
#   d        recovery: the demo restarted with the DEEP interactions live,
#            time from its start to the instance answering /readyz 200
#   f        graphile-worker beside it (benches/run-graphile-bench.sh)
#
# c, e and d share one load of the deep queue and run in that order.
#
# It prints the machine facts first: nproc, memory, CPU, the PostgreSQL
# server version and its durability settings (read, never changed), then
# each scenario's figures and the `ixs bench` command behind them.
#
# Usage: benches/lifecycle.sh [SCENARIO...]   (default: pgbench a b c e d f)
#   IXS_BENCH_DATABASE_URL  server (default postgres://postgres@127.0.0.1:5432/postgres)
#   DEEP                    interactions of the deep queue (default 1000000)
#   SECS                    seconds of each timed phase (default 20)
#   RATE                    the moderate rate of c (default 500 a second)
#   IXS_BENCH_IGNORE_BUSY   set: run even while cargo builds (figures suffer)
#
# It uses the databases ixs_bench_sales and ixs_bench_support (dropped and
# created afresh) and the ports 7400 to 7402; never the demo's.
set -euo pipefail

ROOT="$(cd "$(dirname "$0")/.." && pwd)"
cd "$ROOT"
URL="${IXS_BENCH_DATABASE_URL:-postgres://postgres@127.0.0.1:5432/postgres}"
DEEP="${DEEP:-1000000}"
SECS="${SECS:-20}"
RATE="${RATE:-500}"
SCENARIOS=("$@")
[ ${#SCENARIOS[@]} -gt 0 ] || SCENARIOS=(pgbench a b c e d f)
IXS="${CARGO_TARGET_DIR:-$ROOT/target}/release/ixs"
PORT=7400
INSTANCE="http://127.0.0.1:$((PORT + 1))"
WORK="$(mktemp -d /tmp/ixs-lifecycle.XXXXXX)"
DEMO_PID=""

wants() { local s; for s in "${SCENARIOS[@]}"; do [ "$s" = "$1" ] && return 0; done; return 1; }
sql() { psql "$URL" -X -q -A -t -v ON_ERROR_STOP=1 -c "$1"; }

if [ -z "${IXS_BENCH_IGNORE_BUSY:-}" ] && { pgrep -x cargo >/dev/null || pgrep -x rustc >/dev/null; }; then
    echo "a cargo build is running on this machine; run the benchmark when it is idle" >&2
    echo "(or set IXS_BENCH_IGNORE_BUSY=1)" >&2
    exit 1
fi

stop_demo() {
    if [ -n "$DEMO_PID" ]; then
        kill -INT "$DEMO_PID" 2>/dev/null || true
        wait "$DEMO_PID" 2>/dev/null || true
        DEMO_PID=""
    fi
}
cleanup() {
    stop_demo
    sql "DROP DATABASE IF EXISTS ixs_bench_sales WITH (FORCE)" >/dev/null 2>&1 || true
    sql "DROP DATABASE IF EXISTS ixs_bench_support WITH (FORCE)" >/dev/null 2>&1 || true
    rm -rf "$WORK"
}
trap cleanup EXIT

echo "== build (release) =="
cargo build --release 2>&1 | tail -n 1

echo
echo "== machine =="
echo "nproc:              $(nproc)"
echo "memory:             $(free -h | awk '/^Mem:/ {print $2}')"
echo "cpu:                $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ //')"
echo "ixs:                $("$IXS" --version)"
echo "postgresql:         $(sql 'SELECT version()')"
echo "synchronous_commit: $(sql 'SHOW synchronous_commit')"
echo "fsync:              $(sql 'SHOW fsync')"
echo "wal_sync_method:    $(sql 'SHOW wal_sync_method')"
echo "load average:       $(cut -d' ' -f1-3 /proc/loadavg)"

"$IXS" bench --write-tenant "$WORK/tenant" --agents 200 --capacity 5 >/dev/null

# Starts the demo on the bench tenant, on fresh databases unless `keep`;
# sets READY to the seconds from its start to the instance's /readyz 200.
start_demo() {
    if curl -s -o /dev/null "$INSTANCE/readyz"; then
        echo "something already answers on $INSTANCE: stop it first" >&2
        exit 1
    fi
    if [ "${1:-}" != keep ]; then
        sql "DROP DATABASE IF EXISTS ixs_bench_sales WITH (FORCE)" >/dev/null
        sql "DROP DATABASE IF EXISTS ixs_bench_support WITH (FORCE)" >/dev/null
    fi
    local started now
    started=$(date +%s.%N)
    "$IXS" demo --tenant "$WORK/tenant" --port "$PORT" --database-prefix ixs_bench_ \
        --database-url "$URL" >>"$WORK/demo.log" 2>&1 &
    DEMO_PID=$!
    for _ in $(seq 1 6000); do
        if curl -sf -o /dev/null "$INSTANCE/readyz"; then
            now=$(date +%s.%N)
            READY=$(echo "$now - $started" | bc)
            return 0
        fi
        kill -0 "$DEMO_PID" 2>/dev/null || { cat "$WORK/demo.log" >&2; exit 1; }
        sleep 0.05
    done
    echo "the demo did not get ready in 300 s" >&2
    exit 1
}

# The bench, its command echoed; the JSON report in $WORK/$1.json.
bench() {
    local name=$1; shift
    echo "\$ ixs bench --url $INSTANCE $*"
    "$IXS" bench --url "$INSTANCE" --json "$@" >"$WORK/$name.json" ||
        echo "(the run reported errors or unfinished interactions)"
    python3 -c "import json; json.load(open('$WORK/$name.json'))" 2>/dev/null ||
        { echo "ixs bench made no report" >&2; exit 1; }
}

# A field of a report, e.g. `field b .per_sec.completed`.
field() { python3 -c "import json,sys; r=json.load(open('$WORK/$1.json')); print(eval('r' + ''.join('[%r]' % k for k in '$2'.strip('.').split('.'))))"; }

rss_kib() { awk '/^VmRSS:/ {print $2}' "/proc/$DEMO_PID/status"; }

if wants pgbench; then
    echo
    echo "== pgbench: 8 clients, single-row INSERT, ${SECS}s =="
    SCRATCH="ixs_pgbench_$$"
    sql "CREATE DATABASE $SCRATCH"
    psql "${URL%/*}/$SCRATCH" -X -q -v ON_ERROR_STOP=1 -c "
        CREATE SEQUENCE bench_insert_id;
        CREATE TABLE bench_insert (id bigint PRIMARY KEY, at timestamptz NOT NULL, payload text NOT NULL);"
    sql 'CHECKPOINT' >/dev/null
    pgbench -n -c 8 -j 2 -T "$SECS" -D width=300 -f benches/pgbench-insert.sql \
        "${URL%/*}/$SCRATCH" >"$WORK/pgbench.log" 2>&1 || { cat "$WORK/pgbench.log" >&2; exit 1; }
    sql "DROP DATABASE $SCRATCH WITH (FORCE)" >/dev/null
    PGBENCH_TPS=$(awk '/^tps = / {printf "%.0f", $3}' "$WORK/pgbench.log")
    echo "pgbench tps: $PGBENCH_TPS"
fi

if wants a; then
    echo
    echo "== a: submit only, 64 clients, ${SECS}s =="
    start_demo
    bench a --clients 64 --duration "${SECS}s"
    stop_demo
    A=$(field a per_sec.submitted)
    printf 'durable submits/s: %.0f  submit p50 %s ms  p99 %s ms  mean batch %s\n' \
        "$A" "$(field a latency_ms.submit.p50)" "$(field a latency_ms.submit.p99)" \
        "$(field a writer.mean_batch)"
    if [ -n "${PGBENCH_TPS:-}" ]; then
        printf '× pgbench: %.2f\n' "$(echo "$A / $PGBENCH_TPS" | bc -l)"
    fi
fi

if wants b; then
    echo
    echo "== b: full lifecycle, 200 agents of capacity 5, 64 clients, ${SECS}s =="
    start_demo
    bench b --clients 64 --agents 200 --duration "${SECS}s" --feed-reader rita
    B=$(field b per_sec.completed)
    printf 'completed/s: %.0f  end to end p50 %s ms  p99 %s ms  errors %s\n' \
        "$B" "$(field b latency_ms.end_to_end.p50)" "$(field b latency_ms.end_to_end.p99)" \
        "$(field b errors.total)"
    printf 'event feed: %s entries, lag p50 %s ms  p99 %s ms  max %s ms  (ended early: %s)\n' \
        "$(field b feed.entries)" "$(field b feed.lag_ms.p50)" \
        "$(field b feed.lag_ms.p99)" "$(field b feed.lag_ms.max)" "$(field b feed.ended)"
    HALF=$(python3 -c "print(max(1, round($B / 2)))")
    echo
    echo "== b, at half that rate ($HALF/s, open loop), with a reader of the event feed =="
    bench b-half --rate "$HALF" --agents 200 --duration "${SECS}s" --feed-reader rita
    stop_demo
    printf 'submit→offer p50 %s ms  p99 %s ms  completed/s %.0f\n' \
        "$(field b-half latency_ms.submit_to_offer.p50)" \
        "$(field b-half latency_ms.submit_to_offer.p99)" "$(field b-half per_sec.completed)"
    printf 'event feed: %s entries, lag p50 %s ms  p99 %s ms  max %s ms\n' \
        "$(field b-half feed.entries)" "$(field b-half feed.lag_ms.p50)" \
        "$(field b-half feed.lag_ms.p99)" "$(field b-half feed.lag_ms.max)"
fi

if wants c || wants e || wants d; then
    echo
    echo "== c: deep queue; first with it empty, $RATE/s, ${SECS}s =="
    start_demo
    bench c-empty --rate "$RATE" --agents 200 --duration "${SECS}s"
    EMPTY=$(field c-empty latency_ms.submit_to_offer.p50)
    printf 'submit→offer p50 %s ms  p99 %s ms\n' "$EMPTY" "$(field c-empty latency_ms.submit_to_offer.p99)"
    RSS_BEFORE=$(rss_kib)
    echo
    echo "== loading $DEEP interactions into the queue backlog (64 clients) =="
    bench load --clients 64 --count "$DEEP" --queue backlog
    printf 'loaded %s in %.0f s (%.0f/s)\n' "$(field load submitted)" \
        "$(field load submit_secs)" "$(field load per_sec.submitted)"
    sleep 5
    RSS_AFTER=$(rss_kib)
    echo
    echo "== c: with $DEEP queued, $RATE/s, ${SECS}s =="
    bench c-deep --rate "$RATE" --agents 200 --duration "${SECS}s"
    DEEP_P50=$(field c-deep latency_ms.submit_to_offer.p50)
    printf 'submit→offer p50 %s ms  p99 %s ms;  deep/empty p50: %.2f\n' "$DEEP_P50" \
        "$(field c-deep latency_ms.submit_to_offer.p99)" "$(echo "$DEEP_P50 / $EMPTY" | bc -l)"
    echo
    echo "== e: memory =="
    # The properties of each: the JSON object the load generator submits.
    PROPS=$(python3 -c "import json; print(len(json.dumps({'subject': 'Order 4711 arrived damaged', 'segment': 'gold', 'language': 'en', 'customer_id': 'c-0123456789abcdef0123456789abcdef-999999', 'order': 999999}, separators=(',', ':'))))")
    printf 'resident memory %d MiB → %d MiB: %.0f bytes per queued interaction, %d of them its properties as JSON\n' \
        $((RSS_BEFORE / 1024)) $((RSS_AFTER / 1024)) \
        "$(echo "($RSS_AFTER - $RSS_BEFORE) * 1024 / $DEEP" | bc -l)" "$PROPS"
    echo
    echo "== d: recovery with $DEEP live interactions =="
    stop_demo
    start_demo keep
    printf 'from start to ready: %.1f s\n' "$READY"
    stop_demo
fi

if wants f; then
    echo
    echo "== f: graphile-worker beside it =="
    # The same 64 clients as b's gateways: each add its own commit, as
    # graphile-worker's add_job does; then adds grouped per commit (the
    # group commit ixs's writer does, which graphile-worker does not).
    for add in sql batch; do
        echo "\$ benches/run-graphile-bench.sh --duration $SECS --clients 64 --add $add --json"
        benches/run-graphile-bench.sh --duration "$SECS" --clients 64 --add "$add" --json \
            2>/dev/null >"$WORK/f-$add.json"
        printf 'graphile-worker (--add %s): completed/s %s  add→completed p50 %s ms  p99 %s ms\n' \
            "$add" "$(field f-$add completed_per_sec)" \
            "$(field f-$add latency_ms.add_to_completed.p50)" \
            "$(field f-$add latency_ms.add_to_completed.p99)"
        if [ -n "${B:-}" ]; then
            printf '  ixs (b) / graphile-worker: %.2f\n' \
                "$(echo "$B / $(field f-$add completed_per_sec)" | bc -l)"
        fi
    done
fi
