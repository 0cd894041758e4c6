// Wall time per step of a no-op ten-step workflow, with the default layers on
// SQLite and Postgres, side by side in one process with (a) the raw driver
// running the identical checkpoint statements with the same settings and
// (b) LangGraph.js running an equivalent ten-node graph with its SQLite and
// Postgres checkpointers (its whole per-step time, runtime included).
//
//   pnpm --filter @agentos/checkpoint bench
import { IdGenerator } from "@agentos/core"
import { Backends, Bench } from "@agentos/testkit"
import * as Reactivity from "@effect/experimental/Reactivity"
import * as PgClient from "@effect/sql-pg/PgClient"
import * as SqliteClient from "@effect/sql-sqlite-node/SqliteClient"
import type * as SqlClient from "@effect/sql/SqlClient"
import { Annotation, END, START, StateGraph } from "@langchain/langgraph"
import { PostgresSaver } from "@langchain/langgraph-checkpoint-postgres"
import { SqliteSaver } from "@langchain/langgraph-checkpoint-sqlite"
import BetterSqlite3 from "better-sqlite3"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as ManagedRuntime from "effect/ManagedRuntime"
import * as Redacted from "effect/Redacted"
import * as Schema from "effect/Schema"
import * as Crypto from "node:crypto"
import * as Fs from "node:fs"
import * as Os from "node:os"
import * as Path from "node:path"
import Pg from "pg"
import * as CheckpointStore from "../src/CheckpointStore.js"
import * as Workflow from "../src/Workflow.js"
import * as WorkflowEngine from "../src/WorkflowEngine.js"

const STEPS = 10
const LEASE_TTL = 30_000
let sequence = 0
const nextId = (prefix: string) => `${prefix}-${process.pid}-${++sequence}`

// --- ours -------------------------------------------------------------------

const State = Schema.Struct({ count: Schema.Number })
let workflow: Workflow.Workflow<typeof State.Type, typeof State.Encoded> = Workflow.make({ name: "noop", state: State })
for (let i = 1; i <= STEPS; i++) {
  workflow = workflow.step({ name: `n${i}`, run: (state) => Effect.succeed({ count: state.count + 1 }) })
}

const ours = (sql: Layer.Layer<SqlClient.SqlClient, unknown>) => {
  const runtime = ManagedRuntime.make(
    WorkflowEngine.layer().pipe(
      Layer.provide(Layer.merge(CheckpointStore.layerSql(), IdGenerator.layer)),
      Layer.provide(sql),
      Layer.provide(Reactivity.layer)
    )
  )
  const contender: Bench.Contender = {
    name: "@agentos/checkpoint",
    run: async (ops) => {
      for (let i = 0; i < ops / STEPS; i++) {
        const result = await runtime.runPromise(
          Effect.flatMap(WorkflowEngine.WorkflowEngine, (w) => w.execute(workflow, nextId("ours"), { count: 0 }))
        )
        if (result.count !== STEPS) throw new Error("ours: wrong final state")
      }
    }
  }
  const tuned: Bench.Contender = {
    name: "@agentos/checkpoint (tracer disabled)",
    run: async (ops) => {
      for (let i = 0; i < ops / STEPS; i++) {
        const result = await runtime.runPromise(
          Effect.flatMap(WorkflowEngine.WorkflowEngine, (w) => w.execute(workflow, nextId("tuned"), { count: 0 })).pipe(
            Effect.withTracerEnabled(false)
          )
        )
        if (result.count !== STEPS) throw new Error("ours (tuned): wrong final state")
      }
    }
  }
  return { contender, tuned, runtime }
}

// --- the identical statements through the raw drivers ----------------------

interface Row {
  readonly [column: string]: unknown
}

/**
 * One new workflow run as the layer issues it. Postgres: the grant and the
 * first checkpoint in one statement (a call of the grant function the
 * layer's migration installs), ten saves (each a call of the save
 * function the layer's migration installs), the last one also releasing the
 * lease in the same statement (11 statements). SQLite: the grant, the
 * first checkpoint (a fenced insert), ten saves, the last one followed by
 * the release (13 statements).
 */
