// What one throughput round of bench/shared.ts costs the database, in
// counts per task rather than timings: BENCH_OPS no-op tasks queued first,
// then RUNNERS runner processes (bench/sharedRunner.ts) drain them; the
// database's statistics (pg_stat_database, the tasks table and its indexes,
// the PL/pgSQL functions' calls) are read before the runners start and
// after they exited (a backend's counts are flushed when it exits), and the
// CPU time of the runner processes and of their Postgres backends
// (/proc/<pid>/stat, read at the first handler start and when drained).
//
// Run it on a database of its own (the statistics are the database's):
//   createdb -h 127.0.0.1 -U postgres h_counts
//   AGENTOS_BENCH_PG_URL=postgres://postgres@127.0.0.1:5432/h_counts RUNNERS=2 SIDE=ours \
//     pnpm --filter @agentos/supervisor bench:shared-counts
// SIDE=graphile runs graphile-worker 0.17 the same way; BENCH_OPS sets the
// tasks (5,000 as bench:shared); ALTER DATABASE … SET track_functions = 'pl'
// counts the calls of the claim functions. RUNNER_NODE_ARGS adds node flags
// to the runners (e.g. --cpu-prof: they are then ended with SIGTERM, so the
// profile is written); AFTER_FILL_SQL runs on the filled schema before the
// runners start (an experiment: an index changed).
import * as Reactivity from "@effect/experimental/Reactivity"
import * as PgClient from "@effect/sql-pg/PgClient"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as ManagedRuntime from "effect/ManagedRuntime"
import * as Redacted from "effect/Redacted"
import { makeWorkerUtils } from "graphile-worker"
import * as ChildProcess from "node:child_process"
import * as Fs from "node:fs"
import pg from "pg"
import * as Supervisor from "../src/Supervisor.js"
import {
  dropSchemas,
  now,
  packageDir,
  runMain,
  runnerPath,
  schemas,
  sleep,
  withSearchPath as searchPath
} from "./sharedSetup.js"
import { noop, sharedOptions } from "./sharedTasks.js"

const BASE_URL = process.env.AGENTOS_BENCH_PG_URL ?? "postgres://postgres@127.0.0.1:5432/h_counts"
const OPS = Number(process.env.BENCH_OPS ?? 5_000)
const RUNNERS = Number(process.env.RUNNERS ?? 1)
const SIDE = (process.env.SIDE ?? "ours") as "ours" | "graphile"
const CONCURRENCY = Number(process.env.CONCURRENCY ?? 16)

const { graphile: graphileSchema, ours: oursSchema } = schemas("agentos_counts")
const withSearchPath = (schema: string) => searchPath(BASE_URL, schema)

// utime + stime of a process, in clock ticks (100 a second here), or undefined when it is gone.
const cpuTicks = (pid: number): number | undefined => {
  try {
    const stat = Fs.readFileSync(`/proc/${pid}/stat`, "utf8")
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ")
    return Number(fields[11]) + Number(fields[12])
  } catch {
    return undefined
  }
}
const TICK_MICROS = 10_000

// Context switches of a process (voluntary: it waited; involuntary: it was preempted), or zeros when it is gone.
const switches = (pid: number): { voluntary: number; involuntary: number } => {
  try {
    const status = Fs.readFileSync(`/proc/${pid}/status`, "utf8")
    const field = (name: string) => Number(new RegExp(`^${name}:\\s+(\\d+)`, "m").exec(status)?.[1] ?? 0)
    return { voluntary: field("voluntary_ctxt_switches"), involuntary: field("nonvoluntary_ctxt_switches") }
  } catch {
    return { voluntary: 0, involuntary: 0 }
  }
}

interface Runner {
  readonly pid: number
  readonly firstStart: Promise<number>
  started: number
  readonly exited: Promise<void>
  readonly kill: () => void
}

