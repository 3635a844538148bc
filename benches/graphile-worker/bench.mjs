// The lifecycle `ixs bench` measures, through graphile-worker on the same
// PostgreSQL server: producers add jobs (each add its own committed
// transaction, answered once durable, like a gateway's submit), worker
// processes take each job and complete it with an empty task. It reports jobs
// added per second, jobs completed per second over the whole run, and the
// latencies add → start, add → task end and add → completion committed.
//
// Usage: node bench.mjs [options]          (--help lists them)
//
// It works in its own database (graphile_bench, created when missing) and
// drops and recreates the graphile_worker schema there before every run.

import { fork } from "node:child_process";
import { readFileSync, readdirSync } from "node:fs";
import { performance } from "node:perf_hooks";
import { fileURLToPath } from "node:url";
import pg from "pg";
import {
  Logger,
  makeWorkerUtils,
  run,
  runMigrations,
} from "graphile-worker";

const SCHEMA = "graphile_worker";
const TASK = "lifecycle";
const DEFAULT_URL = "postgres://postgres@127.0.0.1:5432/graphile_bench";

/** Wall-clock milliseconds, with sub-millisecond resolution, comparable across processes. */
const now = () => performance.timeOrigin + performance.now();

const quietLogger = new Logger(() => (level, message) => {
  if (level === "error" || level === "warning") console.error(`[${level}] ${message}`);
});

// ---------------------------------------------------------------- options

const HELP = `usage: node bench.mjs [options]

The interaction lifecycle through graphile-worker: producers add jobs (one
committed transaction each), worker processes take and complete them with an
empty task.

  --database-url URL    the database (${DEFAULT_URL},
                        or GRAPHILE_BENCH_DATABASE_URL); created when missing;
                        its graphile_worker schema is dropped and recreated
  --clients N           closed loop: N producers, each adding again as soon as
                        its add is answered (16)
  --rate R              open loop instead: R adds a second on average, Poisson
                        arrivals, through --clients connections; latencies
                        count from each add's due time
  --duration S          seconds of adding (10 when --count is not given)
  --count N             stop adding after N jobs (the first of the two)
  --drain S             seconds to wait for the workers after the last add (60)
  --add KIND            how a job is added: "sql" (SELECT graphile_worker.add_job
                        as a prepared statement, on a connection per producer)
                        or "utils" (WorkerUtils.addJob, graphile-worker's own
                        helper, on a pool of --clients connections) (sql);
                        or "batch": not how graphile-worker adds, the adds
                        waiting while a commit is in flight committed
                        together (add_jobs) on one connection, each answered
                        after its commit, as ixs's writer does

The worker defaults are graphile-worker's own best on this machine, the
configuration of its performance page (concurrentJobs 24, maxPoolSize 25,
localQueue 500, completeJobBatchDelay 0); its library defaults are
--concurrency 1 --pool 10 --local-queue -1 --complete-batch -1.

  --workers W           worker processes, each a graphile-worker run() (1)
  --concurrency C       concurrent jobs per worker process (24)
  --pool P              PostgreSQL connections per worker process
                        (concurrency + 1, at most 25)
  --poll-interval MS    graphile-worker pollInterval (2000; new jobs arrive
                        through LISTEN/NOTIFY, polling is the fallback)
  --local-queue N       localQueue.size: each pool locks up to N jobs at once
                        and hands them to its workers (500; -1 turns it off)
  --complete-batch MS   completeJobBatchDelay: the completions of MS
                        milliseconds deleted in one statement (0: those ready
                        together; -1 turns it off). A completion counts when
                        its statement commits, never before
  --preload N           no producers: N jobs queued (add_jobs, 2 000 a
                        transaction) before the workers start, to time the
                        workers alone; add → start is then the queue wait
  --json                the report as JSON only, without the progress line
  --allow-any-database  use a database not named graphile_bench
`;