const runStatements = async (
  driver: {
    readonly query: (name: string, text: string, values: ReadonlyArray<unknown>) => Promise<ReadonlyArray<Row>>
  },
  dialect: "sqlite" | "pg"
) => {
  const p = dialect === "pg" ? (n: number) => `$${n}` : () => "?"
  const now = dialect === "pg"
    ? "(floor(extract(epoch from clock_timestamp()) * 1000)::bigint)"
    : "(CAST(ROUND((julianday('now') - 2440587.5) * 86400000.0) AS INTEGER))"
  const json = (n: number) => (dialect === "pg" ? `${p(n)}::jsonb` : p(n))
  const id = nextId("raw")
  const holder = "raw-holder"
  const createdAt = Date.now()
  const columns = `workflow_id, name, version, status, state, completed_steps, attempts, run, failure,
       created_at, updated_at, completed_at, epoch`
  const grant = `INSERT INTO "agentos_checkpoint_leases" (workflow_id, holder, epoch, expires_at, cancel_requested)
     VALUES (${p(1)}, ${p(2)}, 1, ${now} + ${p(3)}, 0)
     ON CONFLICT (workflow_id) DO UPDATE SET holder = excluded.holder,
       epoch = "agentos_checkpoint_leases".epoch + 1, expires_at = excluded.expires_at
     WHERE "agentos_checkpoint_leases".expires_at <= ${now}`
  const first = ["noop", 1, "running", JSON.stringify({ count: 0 }), "[]", "{}", 1, null, createdAt, createdAt, null]
  let epoch: number
  if (dialect === "pg") {
    // The grant function the layer's migration installs (the grant, then the
    // first checkpoint when none exists, in one transaction), prepared.
    const granted = await driver.query(
      "ck_grant_create_call",
      `SELECT granted_epoch AS epoch, granted_cancel_requested AS cancel_requested, created
       FROM agentos_checkpoint_grant_create($1::text, $2::text, $3::bigint, $4::text, $5::integer, $6::text,
         $7::jsonb, $8::jsonb, $9::jsonb, $10::integer, $11::jsonb, $12::bigint, $13::bigint, $14::bigint)`,
      [id, holder, LEASE_TTL, ...first]
    )
    if (granted.length === 0 || Number(granted[0]!.created) !== 1) throw new Error("raw: not created")
    epoch = Number(granted[0]!.epoch)
  } else {
    const granted = await driver.query("ck_grant", `${grant} RETURNING epoch`, [id, holder, LEASE_TTL])
    epoch = Number(granted[0]!.epoch)
    const created = await driver.query(
      "ck_create",
      `INSERT INTO "agentos_checkpoint_workflows" (${columns})
       SELECT ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?
       WHERE EXISTS (SELECT 1 FROM "agentos_checkpoint_leases" WHERE workflow_id = ? AND epoch = ? AND holder = ?)
       ON CONFLICT (workflow_id) DO NOTHING
       RETURNING (SELECT cancel_requested FROM "agentos_checkpoint_leases" l
         WHERE l.workflow_id = "agentos_checkpoint_workflows".workflow_id) AS cancel_requested`,
      [id, ...first, epoch, id, epoch, holder]
    )
    if (created.length === 0) throw new Error("raw: not created")
  }
  const t = (n: number, type: string) => (dialect === "pg" ? `${p(n)}::${type}` : p(n))
  const lock = dialect === "pg" ? "FOR SHARE" : ""
  const upsert =
    `INSERT INTO "agentos_checkpoint_workflows" (workflow_id, name, version, status, state, completed_steps,
         attempts, run, failure, created_at, updated_at, completed_at, epoch)
       SELECT ${t(1, "text")}, ${t(2, "text")}, ${t(3, "integer")}, ${t(4, "text")}, ${json(5)}, ${json(6)},
         ${json(7)}, ${t(8, "integer")}, ${t(9, "jsonb")}, ${t(10, "bigint")}, ${t(11, "bigint")}, ${t(12, "bigint")},
         ${t(13, "bigint")}
       WHERE EXISTS (SELECT 1 FROM "agentos_checkpoint_leases"
         WHERE workflow_id = ${p(14)} AND epoch = ${p(15)} AND holder = ${p(16)} ${lock})
       ON CONFLICT (workflow_id) DO UPDATE SET
         name = excluded.name, version = excluded.version, status = excluded.status, state = excluded.state,
         completed_steps = excluded.completed_steps, attempts = excluded.attempts, run = excluded.run,
         failure = excluded.failure, created_at = excluded.created_at, updated_at = excluded.updated_at,
         completed_at = excluded.completed_at, epoch = excluded.epoch
       RETURNING (SELECT cancel_requested FROM "agentos_checkpoint_leases" l
         WHERE l.workflow_id = "agentos_checkpoint_workflows".workflow_id) AS cancel_requested`
  const releaseText = `UPDATE "agentos_checkpoint_leases" SET expires_at = 0, cancel_requested = 0
     WHERE workflow_id = ${p(1)} AND epoch = ${p(2)} AND holder = ${p(3)}`
  const saveCall = `SELECT agentos_checkpoint_save($1::text, $2::text, $3::integer, $4::text, $5::jsonb, $6::jsonb,
       $7::jsonb, $8::integer, $9::jsonb, $10::bigint, $11::bigint, $12::bigint, $13::bigint, $14::text, $15::boolean)
     AS cancel_requested`
  const save = async (
    status: string,
    state: unknown,
    completed: ReadonlyArray<string>,
    completedAt: number | null,
    release = false
  ) => {
    const values = [
      id,
      "noop",
      1,
      status,
      JSON.stringify(state),
      JSON.stringify(completed),
      JSON.stringify(Object.fromEntries(completed.map((name) => [name, 1]))),
      1,
      null,
      createdAt,
      Date.now(),
      completedAt,
      epoch,
      id,
      epoch,
      holder
    ]
    if (dialect === "pg") {
      // Postgres: the save function the layer's migration installs (the
      // fenced upsert, and the release in the same transaction when asked),
      // called as a named prepared statement.
      const rows = await driver.query("ck_save_call", saveCall, [...values.slice(0, 13), holder, release])
      if (rows.length === 0 || rows[0]!.cancel_requested === null) throw new Error("raw: lease lost")
    } else if (!release) {
      if ((await driver.query("ck_save", upsert, values)).length === 0) throw new Error("raw: lease lost")
    } else {
      // SQLite: the save, then the release (two commits), as the store does.
      if ((await driver.query("ck_save", upsert, values)).length === 0) throw new Error("raw: lease lost")
      await driver.query("ck_release", releaseText, [id, epoch, holder])
    }
  }
  let count = 0
  const completed: Array<string> = []
  for (let i = 1; i <= STEPS; i++) {
    count += 1
    completed.push(`n${i}`)
    // The last step's save also completes the workflow and releases the
    // lease in the same commit, as the engine does.
    if (i < STEPS) await save("running", { count }, completed, null)
    else await save("completed", { count }, completed, Date.now(), true)
  }
}

