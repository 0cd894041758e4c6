// A supervisor process for the multi-process tests: shares the Postgres
// queue at DATABASE (a URL whose search_path is the test's schema) and runs
// its workers until it is killed. Each handler start appends
// "<event> <task id> <pid>" to MARKERS; dead letters are appended there too.
//
//   node --import tsx --conditions=@agentos/source test/processes/runner.ts
//   env: DATABASE, MARKERS, HANG=1 (a `job` with hang: true never returns here)
import * as DeadLetters from "@agentos/core/DeadLetters"
import * as Reactivity from "@effect/experimental/Reactivity"
import * as PgClient from "@effect/sql-pg/PgClient"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Redacted from "effect/Redacted"
import * as Fs from "node:fs"
import * as Supervisor from "../../src/Supervisor.js"
import * as Task from "../../src/Task.js"
import { flaky, job, poison, sharedOptions } from "./tasks.js"

const env = (name: string): string => {
  const value = process.env[name]
  if (value === undefined || value === "") throw new Error(`${name} is not set`)
  return value
}

const markers = env("MARKERS")
const hang = process.env.HANG === "1"

const mark = (line: string) => {
  const fd = Fs.openSync(markers, "a")
  Fs.writeSync(fd, `${line} ${process.pid}\n`)
  Fs.fsyncSync(fd)
  Fs.closeSync(fd)
}

const deadLetters = Layer.succeed(DeadLetters.DeadLetters, {
  send: (letter) =>
    Effect.sync(() => {
      mark(`letter ${letter.taskId} ${letter.attempts}`)
      return { letterId: `letter-${letter.taskId}` as never, duplicate: false }
    })
})

const supervisor = Supervisor.layerSql({
  types: [job, poison, flaky],
  shared: sharedOptions,
  workers: [
    Task.worker(job, {
      name: "jobs",
      maxConcurrent: 4,
      handler: (payload, context) =>
        Effect.sync(() => mark(`start ${context.taskId}`)).pipe(
          Effect.zipRight(payload.hang && hang ? Effect.never : Effect.sleep("30 millis")),
          Effect.as(payload.n * 2)
        )
    }),
    Task.worker(poison, {
      name: "poison",
      maxConcurrent: 1,
      handler: (_, context) =>
        Effect.sync(() => {
          mark(`start ${context.taskId}`)
          process.kill(process.pid, "SIGKILL")
          return 0
        })
    }),
    Task.worker(flaky, {
      name: "flaky",
      maxConcurrent: 1,
      handler: (_, context) => Effect.zipRight(Effect.sync(() => mark(`start ${context.taskId}`)), Effect.fail("flaky"))
    })
  ]
}).pipe(
  Layer.provide(Layer.merge(
    PgClient.layer({ url: Redacted.make(env("DATABASE")), maxConnections: 4 }),
    deadLetters
  )),
  Layer.provide(Reactivity.layer)
)

mark("ready -")
Effect.runFork(Layer.launch(supervisor).pipe(Effect.tapErrorCause((cause) => Effect.logError(cause))))
