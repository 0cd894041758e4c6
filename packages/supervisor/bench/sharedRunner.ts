// A runner process of the shared-queue benchmark (bench/shared.ts): runs
// no-op tasks from Postgres at concurrency CONCURRENCY — ours
// (Supervisor.layerSql, the full default path) or graphile-worker 0.17 —
// and writes "<addedAt> <startedAt>" (epoch ms, fractional) to stdout as
// each starts, "ready" once it takes work.
//
//   env: SIDE=ours|graphile, DATABASE (URL, search_path set for ours), SCHEMA (graphile's), CONCURRENCY
import * as Reactivity from "@effect/experimental/Reactivity"
import * as PgClient from "@effect/sql-pg/PgClient"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Redacted from "effect/Redacted"
import { Logger, run } from "graphile-worker"
import * as Supervisor from "../src/Supervisor.js"
import * as Task from "../src/Task.js"
import { noop, sharedOptions } from "./sharedTasks.js"

const side = process.env.SIDE
const database = process.env.DATABASE!
const concurrency = Number(process.env.CONCURRENCY ?? 16)

const now = () => performance.timeOrigin + performance.now()
let buffer: Array<string> = []
const started = (addedAt: number) => {
  buffer.push(`${addedAt} ${now()}`)
  if (buffer.length >= 256) flush()
}
const flush = () => {
  if (buffer.length === 0) return
  process.stdout.write(buffer.join("\n") + "\n")
  buffer = []
}
setInterval(flush, 20)
// A SIGTERM ends the process normally (a --cpu-prof profile is written).
process.on("SIGTERM", () => process.exit(0))

if (side === "ours") {
  const layer = Supervisor.layerSql({
    types: [noop],
    shared: sharedOptions,
    workers: [
      Task.worker(noop, {
        name: "noop",
        maxConcurrent: concurrency,
        handler: (payload) =>
          Effect.sync(() => {
            started(payload.addedAt)
            return payload.n
          })
      })
    ]
  }).pipe(
    Layer.provide(PgClient.layer({ url: Redacted.make(database), maxConnections: 20 })),
    Layer.provide(Reactivity.layer)
  )
  Effect.runFork(
    Effect.zipRight(Effect.sync(() => console.log("ready")), Effect.never).pipe(
      Effect.provide(layer),
      Effect.tapErrorCause(Effect.logError)
    )
  )
} else {
  const runner = await run({
    connectionString: database,
    schema: process.env.SCHEMA!,
    concurrency,
    noHandleSignals: true,
    logger: new Logger(() => () => {}),
    taskList: {
      noop: async (payload) => {
        started((payload as { addedAt: number }).addedAt)
      }
    }
  })
  console.log("ready")
  await runner.promise
}
