// Benchmarks of @agentos/dlq: add, list (a page of 50) and replay on SQLite
// and Postgres, each side by side in this process with the raw driver
// (better-sqlite3, pg) running the identical statements with the same
// settings. Run: pnpm --filter @agentos/dlq bench
import * as IdGenerator from "@agentos/core/IdGenerator"
import { Backends, Bench } from "@agentos/testkit"
import * as SqlClient from "@effect/sql/SqlClient"
import BetterSqlite from "better-sqlite3"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as ManagedRuntime from "effect/ManagedRuntime"
import * as Fs from "node:fs"
import * as Os from "node:os"
import * as Path from "node:path"
import Pg from "pg"
import * as AlertSink from "../src/AlertSink.js"
import * as DeadLetterQueue from "../src/DeadLetterQueue.js"
import type * as Letter from "../src/Letter.js"

const SOURCE = "issue #3"
const OPS = 200
const ROUNDS = 15
// Warm-up per side, run twice alternated before the measured rounds. The
// layer's code (Effect runtime, @effect/sql, the queue's rules) takes a few
// thousand operations to reach steady JIT-compiled speed (measured: CPU per
// Postgres add falls from ≈2.8 ms over the first 500 to ≈0.45 ms after
// ≈5,000), while the raw driver's few lines are warm almost at once; a
// short warm-up measures our cold start against their steady state.
const WARMUP = 2000
// Bench.compare warms each side up twice, then runs the rounds: one fresh
// letter per replay, and a clear error (not a replay of nothing) if that
// ever changes.
const LETTERS_PER_SIDE = 2 * WARMUP + OPS * ROUNDS
const take = (ids: ReadonlyArray<string>, index: number): string => {
  const id = ids[index]
  if (id === undefined) throw new Error(`bench: ran out of letters to replay (${ids.length} prepared)`)
  return id
}

const payload = {
  query: "effect dead letter queue benchmarks",
  sources: ["https://example.com/a", "https://example.com/b", "https://example.com/c"],
  options: { depth: 2, language: "en", maxTokens: 2048 },
  notes: "x".repeat(200)
}
const error = { tag: "Timeout", message: "the search provider did not answer within 30 s" }

let counter = 0
const addInput = (): Letter.AddInput => ({
  taskType: "search",
  taskId: `task-${process.pid}-${++counter}`,
  attempts: 3,
  payload,
  error,
  agent: "agent-7",
  firstAttemptAt: 1_700_000_000_000,
  lastAttemptAt: 1_700_000_060_000,
  context: { lastAttempt: 3 }
})

/** The letter data the raw side writes: the same JSON the layer stores. */
const rawData = (id: string, key: string, now: number) => ({
  id,
  dedupeKey: key,
  source: "direct",
  taskType: "search",
  taskId: key.slice(5, -2),
  agent: "agent-7",
  attempts: 3,
  payload,
  error,
  context: { lastAttempt: 3 },
  firstAttemptAt: 1_700_000_000_000,
  lastAttemptAt: 1_700_000_060_000,
  createdAt: now,
  replays: 0
})

const newId = () => IdGenerator.ulid(Date.now(), Math.random(), Math.random())

interface Raw {
  readonly add: () => Promise<void>
  readonly list: () => Promise<void>
  readonly replay: (id: string) => Promise<void>
  readonly close: () => Promise<void>
}

const SQLITE_NOW = "(CAST(ROUND((julianday('now') - 2440587.5) * 86400000.0) AS INTEGER))"
const PG_NOW = "(floor(extract(epoch from clock_timestamp()) * 1000)::bigint)"
const CLAIM_MILLIS = 5 * 60 * 1000