const spawnRunner = (): Runner => {
  const child = ChildProcess.spawn(process.execPath, [
    ...(process.env.RUNNER_NODE_ARGS ?? "").split(" ").filter((arg) => arg !== ""),
    "--import",
    "tsx",
    "--conditions=@agentos/source",
    runnerPath
  ], {
    cwd: packageDir,
    env: {
      ...process.env,
      SIDE,
      DATABASE: SIDE === "ours" ? withSearchPath(oursSchema) : BASE_URL,
      SCHEMA: graphileSchema,
      CONCURRENCY: String(CONCURRENCY)
    },
    stdio: ["ignore", "pipe", "inherit"]
  })
  let rest = ""
  let markStarted: (at: number) => void = () => {}
  const firstStart = new Promise<number>((resolve) => (markStarted = resolve))
  const exited = new Promise<void>((resolve) => child.on("exit", () => resolve()))
  const runner: Runner = {
    pid: child.pid!,
    firstStart,
    started: 0,
    exited,
    kill: () => child.kill(process.env.RUNNER_NODE_ARGS ? "SIGTERM" : "SIGKILL")
  }
  child.stdout!.on("data", (chunk) => {
    const lines = (rest + String(chunk)).split("\n")
    rest = lines.pop()!
    for (const line of lines) {
      const [, started] = line.split(" ").map(Number)
      if (Number.isFinite(started)) {
        runner.started++
        markStarted(started!)
      }
    }
  })
  return runner
}

const admin = new pg.Client({ connectionString: BASE_URL })
const query = async (text: string) => (await admin.query(text)).rows as Array<Record<string, unknown>>

// The database's statistics, as numbers keyed by name.
const snapshot = async (): Promise<Record<string, number>> => {
  await admin.query("SELECT pg_stat_clear_snapshot()")
  const out: Record<string, number> = {}
  const put = (prefix: string, row: Record<string, unknown>) => {
    for (const [key, value] of Object.entries(row)) {
      if (key !== "name" && value !== null) out[`${prefix}.${key}`] = Number(value)
    }
  }
  for (
    const row of await query(`SELECT xact_commit, xact_rollback, tup_returned, tup_fetched, tup_inserted,
    tup_updated, tup_deleted, blks_hit, blks_read, temp_files, deadlocks FROM pg_stat_database
    WHERE datname = current_database()`)
  ) put("db", row)
  const schema = SIDE === "ours" ? oursSchema : graphileSchema
  for (
    const row of await query(`SELECT relname AS name, seq_scan, seq_tup_read, idx_scan, idx_tup_fetch, n_tup_ins,
    n_tup_upd, n_tup_hot_upd, n_tup_del, n_live_tup, n_dead_tup FROM pg_stat_user_tables WHERE schemaname = '${schema}'`)
  ) put(`table ${String(row.name)}`, row)
  for (
    const row of await query(`SELECT indexrelname AS name, idx_scan, idx_tup_read, idx_tup_fetch
    FROM pg_stat_user_indexes WHERE schemaname = '${schema}'`)
  ) put(`index ${String(row.name)}`, row)
  for (
    const row of await query(`SELECT funcname AS name, calls FROM pg_stat_user_functions
    WHERE schemaname = '${schema}'`)
  ) put(`function ${String(row.name)}`, row)
  return out
}

// The backends of this database other than the admin's.
const backends = async (): Promise<Array<number>> =>
  (await query(`SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()`))
    .map((row) => Number(row.pid))

const remaining = async (): Promise<number> => {
  const rows = SIDE === "ours"
    ? await query(`SELECT (SELECT COUNT(*) FROM ${oursSchema}.agentos_supervisor_tasks WHERE state = 'queued') +
        (SELECT COUNT(*) FROM ${oursSchema}.agentos_supervisor_tasks WHERE state = 'running') AS n`)
    : await query(`SELECT COUNT(*) AS n FROM ${graphileSchema}._private_jobs`)
  return Number(rows[0]!.n)
}

