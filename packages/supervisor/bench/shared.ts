// The shared queue on Postgres, side by side with graphile-worker 0.17 on
// the same Postgres: no-op tasks claimed and completed per second by one and
// by two runner processes (bench/sharedRunner.ts, concurrency 16 each,
// unbatched), and the delay from adding a task to its handler starting
// (p50, p99) with one runner. Ours runs the full default path (payload
// decode, result encode, timeouts, metrics, a span per task, leases renewed).
//
// Throughput: BENCH_OPS tasks are queued first, then the runners start; the
// figure is BENCH_OPS / (the moment the queue is drained − the first handler
// start), rounds alternated between the sides. Latency: BENCH_LATENCY_OPS
// tasks added one after another, 2 ms apart, to a running runner.
//
// Run: pnpm --filter @agentos/supervisor bench:shared (Postgres from
// AGENTOS_BENCH_PG_URL, else AGENTOS_TEST_PG_URL, else the local test database).
import { Bench } from "@agentos/testkit"
import * as Reactivity from "@effect/experimental/Reactivity"
import * as PgClient from "@effect/sql-pg/PgClient"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as ManagedRuntime from "effect/ManagedRuntime"
import * as Redacted from "effect/Redacted"
import { makeWorkerUtils } from "graphile-worker"
import * as ChildProcess from "node:child_process"
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

const SOURCE = "issue #11"
const BASE_URL = process.env.AGENTOS_BENCH_PG_URL ?? process.env.AGENTOS_TEST_PG_URL ??
  "postgres://postgres@127.0.0.1:5432/test"
const OPS = Number(process.env.BENCH_OPS ?? 5_000)
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3)
const LATENCY_OPS = Number(process.env.BENCH_LATENCY_OPS ?? 1_000)
const CONCURRENCY = 16

const { graphile: graphileSchema, ours: oursSchema } = schemas("agentos_bench")
const withSearchPath = (schema: string) => searchPath(BASE_URL, schema)

type Side = "ours" | "graphile"

interface Runner {
  readonly starts: Array<readonly [addedAt: number, startedAt: number]>
  readonly ready: Promise<void>
  readonly kill: () => void
}

const spawnRunner = (side: Side): Runner => {
  const child = ChildProcess.spawn(process.execPath, ["--import", "tsx", "--conditions=@agentos/source", runnerPath], {
    cwd: packageDir,
    env: {
      ...process.env,
      SIDE: side,
      DATABASE: side === "ours" ? withSearchPath(oursSchema) : BASE_URL,
      SCHEMA: graphileSchema,
      CONCURRENCY: String(CONCURRENCY)
    },
    stdio: ["ignore", "pipe", "inherit"]
  })
  const starts: Array<readonly [number, number]> = []
  let rest = ""
  let markReady: () => void = () => {}
  const ready = new Promise<void>((resolve) => (markReady = resolve))
  child.stdout!.on("data", (chunk) => {
    const lines = (rest + String(chunk)).split("\n")
    rest = lines.pop()!
    for (const line of lines) {
      if (line === "ready") markReady()
      const [added, started] = line.split(" ").map(Number)
      if (Number.isFinite(added) && Number.isFinite(started)) starts.push([added!, started!])
    }
  })
  return { starts, ready, kill: () => child.kill("SIGKILL") }
}

const admin = new pg.Client({ connectionString: BASE_URL })

// ---- the producers ----

const oursProducer = ManagedRuntime.make(
  Supervisor.layerSql({ types: [noop], shared: sharedOptions }).pipe(
    Layer.provide(PgClient.layer({ url: Redacted.make(withSearchPath(oursSchema)), maxConnections: 16 })),
    Layer.provide(Reactivity.layer)
  )
)
const oursAdd = (n: number) =>
  oursProducer.runPromise(
    Effect.flatMap(Supervisor.Supervisor, (supervisor) =>
      supervisor.submit({ type: noop, payload: { n, addedAt: now() } }))
  )
let graphileUtils: Awaited<ReturnType<typeof makeWorkerUtils>>
const graphileAdd = (n: number) => graphileUtils.addJob("noop", { n, addedAt: now() })
const add = (side: Side, n: number): Promise<unknown> => side === "ours" ? oursAdd(n) : graphileAdd(n)

// Queues `ops` tasks, 16 adds at a time.
const fill = async (side: Side, ops: number) => {
  let next = 0
  await Promise.all(Array.from({ length: 16 }, async () => {
    while (next < ops) await add(side, next++)
  }))
}

// Tasks not yet ended. Ours keeps ended tasks (their results), so it counts
// queued and running rows through their partial indexes; graphile-worker
// deletes a job when it completes. Read every 20 ms: a cheap read, so the
// watching does not load the database that both sides share.
const remaining = async (side: Side): Promise<number> => {
  const table = `${oursSchema}.agentos_supervisor_tasks`
  const result = side === "ours"
    ? await admin.query(
      `SELECT (SELECT COUNT(*) FROM ${table} WHERE state = 'queued') +
        (SELECT COUNT(*) FROM ${table} WHERE state = 'running') AS n`
    )
    : await admin.query(`SELECT COUNT(*) AS n FROM ${graphileSchema}._private_jobs`)
  return Number(result.rows[0].n)
}