const statements = (now: string, p: (n: number) => string, json: (s: string) => string) => ({
  insert: `INSERT INTO agentos_dlq_letters
    (id, dedupe_key, task_type, error_type, agent, created_at, resolved_at, data, resolution)
    VALUES (${p(1)}, ${p(2)}, ${p(3)}, ${p(4)}, ${p(5)}, ${p(6)}, ${p(7)}, ${json(p(8))}, NULL)
    ON CONFLICT (dedupe_key) DO NOTHING RETURNING id`,
  list: `SELECT data, resolution FROM agentos_dlq_letters WHERE 1 = 1 ORDER BY id DESC LIMIT ${p(1)}`,
  claim: `UPDATE agentos_dlq_letters
    SET claim_token = claim_token + 1, claimed_until = (${now} + ${p(1)})
    WHERE id = ${p(2)} AND resolved_at IS NULL AND (claimed_until IS NULL OR claimed_until <= ${now})
    RETURNING claim_token, data, resolution`,
  complete: `UPDATE agentos_dlq_letters
    SET data = ${json(p(1))}, resolution = ${json(p(2))}, resolved_at = ${p(3)}, error_type = ${
    p(4)
  }, claimed_until = NULL
    WHERE id = ${p(5)} AND claim_token = ${p(6)} AND claimed_until IS NOT NULL
    RETURNING id`
})

const rawSqlite = (filename: string): Raw => {
  const db = new BetterSqlite(filename)
  db.pragma("journal_mode = WAL") // as SqliteClient; synchronous stays at its default, as there
  db.pragma("busy_timeout = 5000")
  const s = statements(SQLITE_NOW, () => "?", (x) => x)
  // Every statement is stepped to completion (`.all()`), as the layer's
  // client (`@effect/sql-sqlite-node`) does: `.get()` stops at the first
  // RETURNING row and resets the statement, and SQLite runs its WAL
  // auto-checkpoint only for a statement that reaches its end, so this side
  // would never checkpoint (its WAL only growing) while the layer pays for
  // the checkpoints.
  const insert = db.prepare(s.insert)
  const list = db.prepare(s.list)
  const claim = db.prepare(s.claim)
  const complete = db.prepare(s.complete)
  return {
    add: async () => {
      const id = newId()
      const key = `task:raw-${++counter}:3`
      const now = Date.now()
      insert.all(id, key, "search", "Timeout", "agent-7", now, null, JSON.stringify(rawData(id, key, now)))
    },
    list: async () => {
      const rows = list.all(51) as Array<{ data: string; resolution: string | null }>
      for (const row of rows) {
        JSON.parse(row.data)
        if (row.resolution !== null) JSON.parse(row.resolution)
      }
    },
    replay: async (id) => {
      const row = (claim.all(CLAIM_MILLIS, id) as Array<{ claim_token: number; data: string }>)[0]!
      const data = JSON.parse(row.data)
      const now = Date.now()
      const resolution = { kind: "replayed", at: now, note: "replayed successfully" }
      complete.all(
        JSON.stringify({ ...data, replays: data.replays + 1 }),
        JSON.stringify(resolution),
        now,
        data.error.tag,
        id,
        row.claim_token
      )
    },
    close: async () => void db.close()
  }
}

const rawPg = async (url: string, schema: string): Promise<Raw> => {
  const client = new Pg.Client({ connectionString: url })
  await client.connect()
  await client.query(`SET search_path TO ${schema}`)
  const s = statements(PG_NOW, (n) => `$${n}`, (x) => `${x}::jsonb`)
  return {
    add: async () => {
      const id = newId()
      const key = `task:raw-${++counter}:3`
      const now = Date.now()
      await client.query({
        name: "dlq_add",
        text: s.insert,
        values: [id, key, "search", "Timeout", "agent-7", now, null, JSON.stringify(rawData(id, key, now))]
      })
    },
    list: async () => {
      await client.query({ name: "dlq_list", text: s.list, values: [51] })
    },
    replay: async (id) => {
      const claimed = await client.query({ name: "dlq_claim", text: s.claim, values: [CLAIM_MILLIS, id] })
      const row = claimed.rows[0] as { claim_token: string; data: ReturnType<typeof rawData> }
      const now = Date.now()
      const resolution = { kind: "replayed", at: now, note: "replayed successfully" }
      await client.query({
        name: "dlq_complete",
        text: s.complete,
        values: [
          JSON.stringify({ ...row.data, replays: row.data.replays + 1 }),
          JSON.stringify(resolution),
          now,
          row.data.error.tag,
          id,
          row.claim_token
        ]
      })
    },
    close: () => client.end()
  }
}