const fill = async () => {
  if (SIDE === "ours") {
    const producer = ManagedRuntime.make(
      Supervisor.layerSql({ types: [noop], shared: sharedOptions }).pipe(
        Layer.provide(PgClient.layer({ url: Redacted.make(withSearchPath(oursSchema)), maxConnections: 16 })),
        Layer.provide(Reactivity.layer)
      )
    )
    let next = 0
    await Promise.all(Array.from({ length: 16 }, async () => {
      while (next < OPS) {
        const n = next++
        await producer.runPromise(
          Effect.flatMap(
            Supervisor.Supervisor,
            (supervisor) => supervisor.submit({ type: noop, payload: { n, addedAt: now() } })
          )
        )
      }
    }))
    await producer.dispose()
  } else {
    const utils = await makeWorkerUtils({ connectionString: BASE_URL, schema: graphileSchema })
    await utils.migrate()
    let next = 0
    await Promise.all(Array.from({ length: 16 }, async () => {
      while (next < OPS) await utils.addJob("noop", { n: next++, addedAt: now() })
    }))
    await utils.release()
  }
}

// Samples pg_locks while the runners work: lock requests not granted, by lock type.
const lockWaits: Record<string, number> = {}
let lockSamples = 0
const sampleLocks = async () => {
  lockSamples++
  for (
    const row of await query(`SELECT l.locktype, COUNT(*) AS n FROM pg_locks l JOIN pg_database d ON d.oid = l.database
    WHERE NOT l.granted AND d.datname = current_database() GROUP BY l.locktype`)
  ) lockWaits[String(row.locktype)] = (lockWaits[String(row.locktype)] ?? 0) + Number(row.n)
  for (
    const row of await query(`SELECT wait_event_type || ':' || wait_event AS w, COUNT(*) AS n FROM pg_stat_activity
    WHERE datname = current_database() AND pid <> pg_backend_pid() AND state = 'active' AND wait_event IS NOT NULL
    GROUP BY 1`)
  ) {
    lockWaits[`active waiting on ${String(row.w)}`] = (lockWaits[`active waiting on ${String(row.w)}`] ?? 0) +
      Number(row.n)
  }
  for (
    const row of await query(`SELECT COUNT(*) AS n FROM pg_stat_activity
    WHERE datname = current_database() AND pid <> pg_backend_pid() AND state = 'active'`)
  ) lockWaits["active backends"] = (lockWaits["active backends"] ?? 0) + Number(row.n)
}