// Each round of ours starts from an empty table (the previous round's ended tasks removed).
const reset = async (side: Side) => {
  if (side === "ours") await admin.query(`TRUNCATE ${oursSchema}.agentos_supervisor_tasks`)
}

// One throughput round: tasks per second.
const throughput = async (side: Side, processes: number): Promise<number> => {
  await reset(side)
  await fill(side, OPS)
  const runners = Array.from({ length: processes }, () => spawnRunner(side))
  try {
    let drainedAt = 0
    const deadline = Date.now() + 600_000
    for (;;) {
      if ((await remaining(side)) === 0) {
        drainedAt = now()
        break
      }
      if (Date.now() > deadline) throw new Error(`${side}: the queue was not drained in 10 minutes`)
      await sleep(20)
    }
    const starts = runners.flatMap((runner) => runner.starts)
    const firstStart = Math.min(...starts.map(([, started]) => started))
    return OPS / ((drainedAt - firstStart) / 1000)
  } finally {
    for (const runner of runners) runner.kill()
  }
}

const percentile = (values: ReadonlyArray<number>, p: number) => {
  const sorted = [...values].sort((a, b) => a - b)
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!
}

// Add→start delays (ms) of tasks added one after another to a running runner.
const latency = async (side: Side): Promise<ReadonlyArray<number>> => {
  await reset(side)
  const runner = spawnRunner(side)
  try {
    await runner.ready
    await sleep(1_000)
    for (let i = 0; i < LATENCY_OPS; i++) {
      await add(side, i)
      await sleep(2)
    }
    const deadline = Date.now() + 60_000
    while (runner.starts.length < LATENCY_OPS) {
      if (Date.now() > deadline) throw new Error(`${side}: only ${runner.starts.length} of ${LATENCY_OPS} started`)
      await sleep(20)
    }
    return runner.starts.map(([added, started]) => started - added)
  } finally {
    runner.kill()
  }
}

const main = async () => {
  await admin.connect()
  await admin.query(`CREATE SCHEMA ${oursSchema}`)
  try {
    await oursProducer.runPromise(Effect.void)
    graphileUtils = await makeWorkerUtils({ connectionString: BASE_URL, schema: graphileSchema })
    await graphileUtils.migrate()
    const figures: Array<Bench.Figure> = []
    const config = { backend: "postgres", concurrencyPerProcess: CONCURRENCY, tasks: OPS, batched: false }
    for (const processes of [1, 2]) {
      const ours: Array<number> = []
      const theirs: Array<number> = []
      for (let round = 0; round < ROUNDS; round++) {
        if (round % 2 === 0) {
          ours.push(await throughput("ours", processes))
          theirs.push(await throughput("graphile", processes))
        } else {
          theirs.push(await throughput("graphile", processes))
          ours.push(await throughput("ours", processes))
        }
      }
      const value = Bench.median(ours)
      const baseline = Bench.median(theirs)
      const ratio = Bench.median(ours.map((mine, round) => theirs[round]! / mine))
      const name = `no-op tasks claimed and completed per second on Postgres, ${processes} runner process${
        processes === 1 ? "" : "es"
      }`
      figures.push({
        name,
        value: Bench.round(value),
        unit: "tasks/s",
        better: "higher",
        config: { ...config, processes, rounds: ROUNDS },
        baseline: { name: "graphile-worker 0.17", value: Bench.round(baseline) },
        ratio: Bench.round(ratio),
        target: {
          source: SOURCE,
          description: "at least graphile-worker's throughput",
          maxRatio: 1,
          met: ratio <= 1
        },
        spread: {
          min: Bench.round(Math.min(...ours)),
          max: Bench.round(Math.max(...ours)),
          baselineMin: Bench.round(Math.min(...theirs)),
          baselineMax: Bench.round(Math.max(...theirs))
        }
      })
      console.log(`${name}: ours ${Math.round(value)}/s, graphile-worker ${Math.round(baseline)}/s, ratio ${ratio}`)
    }
    const oursLatency = await latency("ours")
    const theirLatency = await latency("graphile")
    for (const p of [50, 99]) {
      const value = percentile(oursLatency, p)
      const baseline = percentile(theirLatency, p)
      const name = `add→start latency p${p}, 1 runner process`
      figures.push({
        name,
        value: Bench.round(value),
        unit: "ms",
        better: "lower",
        config: { backend: "postgres", concurrency: CONCURRENCY, tasks: LATENCY_OPS, gapMillis: 2 },
        baseline: { name: "graphile-worker 0.17", value: Bench.round(baseline) },
        ratio: Bench.round(value / baseline)
      })
      console.log(`${name}: ours ${value.toFixed(2)} ms, graphile-worker ${baseline.toFixed(2)} ms`)
    }
    const file = Bench.writeResults(
      "supervisor-shared",
      "pnpm --filter @agentos/supervisor bench:shared",
      figures
    )
    console.log(`wrote ${file}`)
  } finally {
    await graphileUtils?.release()
    await oursProducer.dispose()
    await dropSchemas(admin, [oursSchema, graphileSchema])
    await admin.end()
  }
}

runMain(main)
