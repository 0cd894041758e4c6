// On SQLite the save that completes a workflow and the release of its lease
// are two statements. Once the save has committed, the workflow is completed:
// a release that fails after it must not turn the run into a failure.
import { IdGenerator } from "@agentos/core"
import { Backends } from "@agentos/testkit"
import * as SqlClient from "@effect/sql/SqlClient"
import { assert, describe, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Logger from "effect/Logger"
import * as Schema from "effect/Schema"
import { CheckpointStore, layerSql } from "../src/CheckpointStore.js"
import * as Workflow from "../src/Workflow.js"
import * as WorkflowEngine from "../src/WorkflowEngine.js"

const counter = Workflow.make({ name: "counter", state: Schema.Struct({ n: Schema.Number }) })
  .step({ name: "one", run: (s) => Effect.succeed({ n: s.n + 1 }) })
  .step({ name: "two", run: (s) => Effect.succeed({ n: s.n + 1 }) })

describe("CheckpointStore.layerSql on SQLite", () => {
  it.effect("a release that fails after the completing save leaves the workflow completed, with a log line", () =>
    Effect.gen(function*() {
      const sql = yield* SqlClient.SqlClient
      const store = yield* CheckpointStore
      const workflows = yield* WorkflowEngine.make()
      // The database refuses every release from now on.
      yield* sql`CREATE TRIGGER refuse_release BEFORE UPDATE ON agentos_checkpoint_leases
        WHEN NEW.expires_at = 0 BEGIN SELECT RAISE(ABORT, 'release refused'); END`
      const logs: Array<string> = []
      const logger = Logger.make(({ message }) => {
        logs.push(String(Array.isArray(message) ? message.join(" ") : message))
      })
      const final = yield* workflows.execute(counter, "wf-release", { n: 0 }).pipe(
        Effect.provide(Logger.replace(Logger.defaultLogger, logger))
      )
      assert.deepStrictEqual(final, { n: 2 })
      assert.strictEqual((yield* workflows.status("wf-release")).status, "completed")
      assert.isTrue(logs.some((line) => line.includes("the lease was not released")), logs.join("\n"))
      // The lease was not released: it is still held until its ttl.
      const busy = yield* Effect.flip(store.acquire("wf-release" as never, "someone-else", 1_000))
      assert.strictEqual(busy._tag, "WorkflowBusy")
    }).pipe(
      Effect.provide(
        Layer.mergeAll(layerSql(), IdGenerator.layer).pipe(Layer.provideMerge(Backends.sqlite()))
      )
    ))
})