const runBackend = async (
  backend: "sqlite" | "postgres",
  client: Layer.Layer<SqlClient.SqlClient, unknown>,
  config: Bench.Figure["config"],
  makeRaw: (
    runtime: ManagedRuntime.ManagedRuntime<DeadLetterQueue.DeadLetterQueue | SqlClient.SqlClient, unknown>
  ) => Promise<Raw>,
  maxRatio: number
): Promise<Array<Bench.Figure>> => {
  // The default layer as a user gets it: tracing on, the logging alert sink.
  const layer = Layer.provideMerge(DeadLetterQueue.layerSql(), client)
  const runtime = ManagedRuntime.make(layer)
  const dlq = await runtime.runPromise(DeadLetterQueue.DeadLetterQueue)
  const raw = await makeRaw(runtime)
  const figures: Array<Bench.Figure> = []
  try {
    const times = (ops: number, f: () => Effect.Effect<unknown, unknown>) =>
      runtime.runPromise(Effect.forEach(Array.from({ length: ops }), f, { discard: true }))
    const rawTimes = async (ops: number, f: () => Promise<void>) => {
      for (let i = 0; i < ops; i++) await f()
    }
    const options = { ops: OPS, rounds: ROUNDS, warmupOps: WARMUP }

    const add = await Bench.compare(
      { name: "DeadLetterQueue.add", run: (ops) => times(ops, () => dlq.add(addInput())) },
      { name: "raw add", run: (ops) => rawTimes(ops, raw.add) },
      options
    )
    figures.push(Bench.comparedFigure({
      name: `DeadLetterQueue.add (${backend})`,
      comparison: add,
      baselineName: `${
        backend === "sqlite" ? "better-sqlite3" : "pg"
      }: the same INSERT … ON CONFLICT DO NOTHING RETURNING`,
      config,
      target: { source: SOURCE, maxRatio }
    }))

    const list = await Bench.compare(
      { name: "DeadLetterQueue.list", run: (ops) => times(ops, () => dlq.list({ limit: 50 })) },
      { name: "raw list", run: (ops) => rawTimes(ops, raw.list) },
      options
    )
    figures.push(Bench.comparedFigure({
      name: `DeadLetterQueue.list, a page of 50 (${backend})`,
      comparison: list,
      baselineName: `${backend === "sqlite" ? "better-sqlite3" : "pg"}: the same SELECT … LIMIT 51, rows parsed`,
      config,
      target: { source: SOURCE, maxRatio },
      note: "the layer checks each row's shape before returning it; the baseline only parses the JSON"
    }))

    // Tuned, beside the default: alerts go to a sink that does nothing (the
    // default sink prints one log line per new letter).
    const quiet = ManagedRuntime.make(
      Layer.provide(
        DeadLetterQueue.layerSql(),
        Layer.merge(
          Layer.succeedContext(await runtime.runPromise(Effect.context<SqlClient.SqlClient>())),
          Layer.succeed(AlertSink.AlertSink, { alert: () => Effect.void })
        )
      )
    )
    try {
      const quietDlq = await quiet.runPromise(DeadLetterQueue.DeadLetterQueue)
      const quietAdd = await Bench.compare(
        {
          name: "DeadLetterQueue.add, no-op sink",
          run: (ops) =>
            quiet.runPromise(
              Effect.forEach(Array.from({ length: ops }), () => quietDlq.add(addInput()), { discard: true })
            )
        },
        { name: "raw add", run: (ops) => rawTimes(ops, raw.add) },
        options
      )
      figures.push(Bench.comparedFigure({
        name: `DeadLetterQueue.add, alerts to a no-op sink (${backend}, tuned)`,
        comparison: quietAdd,
        baselineName: `${
          backend === "sqlite" ? "better-sqlite3" : "pg"
        }: the same INSERT … ON CONFLICT DO NOTHING RETURNING`,
        config: { ...config, alertSink: "no-op (tuned)" },
        target: { source: SOURCE, maxRatio }
      }))
    } finally {
      await quiet.dispose()
    }

    // Letters to replay: one fresh, unresolved letter per replay on each side.
    const ours = await runtime.runPromise(
      Effect.forEach(
        Array.from({ length: LETTERS_PER_SIDE }),
        () => Effect.map(dlq.add(addInput()), (a) => a.letter.id)
      )
    )
    const theirs = await runtime.runPromise(
      Effect.forEach(
        Array.from({ length: LETTERS_PER_SIDE }),
        () => Effect.map(dlq.add(addInput()), (a) => a.letter.id)
      )
    )
    let nextOurs = 0
    let nextTheirs = 0
    const replay = await Bench.compare(
      {
        name: "DeadLetterQueue.replay",
        run: (ops) => times(ops, () => dlq.replay(take(ours, nextOurs++), () => Effect.succeed(null)))
      },
      { name: "raw replay", run: (ops) => rawTimes(ops, () => raw.replay(take(theirs, nextTheirs++))) },
      options
    )
    figures.push(Bench.comparedFigure({
      name: `DeadLetterQueue.replay, a handler that succeeds (${backend})`,
      comparison: replay,
      baselineName: `${backend === "sqlite" ? "better-sqlite3" : "pg"}: the same claim UPDATE and complete UPDATE`,
      config,
      target: { source: SOURCE, maxRatio }
    }))
  } finally {
    await raw.close()
    await runtime.dispose()
  }
  return figures
}

