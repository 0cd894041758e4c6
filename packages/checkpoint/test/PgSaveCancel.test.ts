// On Postgres a save and a cancellation request meet on the lease row: the
// save share-locks it, the request updates it. Under READ COMMITTED a save
// that waited for a request to commit locks the updated row, so the request
// is part of what the save answers (its `cancelRequested`): the runner then
// stops, and a failing step's save records the workflow as cancelled
// instead of the request being cleared with the lease. (SQLite and the
// other stores run one write at a time: nothing to interleave there.)
import type { WorkflowId } from "@agentos/core/Ids"
import { Backends } from "@agentos/testkit"
import * as SqlClient from "@effect/sql/SqlClient"
import { assert, describe, it } from "@effect/vitest"
import * as Deferred from "effect/Deferred"
import * as Effect from "effect/Effect"
import * as Fiber from "effect/Fiber"
import * as Layer from "effect/Layer"
import * as Schedule from "effect/Schedule"
import * as TestServices from "effect/TestServices"
import { CheckpointStore, layerSql } from "../src/CheckpointStore.js"
import { checkpoint } from "../src/Testing.js"

const id = "wf-save-cancel" as WorkflowId

describe("CheckpointStore.layerSql on Postgres: a save and a cancellation in flight", () => {
  for (const backend of Backends.sqlBackends().filter((b) => b.name === "postgres")) {
    it.effect(
      "a save that waited for a cancellation request to commit reports it",
      () =>
        Effect.gen(function*() {
          const sql = yield* SqlClient.SqlClient
          const store = yield* CheckpointStore
          const lease = yield* store.acquire(id, "runner-a", 30_000)
          yield* store.save(lease, checkpoint(id))
          const updated = yield* Deferred.make<number>()
          const commit = yield* Deferred.make<void>()
          // Another session's cancellation request, its transaction held open.
          const canceller = yield* Effect.fork(sql.withTransaction(Effect.gen(function*() {
            const rows = yield* sql<{ readonly pid: number }>`UPDATE agentos_checkpoint_leases
              SET cancel_requested = 1 WHERE workflow_id = ${id} AND expires_at > 0
              RETURNING pg_backend_pid() AS pid`
            yield* Deferred.succeed(updated, rows[0]!.pid)
            yield* Deferred.await(commit)
          })))
          const cancellerPid = yield* Deferred.await(updated)
          const saving = yield* Effect.fork(store.save(lease, checkpoint(id, { completedSteps: ["a", "b"] })))
          // The save has started (its statement's snapshot is taken) and waits for the row.
          yield* sql<{ readonly waiting: unknown }>`SELECT count(*) AS waiting FROM pg_stat_activity
            WHERE ${cancellerPid}::integer = ANY(pg_blocking_pids(pid))`.pipe(
            Effect.filterOrFail((rows) => Number(rows[0]!.waiting) > 0),
            Effect.retry(Schedule.spaced("10 millis").pipe(Schedule.upTo("10 seconds"))),
            TestServices.provideLive
          )
          yield* Deferred.succeed(commit, undefined)
          yield* Fiber.join(canceller)
          const saved = yield* Fiber.join(saving)
          assert.isTrue(saved.cancelRequested, "the save answered without the request it waited for")
          // The save is written, and the request is still pending.
          const loaded = yield* store.load(id)
          assert.deepStrictEqual(loaded._tag === "Some" ? loaded.value.completedSteps : [], ["a", "b"])
          assert.isTrue((yield* store.renew(lease)).cancelRequested)
        }).pipe(Effect.provide(layerSql().pipe(Layer.provideMerge(backend.layer)))),
      30_000
    )
  }
})