const rawSqlite = (filename: string): Bench.Contender => {
  const db = new BetterSqlite3(filename)
  db.pragma("journal_mode = WAL") // as SqliteClient; synchronous stays at its default, as there
  const cache = new Map<string, BetterSqlite3.Statement>()
  const prepare = (text: string) => {
    let statement = cache.get(text)
    if (statement === undefined) {
      statement = db.prepare(text)
      cache.set(text, statement)
    }
    return statement
  }
  const driver = {
    query: async (_name: string, text: string, values: ReadonlyArray<unknown>) => {
      const statement = prepare(text)
      return statement.reader ? (statement.all(...values) as ReadonlyArray<Row>) : (statement.run(...values), [])
    }
  }
  return {
    name: "better-sqlite3",
    run: async (ops) => {
      for (let i = 0; i < ops / STEPS; i++) await runStatements(driver, "sqlite")
    }
  }
}

const rawPg = (client: Pg.Client): Bench.Contender => {
  const driver = {
    query: async (name: string, text: string, values: ReadonlyArray<unknown>) =>
      (await client.query({ name, text, values: values as Array<unknown> })).rows as ReadonlyArray<Row>
  }
  return {
    name: "pg",
    run: async (ops) => {
      for (let i = 0; i < ops / STEPS; i++) await runStatements(driver, "pg")
    }
  }
}

// --- LangGraph.js -----------------------------------------------------------

const GraphState = Annotation.Root({ count: Annotation<number> })

/**
 * LangGraph with its defaults (`durability: "async"`: a step's checkpoint is
 * written while the next step runs, so a crash can lose it), or with
 * `durability: "sync"` (each step's checkpoint written before the next step
 * starts — the guarantee our engine always gives).
 */
