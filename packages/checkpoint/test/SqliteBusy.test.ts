// The SQL store on a SQLite file another connection is writing to: a
// statement that meets SQLITE_BUSY is retried (Sql.retryTransient) until the
// other connection commits, instead of failing with a StoreError.
import type { WorkflowId } from "@agentos/core/Ids"
import { Backends } from "@agentos/testkit"
import * as SqlClient from "@effect/sql/SqlClient"
import { assert, describe, it } from "@effect/vitest"
import BetterSqlite from "better-sqlite3"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Fiber from "effect/Fiber"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import { CheckpointStore, layerSql } from "../src/CheckpointStore.js"
import { checkpoint } from "../src/Testing.js"

describe("CheckpointStore.layerSql on a busy SQLite file", () => {
  it.live("grants, saves, renews, releases and prunes wait for the other writer and succeed", () =>
    Effect.gen(function*() {
      const context = yield* Layer.build(Backends.sqlite())
      const database = Context.get(context, Backends.TestDatabase)
      const store = yield* Layer.build(Layer.provide(layerSql(), Layer.succeedContext(context))).pipe(
        Effect.map((built) => Context.get(built, CheckpointStore))
      )
      // The store's connection meets SQLITE_BUSY at once instead of waiting
      // in SQLite's busy handler (which would block the event loop, and so
      // the other connection's commit, for the whole busy timeout).
      yield* Effect.flatMap(SqlClient.SqlClient, (sql) => sql`PRAGMA busy_timeout = 0`).pipe(Effect.provide(context))
      const other = yield* Effect.acquireRelease(
        Effect.sync(() => new BetterSqlite(database.filename!)),
        (db) => Effect.sync(() => db.close())
      )
      // Another connection holds the write lock for 100 ms during each write.
      const busyWhile = <A, E>(effect: Effect.Effect<A, E>) =>
        Effect.gen(function*() {
          other.exec("BEGIN IMMEDIATE")
          const commit = yield* Effect.fork(
            Effect.sleep("100 millis").pipe(Effect.ensuring(Effect.sync(() => other.exec("COMMIT"))))
          )
          const result = yield* effect
          yield* Fiber.join(commit)
          return result
        })
      const id = "wf" as WorkflowId
      const lease = yield* busyWhile(store.acquire(id, "runner", 30_000))
      assert.strictEqual(lease.epoch, 1)
      yield* busyWhile(store.save(lease, checkpoint("wf", { status: "completed", completedAt: 3_000 })))
      assert.isFalse((yield* busyWhile(store.renew(lease))).cancelRequested)
      assert.isTrue(yield* busyWhile(store.requestCancel(id)))
      yield* busyWhile(store.release(lease))
      assert.strictEqual(Option.getOrThrow(yield* store.load(id)).status, "completed")
      assert.strictEqual(yield* busyWhile(store.prune({ statuses: ["completed"], updatedBefore: 1_000_000 })), 1)
      assert.isTrue(Option.isNone(yield* store.load(id)))
    }).pipe(Effect.scoped))
})
