// A SQLite database shared with another connection (another process) can be
// busy: every SQL store operation retries SQLITE_BUSY (core's
// Sql.retryTransient) and succeeds once the other connection commits, never
// failing with a StoreError.
import { Backends } from "@agentos/testkit"
import * as SqlClient from "@effect/sql/SqlClient"
import { assert, describe, it } from "@effect/vitest"
import BetterSqlite from "better-sqlite3"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Fiber from "effect/Fiber"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import { SharedState } from "../src/index.js"

describe("SharedState.layerSql on a busy SQLite database", () => {
  it.live("the migrations, a write, a merge, a delete and a lock grant wait for the other connection and succeed", () =>
    Effect.gen(function*() {
      const context = yield* Layer.build(Backends.sqlite())
      const database = Context.get(context, Backends.TestDatabase)
      // The store's connection meets SQLITE_BUSY at once instead of waiting
      // in SQLite's busy handler (which would block the event loop, and so
      // the other connection's commit, for the whole busy timeout).
      yield* Effect.flatMap(SqlClient.SqlClient, (sql) => sql`PRAGMA busy_timeout = 0`).pipe(Effect.provide(context))
      const other = yield* Effect.acquireRelease(
        Effect.sync(() => new BetterSqlite(database.filename!)),
        (db) => Effect.sync(() => db.close())
      )
      // Another connection holds the write lock for 100 ms around each operation.
      const busy = <A, E, R>(operation: Effect.Effect<A, E, R>) =>
        Effect.gen(function*() {
          other.exec("BEGIN IMMEDIATE")
          const release = yield* Effect.fork(
            Effect.sleep("100 millis").pipe(Effect.ensuring(Effect.sync(() => other.exec("COMMIT"))))
          )
          const result = yield* operation
          yield* Fiber.join(release)
          return result
        })
      // Building the layer runs the migrations.
      const state = yield* busy(
        Layer.build(
          Layer.provide(
            SharedState.layerSql({ prefixes: [{ prefix: "merge/", strategy: "merge" }] }),
            Layer.succeedContext(context)
          )
        ).pipe(Effect.map((built) => Context.get(built, SharedState.SharedState)))
      )
      const written = yield* busy(state.set("k", { n: 1 }, { agent: "a" }))
      assert.strictEqual(written.outcome, "written")
      yield* state.set("merge/m", { a: 1 }, { agent: "a" })
      yield* state.set("merge/m", { b: 2 }, { agent: "b", expectedVersion: 1 })
      const merged = yield* busy(state.set("merge/m", { c: 3 }, { agent: "c", expectedVersion: 1 }))
      assert.strictEqual(merged.outcome, "merged")
      assert.isTrue(yield* busy(state.delete("k", { agent: "a" })))
      const fence = yield* busy(Effect.scoped(Effect.map(state.withLock("l", { agent: "a" }), (lock) => lock.fence)))
      assert.strictEqual(fence, 1)
      assert.isTrue(Option.isNone(yield* state.get("k")))
      assert.deepStrictEqual(Option.getOrThrow(yield* state.get("merge/m")).value, { b: 2, c: 3 })
    }).pipe(Effect.scoped))
})