function parseArgs(argv) {
  const o = {
    url: process.env.GRAPHILE_BENCH_DATABASE_URL || DEFAULT_URL,
    clients: 16,
    rate: null,
    duration: null,
    count: null,
    drain: 60,
    add: "sql",
    workers: 1,
    concurrency: 24,
    pool: null,
    pollInterval: 2000,
    localQueue: 500,
    completeBatch: 0,
    preload: 0,
    json: false,
    allowAnyDatabase: false,
  };
  const num = (name, v, { int = true, min = 0 } = {}) => {
    const n = Number(v);
    if (v === undefined || !Number.isFinite(n) || (int && !Number.isInteger(n)) || n < min) {
      fail(`${name} wants a number${min > 0 ? ` ≥ ${min}` : ""}, got ${v}`);
    }
    return n;
  };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const v = () => argv[++i];
    switch (a) {
      case "--help": case "-h": process.stdout.write(HELP); process.exit(0);
      case "--database-url": o.url = v(); break;
      case "--clients": o.clients = num(a, v(), { min: 1 }); break;
      case "--rate": o.rate = num(a, v(), { int: false, min: 0.001 }); break;
      case "--duration": o.duration = num(a, String(v()).replace(/s$/, ""), { int: false, min: 0.001 }); break;
      case "--count": o.count = num(a, v(), { min: 1 }); break;
      case "--drain": o.drain = num(a, String(v()).replace(/s$/, ""), { int: false }); break;
      case "--add": o.add = v(); if (!["sql", "utils", "batch"].includes(o.add)) fail(`--add: sql, utils or batch`); break;
      case "--workers": o.workers = num(a, v(), { min: 1 }); break;
      case "--concurrency": o.concurrency = num(a, v(), { min: 1 }); break;
      case "--pool": o.pool = num(a, v(), { min: 2 }); break;
      case "--poll-interval": o.pollInterval = num(a, v(), { min: 1 }); break;
      case "--local-queue": o.localQueue = Number(v()); break;
      case "--complete-batch": o.completeBatch = Number(v()); break;
      case "--preload": o.preload = num(a, v(), { min: 1 }); break;
      case "--json": o.json = true; break;
      case "--allow-any-database": o.allowAnyDatabase = true; break;
      default: fail(`unknown option ${a} (--help lists them)`);
    }
  }
  if (o.duration === null && o.count === null) o.duration = 10;
  if (o.pool === null) o.pool = Math.min(o.concurrency + 1, 25);
  return o;
}

function fail(message) {
  console.error(`bench.mjs: ${message}`);
  process.exit(2);
}

// ---------------------------------------------------------------- worker process

async function workerMain(o) {
  // Completion committed: graphile-worker deletes a completed job with a
  // named statement (complete_job, complete_jobs, complete_job_q) outside any
  // transaction, after the task returns and without the worker waiting for
  // it. Its answer is the moment the completion is durable.
  const addedAt = new Map(); // job id → add time (ms)
  const lat = { start: [], done: [], completed: [] };
  let completed = 0;
  let firstStart = null;
  let lastCompleted = null;
  const origQuery = pg.Client.prototype.query;
  pg.Client.prototype.query = function (config, values, callback) {
    const result = origQuery.call(this, config, values, callback);
    const name = config && typeof config === "object" ? config.name : undefined;
    if (name && name.startsWith("complete_job") && result && typeof result.then === "function") {
      const ids = config.values[0];
      result.then(() => {
        const t = now();
        for (const id of Array.isArray(ids) ? ids : [ids]) {
          const key = String(id);
          const at = addedAt.get(key);
          if (at === undefined) continue;
          addedAt.delete(key);
          lat.completed.push(t - at);
          completed++;
        }
        lastCompleted = t;
      }, () => {});
    }
    return result;
  };

  const taskList = {
    [TASK]: async (payload, helpers) => {
      const t = now();
      if (firstStart === null) firstStart = t;
      lat.start.push(t - payload.t);
      addedAt.set(String(helpers.job.id), payload.t);
      // hold 0: the task does nothing
      lat.done.push(now() - payload.t);
    },
  };

  const preset = { worker: {} };
  if (o.localQueue > 1) preset.worker.localQueue = { size: o.localQueue };
  if (o.completeBatch >= 0) preset.worker.completeJobBatchDelay = o.completeBatch;

  let listening;
  const listenReady = new Promise((resolve) => (listening = resolve));
  const { EventEmitter } = await import("node:events");
  const events = new EventEmitter();
  events.on("pool:listen:success", () => listening());

  const runner = await run({
    connectionString: o.url,
    schema: SCHEMA,
    concurrency: o.concurrency,
    maxPoolSize: o.pool,
    pollInterval: o.pollInterval,
    noHandleSignals: true,
    logger: quietLogger,
    taskList,
    crontab: "",
    events,
    preset,
  });
  await listenReady;
  const cpuAtStart = process.cpuUsage();
  process.send({ type: "ready" });

  const progress = setInterval(() => process.send({ type: "progress", completed }), 250);
  process.on("message", async (m) => {
    if (m.type !== "stop") return;
    clearInterval(progress);
    const cpu = process.cpuUsage(cpuAtStart);
    await runner.stop();
    const round = (a) => a.map((x) => Math.round(x * 1000) / 1000);
    process.send({
      type: "stats",
      completed,
      started: lat.start.length,
      firstStart,
      lastCompleted,
      cpuSecs: (cpu.user + cpu.system) / 1e6,
      start: round(lat.start),
      done: round(lat.done),
      completedLat: round(lat.completed),
    }, () => process.exit(0));
  });
}