const langGraph = (
  name: string,
  checkpointer: SqliteSaver | PostgresSaver,
  durability?: "sync"
): Bench.Contender => {
  const graph: any = new StateGraph(GraphState)
  for (let i = 1; i <= STEPS; i++) graph.addNode(`n${i}`, (state: { count: number }) => ({ count: state.count + 1 }))
  graph.addEdge(START, "n1")
  for (let i = 1; i < STEPS; i++) graph.addEdge(`n${i}`, `n${i + 1}`)
  graph.addEdge(`n${STEPS}`, END)
  const app = graph.compile({ checkpointer })
  return {
    name,
    run: async (ops) => {
      for (let i = 0; i < ops / STEPS; i++) {
        const result = await app.invoke(
          { count: 0 },
          { configurable: { thread_id: nextId("lg") }, ...(durability === undefined ? {} : { durability }) }
        )
        if (result.count !== STEPS) throw new Error("LangGraph: wrong final state")
      }
    }
  }
}

// --- the run ----------------------------------------------------------------

const figures: Array<Bench.Figure> = []
const options = { ops: 200, rounds: 9, warmupOps: 1000 }

/**
 * The figures of one backend, all against the same engine: the raw
 * statements (default, then with the tracer disabled), then LangGraph with
 * its default durability (the target) and with durability "sync" (context).
 */
const measure = async (fields: {
  readonly backend: "SQLite" | "Postgres"
  readonly mine: ReturnType<typeof ours>
  readonly raw: () => Bench.Contender
  readonly rawName: string
  readonly rawTarget: number
  readonly rawNote: string
  readonly saver: SqliteSaver | PostgresSaver
  readonly saverName: "SqliteSaver" | "PostgresSaver"
  readonly config: Record<string, string>
  readonly langGraphConfig: Record<string, string>
}) => {
  const { backend, config, mine, rawName, saver, saverName } = fields
  const raw = await Bench.compare(mine.contender, fields.raw(), options)
  figures.push(Bench.comparedFigure({
    name: `ten-step no-op workflow, per step, ${backend}: WorkflowEngine.execute vs the raw statements`,
    comparison: raw,
    baselineName: rawName,
    config,
    target: { source: "issue #5", maxRatio: fields.rawTarget },
    note: fields.rawNote
  }))
  const rawTuned = await Bench.compare(mine.tuned, fields.raw(), options)
  figures.push(Bench.comparedFigure({
    name:
      `ten-step no-op workflow, per step, ${backend}, tuned (tracer disabled): WorkflowEngine.execute vs the raw statements`,
    comparison: rawTuned,
    baselineName: rawName,
    config: { ...config, tracing: "disabled (Effect.withTracerEnabled(false))" },
    note: "a tuned run beside the default one, not instead of it"
  }))
  const lg = await Bench.compare(mine.contender, langGraph(`LangGraph.js + ${saverName}`, saver), options)
  figures.push(Bench.comparedFigure({
    name: `ten-step no-op workflow, per step, ${backend}: WorkflowEngine.execute vs LangGraph.js`,
    comparison: lg,
    baselineName: `LangGraph.js 1.7 ten-node graph with ${saverName} (whole per-step time)`,
    config: { ...config, ...fields.langGraphConfig },
    target: { source: "issue #5", maxRatio: 0.2 },
    note: "LangGraph with its default durability (\"async\": a step's checkpoint is written while the next step runs)"
  }))
  const lgSync = await Bench.compare(
    mine.contender,
    langGraph(`LangGraph.js + ${saverName}, durability sync`, saver, "sync"),
    options
  )
  figures.push(Bench.comparedFigure({
    name: `ten-step no-op workflow, per step, ${backend}: WorkflowEngine.execute vs LangGraph.js, durability sync`,
    comparison: lgSync,
    baselineName: `LangGraph.js 1.7 ten-node graph with ${saverName}, durability "sync" (whole per-step time)`,
    config: { ...config, ...fields.langGraphConfig },
    note:
      "context beside the target figure, not instead of it: with durability \"sync\" LangGraph writes each step's checkpoint before the next step starts, the guarantee our engine always gives"
  }))
}