const main = async () => {
  let figures: Array<Bench.Figure> = []
  const dir = Fs.mkdtempSync(Path.join(Os.tmpdir(), "agentos-dlq-bench-"))
  try {
    const filename = Path.join(dir, "bench.db")
    figures = figures.concat(
      await runBackend(
        "sqlite",
        Backends.sqlite({ filename }),
        {
          backend: "sqlite",
          journal: "WAL",
          synchronous: "default (NORMAL in WAL: better-sqlite3 builds SQLite with SQLITE_DEFAULT_WAL_SYNCHRONOUS=1)",
          tracing: "default",
          alertSink: "log (default)"
        },
        async () => rawSqlite(filename),
        6
      )
    )
    console.log("sqlite done")
  } finally {
    Fs.rmSync(dir, { recursive: true, force: true })
  }
  // The team machines' local Postgres unless AGENTOS_TEST_PG_URL says otherwise.
  const url = Backends.pgUrl() ?? "postgres://postgres@127.0.0.1:5432/test"
  {
    figures = figures.concat(
      await runBackend(
        "postgres",
        Backends.postgres({ url }),
        {
          backend: "postgres",
          pool: "4 connections, used one at a time",
          tracing: "default",
          alertSink: "log (default)"
        },
        async (runtime) => {
          const schema = await runtime.runPromise(
            Effect.flatMap(SqlClient.SqlClient, (sql) => sql<{ s: string }>`SELECT current_schema() AS s`)
          )
          return rawPg(url, schema[0]!.s)
        },
        2
      )
    )
  }
  for (const figure of figures) {
    console.log(
      `${figure.name}: ${figure.value} ${figure.unit} vs ${figure.baseline?.value} (${figure.baseline?.name}) ratio ${figure.ratio} target met: ${figure.target?.met}`
    )
  }
  console.log(Bench.writeResults("dlq", "pnpm --filter @agentos/dlq bench", figures))
}

main().catch((error) => {
  console.error(error)
  process.exit(1)
})