// ---------------------------------------------------------------- main process

async function prepareDatabase(o) {
  const target = new URL(o.url);
  const dbName = decodeURIComponent(target.pathname.replace(/^\//, ""));
  if (dbName !== "graphile_bench" && !o.allowAnyDatabase) {
    fail(`the bench drops the ${SCHEMA} schema of its database; ${dbName} is not graphile_bench (--allow-any-database)`);
  }
  const admin = new URL(o.url);
  admin.pathname = "/postgres";
  const a = new pg.Client({ connectionString: admin.toString() });
  await a.connect();
  const { rowCount } = await a.query("SELECT 1 FROM pg_database WHERE datname = $1", [dbName]);
  if (rowCount === 0) await a.query(`CREATE DATABASE ${pg.escapeIdentifier(dbName)}`);
  const facts = {
    server_version: (await a.query("SHOW server_version")).rows[0].server_version,
    synchronous_commit: (await a.query("SHOW synchronous_commit")).rows[0].synchronous_commit,
    fsync: (await a.query("SHOW fsync")).rows[0].fsync,
  };
  await a.end();

  const c = new pg.Client({ connectionString: o.url });
  await c.connect();
  await c.query(`DROP SCHEMA IF EXISTS ${SCHEMA} CASCADE`);
  await c.end();
  await runMigrations({ connectionString: o.url, schema: SCHEMA, logger: quietLogger });
  const c2 = new pg.Client({ connectionString: o.url });
  await c2.connect();
  try { await c2.query("CHECKPOINT"); } catch { /* not a superuser: fine */ }
  await c2.end();
  return facts;
}

/** CPU jiffies: the whole machine (busy), PostgreSQL's processes, by pid. */
function cpuSnapshot() {
  const stat = readFileSync("/proc/stat", "utf8").split("\n")[0].trim().split(/\s+/).slice(1).map(Number);
  const idle = stat[3] + (stat[4] || 0);
  const total = stat.reduce((s, x) => s + x, 0);
  const postgres = new Map();
  for (const pid of readdirSync("/proc")) {
    if (!/^\d+$/.test(pid)) continue;
    try {
      const s = readFileSync(`/proc/${pid}/stat`, "utf8");
      const comm = s.slice(s.indexOf("(") + 1, s.lastIndexOf(")"));
      if (comm !== "postgres") continue;
      const f = s.slice(s.lastIndexOf(")") + 2).split(" ");
      postgres.set(pid, Number(f[11]) + Number(f[12]));
    } catch { /* gone */ }
  }
  return { busy: total - idle, postgres };
}

function cpuCores(before, after, secs) {
  const HZ = 100;
  let pgJiffies = 0;
  for (const [pid, j] of after.postgres) pgJiffies += j - (before.postgres.get(pid) ?? 0);
  return { busy: (after.busy - before.busy) / HZ / secs, postgres: pgJiffies / HZ / secs };
}

function summary(values) {
  if (values.length === 0) return { count: 0, p50: null, p90: null, p99: null, max: null };
  const s = Float64Array.from(values).sort();
  const q = (p) => s[Math.min(s.length - 1, Math.max(0, Math.ceil(p * s.length) - 1))];
  const r = (x) => Math.round(x * 100) / 100;
  return { count: s.length, p50: r(q(0.5)), p90: r(q(0.9)), p99: r(q(0.99)), max: r(s[s.length - 1]) };
}

const loadavg = () => readFileSync("/proc/loadavg", "utf8").split(" ").slice(0, 3).join(" ");

async function main(o) {
  const facts = await prepareDatabase(o);
  const loadBefore = loadavg();

  // --preload: the queue filled before the workers start, to time the
  // workers alone.
  let pre = null;
  if (o.preload > 0) {
    const c = new pg.Client({ connectionString: o.url });
    await c.connect();
    const text = `SELECT count(*) FROM ${SCHEMA}.add_jobs(array(SELECT json_populate_recordset(null::${SCHEMA}.job_spec, $1::json)))`;
    for (let n = 0; n < o.preload; n += 2000) {
      const k = Math.min(2000, o.preload - n);
      const t = now();
      await c.query(text, [JSON.stringify(Array.from({ length: k }, () => ({ identifier: TASK, payload: { t } })))]);
    }
    await c.query(`VACUUM ANALYZE ${SCHEMA}._private_jobs`);
    await c.end();
    pre = { cpu0: cpuSnapshot(), self0: process.cpuUsage(), t0: now() };
  }

  // Workers, each its own process, started and listening before the first add.
  const script = fileURLToPath(import.meta.url);
  const workers = [];
  for (let i = 0; i < o.workers; i++) {
    const child = fork(script, [], {
      env: { ...process.env, GRAPHILE_BENCH_ROLE: "worker", GRAPHILE_BENCH_OPTIONS: JSON.stringify(o), NO_LOG_SUCCESS: "1" },
      stdio: ["ignore", "inherit", "inherit", "ipc"],
    });
    const w = { child, completed: 0, stats: null };
    w.ready = new Promise((resolve, reject) => {
      child.on("message", (m) => {
        if (m.type === "ready") resolve();
        else if (m.type === "progress") w.completed = m.completed;
        else if (m.type === "stats") { w.completed = m.completed; w.stats = m; w.statsDone?.(); }
      });
      child.on("exit", (code) => { if (!w.stats) reject(new Error(`worker ${i} exited with ${code}`)); });
    });
    workers.push(w);
  }
  await Promise.all(workers.map((w) => w.ready));

  // Producers.
  const addLat = [];
  let added = 0;
  let errors = 0;
  let firstError = null;
  let inFlight = 0;
  const payloadOf = (t) => ({ t });
  let addOne;
  let closeProducers;
  const batches = [];
  if (o.add === "utils") {
    const utils = await makeWorkerUtils({ connectionString: o.url, schema: SCHEMA, maxPoolSize: o.clients, logger: quietLogger });
    addOne = (t) => utils.addJob(TASK, payloadOf(t));
    closeProducers = () => utils.release();
  } else if (o.add === "batch") {
    // Group commit in the application: the adds waiting while a commit is in
    // flight go together in the next one (graphile_worker.add_jobs, one
    // transaction), and each is answered once that commit returns.
    const client = new pg.Client({ connectionString: o.url });
    await client.connect();
    const text = `SELECT id FROM ${SCHEMA}.add_jobs(array(SELECT json_populate_recordset(null::${SCHEMA}.job_spec, $1::json)))`;
    let waiting = [];
    let flushing = false;
    const flush = async () => {
      flushing = true;
      while (waiting.length > 0) {
        const batch = waiting;
        waiting = [];
        batches.push(batch.length);
        try {
          await client.query({ name: "bench_add_jobs", text, values: [JSON.stringify(batch.map((b) => ({ identifier: TASK, payload: payloadOf(b.t) })))] });
          for (const b of batch) b.resolve();
        } catch (e) {
          for (const b of batch) b.reject(e);
        }
      }
      flushing = false;
    };
    addOne = (t) => new Promise((resolve, reject) => {
      waiting.push({ t, resolve, reject });
      if (!flushing) flush();
    });
    closeProducers = () => client.end();
  } else {
    const pool = new pg.Pool({ connectionString: o.url, max: o.clients });
    // Open every connection before the clock starts.
    const held = await Promise.all(Array.from({ length: o.clients }, () => pool.connect()));
    held.forEach((c) => c.release());
    const text = `SELECT id FROM ${SCHEMA}.add_job($1::text, $2::json)`;
    addOne = (t) => pool.query({ name: "bench_add_job", text, values: [TASK, JSON.stringify(payloadOf(t))] });
    closeProducers = () => pool.end();
  }

  const cpu0 = pre?.cpu0 ?? cpuSnapshot();
  const cpuSelf0 = pre?.self0 ?? process.cpuUsage();
  const t0 = pre?.t0 ?? now();
  const deadline = o.duration !== null ? t0 + o.duration * 1000 : Infinity;
  const limit = pre ? 0 : o.count ?? Infinity;
  if (pre) added = o.preload;
  let issued = 0;
  const mayIssue = () => issued < limit && now() < deadline;

  const completedNow = () => workers.reduce((s, w) => s + w.completed, 0);
  let progressTimer = null;
  if (!o.json) {
    let lastAdded = 0, lastCompleted = 0, lastT = t0;
    progressTimer = setInterval(() => {
      const t = now(), c = completedNow(), dt = (t - lastT) / 1000;
      process.stderr.write(
        `\r${((t - t0) / 1000).toFixed(0).padStart(4)} s  added ${added} (${Math.round((added - lastAdded) / dt)}/s)` +
        `  completed ${c} (${Math.round((c - lastCompleted) / dt)}/s)  backlog ${added - c}  errors ${errors}   `);
      lastAdded = added; lastCompleted = c; lastT = t;
    }, 1000);
  }

  const addAt = async (due) => {
    issued++;
    inFlight++;
    try {
      await addOne(due);
      addLat.push(now() - due);
      added++;
    } catch (e) {
      errors++;
      firstError ??= String(e?.stack || e);
    } finally {
      inFlight--;
    }
  };

  if (o.rate === null) {
    await Promise.all(Array.from({ length: o.clients }, async () => {
      while (mayIssue()) await addAt(now());
    }));
  } else {
    // Open loop: exponential gaps, each add due at its time whatever the answers take.
    const pending = new Set();
    let due = t0;
    while (true) {
      due += -Math.log(1 - Math.random()) * (1000 / o.rate);
      if (issued >= limit || due >= deadline) break;
      const wait = due - now();
      if (wait > 1) await new Promise((r) => setTimeout(r, wait));
      const p = addAt(due);
      pending.add(p);
      p.finally(() => pending.delete(p));
    }
    await Promise.all(pending);
  }
  const addSecs = (now() - t0) / 1000;

  // Drain: until every added job's completion is committed, or --drain.
  const drainDeadline = now() + o.drain * 1000;
  while (completedNow() < added && now() < drainDeadline) await new Promise((r) => setTimeout(r, 20));
  if (progressTimer) { clearInterval(progressTimer); process.stderr.write("\n"); }
  // CPU before any connection closes: a backend's time goes with its process.
  const cpu1 = cpuSnapshot();
  const cpuSelf = process.cpuUsage(cpuSelf0);
  const cpuSecs = (now() - t0) / 1000;
  await closeProducers();

  await Promise.all(workers.map((w) => new Promise((resolve) => {
    w.statsDone = resolve;
    w.child.send({ type: "stop" });
  })));
  const lastCompleted = Math.max(...workers.map((w) => w.stats.lastCompleted ?? t0));
  // With --preload, from the first job's start: not the workers' start-up.
  const from = pre ? Math.min(...workers.map((w) => w.stats.firstStart ?? t0)) : t0;
  const elapsedSecs = (lastCompleted - from) / 1000;
  const cores = cpuCores(cpu0, cpu1, cpuSecs);
  const producerCores = (cpuSelf.user + cpuSelf.system) / 1e6 / cpuSecs;
  const workerCores = workers.reduce((s, w) => s + w.stats.cpuSecs, 0) / cpuSecs;
  const completed = workers.reduce((s, w) => s + w.stats.completed, 0);

  // Whatever is left in the jobs table was not completed.
  const c = new pg.Client({ connectionString: o.url });
  await c.connect();
  const left = Number((await c.query(`SELECT count(*) AS n FROM ${SCHEMA}._private_jobs`)).rows[0].n);
  await c.end();

  const all = (k) => workers.flatMap((w) => w.stats[k]);
  const r1 = (x) => Math.round(x * 10) / 10;
  const report = {
    config: {
      graphile_worker: JSON.parse(readFileSync(new URL("node_modules/graphile-worker/package.json", import.meta.url))).version,
      node: process.version,
      mode: o.rate === null ? `closed loop, ${o.clients} clients` : `open loop, ${o.rate}/s Poisson through ${o.clients} connections`,
      add: o.add,
      workers: o.workers,
      concurrency: o.concurrency,
      pool: o.pool,
      poll_interval_ms: o.pollInterval,
      local_queue: o.localQueue,
      complete_batch_ms: o.completeBatch,
      preload: o.preload,
      ...facts,
    },
    added,
    completed,
    left_in_table: left,
    errors,
    first_error: firstError,
    mean_add_batch: batches.length ? Math.round((batches.reduce((a, b) => a + b, 0) / batches.length) * 10) / 10 : null,
    add_secs: r1(addSecs),
    elapsed_secs: r1(elapsedSecs),
    added_per_sec: pre ? null : Math.round(added / addSecs),
    completed_per_sec: Math.round(completed / elapsedSecs),
    latency_ms: {
      add: summary(addLat),
      add_to_start: summary(all("start")),
      add_to_task_end: summary(all("done")),
      add_to_completed: summary(all("completedLat")),
    },
    cpu_cores: {
      machine_busy: Math.round(cores.busy * 100) / 100,
      postgres: Math.round(cores.postgres * 100) / 100,
      producers: Math.round(producerCores * 100) / 100,
      workers: Math.round(workerCores * 100) / 100,
      others: Math.round(Math.max(0, cores.busy - cores.postgres - producerCores - workerCores) * 100) / 100,
    },
    load_average: { before: loadBefore, after: loadavg() },
  };

  if (o.json) {
    process.stdout.write(JSON.stringify(report, null, 2) + "\n");
  } else {
    const k = report.config;
    const lines = [
      `graphile-worker ${k.graphile_worker} on PostgreSQL ${k.server_version} (synchronous_commit ${k.synchronous_commit}, fsync ${k.fsync}), node ${k.node}`,
      `${k.mode}, add by ${k.add}; ${k.workers} worker process(es) × concurrency ${k.concurrency}, pool ${k.pool}, poll ${k.poll_interval_ms} ms, local queue ${k.local_queue}, complete batch ${k.complete_batch_ms} ms`,
      `${pre ? `preloaded ${added}` : `added ${added} in ${report.add_secs} s (${report.added_per_sec}/s)`}; completed ${completed} in ${report.elapsed_secs} s (${report.completed_per_sec}/s); left ${left}, errors ${errors}`,
      `latency (ms)              count      p50      p90      p99      max`,
    ];
    const names = { add: "add", add_to_start: "add → start", add_to_task_end: "add → task end", add_to_completed: "add → completed" };
    for (const [key, label] of Object.entries(names)) {
      const s = report.latency_ms[key];
      const f = (x) => (x === null ? "-" : x.toFixed(2)).padStart(9);
      lines.push(`  ${label.padEnd(20)} ${String(s.count).padStart(8)}${f(s.p50)}${f(s.p90)}${f(s.p99)}${f(s.max)}`);
    }
    const u = report.cpu_cores;
    lines.push(`cpu (cores): machine ${u.machine_busy}, postgres ${u.postgres}, producers ${u.producers}, workers ${u.workers}, others ${u.others}`);
    lines.push(`load average: before ${report.load_average.before}, after ${report.load_average.after}`);
    if (report.mean_add_batch !== null) lines.push(`adds per commit: mean ${report.mean_add_batch} over ${batches.length} commits`);
    if (firstError) lines.push(`first error: ${firstError}`);
    console.log(lines.join("\n"));
  }
  process.exitCode = errors > 0 || completed < added ? 1 : 0;
}

if (process.env.GRAPHILE_BENCH_ROLE === "worker") {
  workerMain(JSON.parse(process.env.GRAPHILE_BENCH_OPTIONS)).catch((e) => {
    console.error(e);
    process.exit(1);
  });
} else {
  main(parseArgs(process.argv.slice(2))).catch((e) => {
    console.error(e);
    process.exit(1);
  });
}