const main = async () => {
  await admin.connect()
  if (SIDE === "ours") await admin.query(`CREATE SCHEMA ${oursSchema}`)
  try {
    await fill()
    // An experiment on the filled schema (e.g. an index changed), run as given.
    if (process.env.AFTER_FILL_SQL) await admin.query(`SET search_path = ${oursSchema}; ${process.env.AFTER_FILL_SQL}`)
    await sleep(1_500) // the producer's backends exit and flush their counts
    const before = await snapshot()
    const runners = Array.from({ length: RUNNERS }, () => spawnRunner())
    const firstStart = await Promise.race(runners.map((runner) => runner.firstStart))
    const cpuAtStart = new Map<number, number>()
    for (const pid of [...runners.map((runner) => runner.pid), ...await backends()]) {
      cpuAtStart.set(pid, cpuTicks(pid) ?? 0)
    }
    const switchesAtStart = runners.map((runner) => switches(runner.pid))
    const uptimeAt = () => Number(Fs.readFileSync("/proc/uptime", "utf8").split(" ")[0])
    const wallAtStart = uptimeAt()
    const loadAtStart = Fs.readFileSync("/proc/loadavg", "utf8").split(" ")[0]
    let drainedAt = 0
    let samples = 0
    // The runners' CPU per task by quarter of the tasks started (a runner
    // process warms up: its first tasks cost more than its last).
    const quarters: Array<{ started: number; ticks: number }> = [{ started: 0, ticks: 0 }]
    const runnersTicks = () =>
      runners.reduce((n, runner) => n + (cpuTicks(runner.pid) ?? 0) - (cpuAtStart.get(runner.pid) ?? 0), 0)
    for (;;) {
      const startedNow = runners.reduce((n, runner) => n + runner.started, 0)
      if (startedNow >= (OPS / 4) * quarters.length && quarters.length <= 4) {
        quarters.push({ started: startedNow, ticks: runnersTicks() })
      }
      // The watcher's own reads kept out of the counts: the table is read
      // only once every task has started.
      const allStarted = runners.reduce((n, runner) => n + runner.started, 0) >= OPS
      if (allStarted && (await remaining()) === 0) {
        drainedAt = now()
        break
      }
      if (++samples % 5 === 0) await sampleLocks()
      await sleep(20)
    }
    const wall = uptimeAt() - wallAtStart
    const runnerCpu = runners.map((runner) => ((cpuTicks(runner.pid) ?? 0) - (cpuAtStart.get(runner.pid) ?? 0)))
    const runnerSwitches = runners.map((runner, i) => {
      const now = switches(runner.pid)
      return {
        voluntary: now.voluntary - switchesAtStart[i]!.voluntary,
        involuntary: now.involuntary - switchesAtStart[i]!.involuntary
      }
    })
    const pids = await backends()
    let backendCpu = 0
    for (const pid of pids) backendCpu += (cpuTicks(pid) ?? 0) - (cpuAtStart.get(pid) ?? 0)
    const started = runners.reduce((n, runner) => n + runner.started, 0)
    // The runners' CPU when idle (their timers, polls, renewals), over 2 s.
    const idleFrom = runnersTicks()
    await sleep(2_000)
    const idleMicrosPerSecond = ((runnersTicks() - idleFrom) * TICK_MICROS) / 2
    for (const runner of runners) runner.kill()
    await Promise.all(runners.map((runner) => runner.exited))
    for (let i = 0; i < 100 && (await backends()).length > 0; i++) await sleep(50)
    await sleep(700)
    const after = await snapshot()
    const perTask = (n: number) => (n / OPS).toFixed(3)
    console.log(
      `${SIDE}, ${RUNNERS} runner(s), ${OPS} tasks (${started} starts seen), ${
        Math.round(OPS / ((drainedAt - firstStart) / 1000))
      } tasks/s, load ${loadAtStart}, ${pids.length} backends`
    )
    console.log(
      `runners' CPU per task by quarter: ${
        quarters.slice(1).map((q, i) =>
          Math.round(((q.ticks - quarters[i]!.ticks) * TICK_MICROS) / Math.max(1, q.started - quarters[i]!.started))
        ).join(", ")
      } µs; idle runners ${Math.round(idleMicrosPerSecond / 1000)} ms CPU per second`
    )
    console.log(
      `per task: runner CPU ${
        runnerCpu.map((ticks) => Math.round((ticks * TICK_MICROS) / OPS)).join(" + ")
      } µs, Postgres backends ${Math.round((backendCpu * TICK_MICROS) / OPS)} µs (wall ${wall.toFixed(2)} s)`
    )
    console.log(
      `context switches per task of the runners: ${
        runnerSwitches.map((n) => `${perTask(n.voluntary)} voluntary, ${perTask(n.involuntary)} preempted`).join(" + ")
      }`
    )
    for (const key of Object.keys(after).sort()) {
      const delta = after[key]! - (before[key] ?? 0)
      if (delta !== 0) console.log(`  ${key}: ${delta} (${perTask(delta)}/task)`)
    }
    console.log(`  pg_locks / activity samples: ${lockSamples}`)
    for (const [key, n] of Object.entries(lockWaits)) {
      console.log(`    ${key}: ${(n / lockSamples).toFixed(2)} per sample`)
    }
  } finally {
    await dropSchemas(admin, [oursSchema, graphileSchema])
    await admin.end()
  }
}

runMain(main)