const sqliteRun = async () => {
  const dir = Fs.mkdtempSync(Path.join(Os.tmpdir(), "agentos-checkpoint-bench-"))
  try {
    const filename = Path.join(dir, "bench.db")
    const mine = ours(SqliteClient.layer({ filename }))
    await mine.runtime.runPromise(Effect.flatMap(WorkflowEngine.WorkflowEngine, () => Effect.void)) // migrations
    await measure({
      backend: "SQLite",
      mine,
      raw: () => rawSqlite(filename),
      rawName: "better-sqlite3 running the identical checkpoint statements",
      rawTarget: 6,
      rawNote:
        "per workflow (13 statements): the lease grant; the first checkpoint (an insert fenced by the lease, only when none exists); 10 saves (each one fenced upsert), the last one completing the workflow; the release. SQLite synchronous at its default (NORMAL in WAL mode with better-sqlite3's build); the engine also renews the lease from its watchdog every 10 s (not reached here)",
      saver: SqliteSaver.fromConnString(Path.join(dir, "langgraph.db")),
      saverName: "SqliteSaver",
      config: {
        backend: "sqlite (temp file)",
        journal_mode: "WAL",
        synchronous: "default (NORMAL in WAL: better-sqlite3 builds SQLite with SQLITE_DEFAULT_WAL_SYNCHRONOUS=1)",
        tracing: "default (no exporter)"
      },
      langGraphConfig: { langgraphJournal: "WAL (SqliteSaver sets it)" }
    })
    await mine.runtime.dispose()
  } finally {
    Fs.rmSync(dir, { recursive: true, force: true })
  }
}

const postgresRun = async (url: string) => {
  const schema = `agentos_ckbench_${process.pid}_${Crypto.randomBytes(4).toString("hex")}`
  const admin = new Pg.Client({ connectionString: url })
  await admin.connect()
  await admin.query(`CREATE SCHEMA ${schema}`)
  const schemaUrl = new URL(url)
  schemaUrl.searchParams.set("options", `-c search_path=${schema}`)
  try {
    const mine = ours(PgClient.layer({ url: Redacted.make(schemaUrl.toString()) }))
    await mine.runtime.runPromise(Effect.flatMap(WorkflowEngine.WorkflowEngine, () => Effect.void)) // migrations
    const client = new Pg.Client({ connectionString: schemaUrl.toString() })
    await client.connect()
    const saver = PostgresSaver.fromConnString(url, { schema })
    await saver.setup()
    await measure({
      backend: "Postgres",
      mine,
      raw: () => rawPg(client),
      rawName: "pg (one client, prepared) running the identical checkpoint statements",
      rawTarget: 2,
      rawNote:
        "per workflow (11 statements, 11 commits): the lease grant and the first checkpoint in one statement (a call of the PL/pgSQL grant function the layer's migration installs; the insert only when none exists); 10 saves (each a call of the PL/pgSQL save function the layer's migration installs: one fenced upsert), the last one completing the workflow and releasing the lease in the same statement (the function's release, in the same transaction); synchronous_commit on (server default); the engine also renews the lease from its watchdog every 10 s (not reached here)",
      saver,
      saverName: "PostgresSaver",
      config: { backend: "postgres (local, fresh schema)", pool: "PgClient default", tracing: "default (no exporter)" },
      langGraphConfig: {}
    })
    await client.end()
    await saver.end()
    await mine.runtime.dispose()
  } finally {
    await admin.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`)
    await admin.end()
  }
}

const main = async () => {
  const started = performance.now()
  await sqliteRun()
  const url = Backends.pgUrl() ?? process.env.AGENTOS_BENCH_PG_URL ?? "postgres://postgres@127.0.0.1:5432/test"
  await postgresRun(url)
  for (const figure of figures) {
    console.log(
      `${figure.name}: ${figure.value} ${figure.unit} vs ${figure.baseline?.value} (${figure.baseline?.name}), ratio ${figure.ratio}, target met: ${figure.target?.met}`
    )
  }
  const file = Bench.writeResults("checkpoint", "pnpm --filter @agentos/checkpoint bench", figures)
  console.log(`wrote ${file} in ${((performance.now() - started) / 1000).toFixed(1)} s`)
}

main().catch((error) => {
  console.error(error)
  process.exit(1)
})
