// A child process for the crash test: runs the five-step workflow on SQLite
// or Postgres, appending "<step> <pid>" to a marker file when each step
// starts. With HANG_AT=<index>, that step hangs after its marker (the parent
// SIGKILLs the process there). Prints the final state as JSON on success.
//
//   node --import tsx --conditions=@agentos/source test/crash/runner.ts
//   env: BACKEND=sqlite|postgres, DATABASE=<file or url>, WORKFLOW_ID, MARKERS, HANG_AT
import { IdGenerator } from "@agentos/core"
import * as Reactivity from "@effect/experimental/Reactivity"
import * as PgClient from "@effect/sql-pg/PgClient"
import * as SqliteClient from "@effect/sql-sqlite-node/SqliteClient"
import type * as SqlClient from "@effect/sql/SqlClient"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Redacted from "effect/Redacted"
import * as Schema from "effect/Schema"
import * as Fs from "node:fs"
import * as CheckpointStore from "../../src/CheckpointStore.js"
import * as Workflow from "../../src/Workflow.js"
import * as WorkflowEngine from "../../src/WorkflowEngine.js"

// The five steps of Testing's fixture (not imported from Testing: this
// process runs outside vitest).
const State = Schema.Struct({ total: Schema.Number, trail: Schema.Array(Schema.String) })
type State = typeof State.Type
const names = ["s1", "s2", "s3", "s4", "s5"] as const

const env = (name: string): string => {
  const value = process.env[name]
  if (value === undefined || value === "") throw new Error(`${name} is not set`)
  return value
}

const backend = env("BACKEND")
const database = env("DATABASE")
const workflowId = env("WORKFLOW_ID")
const markers = env("MARKERS")
const hangAt = process.env.HANG_AT === undefined ? -1 : Number(process.env.HANG_AT)

const mark = (step: string) => {
  const fd = Fs.openSync(markers, "a")
  Fs.writeSync(fd, `${step} ${process.pid}\n`)
  Fs.fsyncSync(fd)
  Fs.closeSync(fd)
}

let workflow: Workflow.Workflow<State, typeof State.Encoded> = Workflow.make({ name: "five", state: State })
names.forEach((name, index) => {
  workflow = workflow.step({
    name,
    run: (state) =>
      Effect.sync(() => mark(name)).pipe(
        Effect.zipRight(index === hangAt ? Effect.never : Effect.sleep("20 millis")),
        Effect.as({ total: state.total + index + 1, trail: [...state.trail, name] })
      )
  })
})

const sql: Layer.Layer<SqlClient.SqlClient, unknown> = backend === "sqlite"
  ? SqliteClient.layer({ filename: database })
  : PgClient.layer({ url: Redacted.make(database), maxConnections: 2 })

const program = Effect.gen(function*() {
  const workflows = yield* WorkflowEngine.WorkflowEngine
  const final = yield* workflows.execute(workflow, workflowId, { total: 0, trail: [] }, {
    onBusy: "wait",
    waitTimeout: "20 seconds"
  })
  process.stdout.write(JSON.stringify(Schema.encodeSync(State)(final)) + "\n")
})

const layer = WorkflowEngine.layer({ leaseTtl: "1 second" }).pipe(
  Layer.provide(Layer.merge(CheckpointStore.layerSql(), IdGenerator.layer)),
  Layer.provide(sql),
  Layer.provide(Reactivity.layer)
)

Effect.runPromise(Effect.provide(program, layer)).then(
  () => process.exit(0),
  (error) => {
    process.stderr.write(String(error) + "\n")
    process.exit(1)
  }
)
