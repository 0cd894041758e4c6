import { Backends } from "@agentos/testkit"
import * as SqlClient from "@effect/sql/SqlClient"
import { assert, describe, it } from "@effect/vitest"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Layer from "effect/Layer"
import * as Ref from "effect/Ref"
import * as Sql from "../src/Sql.js"

// Two clients on one SQLite file, as two processes would be: the first holds
// the write lock for a while; the second has no busy timeout, so every write
// it tries meanwhile fails with SQLITE_BUSY at once.
const twoClients = Effect.gen(function*() {
  const first = yield* Layer.build(Backends.sqlite())
  const filename = Context.get(first, Backends.TestDatabase).filename!
  const second = yield* Layer.build(Backends.sqlite({ filename }))
  const a = Context.get(first, SqlClient.SqlClient)
  const b = Context.get(second, SqlClient.SqlClient)
  yield* b`PRAGMA busy_timeout = 0`
  yield* a`CREATE TABLE t (id integer PRIMARY KEY)`
  return { a, b }
})

const holdWriteLock = (a: SqlClient.SqlClient, millis: number) =>
  a.withTransaction(Effect.zipRight(a`INSERT INTO t (id) VALUES (1)`, Effect.sleep(millis)))

describe("Sql.retryTransient", () => {
  it.scopedLive("without it, a write while another connection holds the lock fails with SQLITE_BUSY", () =>
    Effect.gen(function*() {
      const { a, b } = yield* twoClients
      const holder = yield* Effect.fork(holdWriteLock(a, 300))
      yield* Effect.sleep(50)
      const result = yield* Effect.either(b`INSERT INTO t (id) VALUES (2)`)
      assert.isTrue(Either.isLeft(result))
      assert.isTrue(Sql.isRetryable(Either.getLeft(result).pipe((o) => o._tag === "Some" ? o.value : undefined)!))
      yield* holder.await
    }))

  it.scopedLive("with it, the write waits for the lock and succeeds once the holder commits", () =>
    Effect.gen(function*() {
      const { a, b } = yield* twoClients
      const attempts = yield* Ref.make(0)
      const holder = yield* Effect.fork(holdWriteLock(a, 300))
      yield* Effect.sleep(50)
      yield* Ref.update(attempts, (n) => n + 1).pipe(
        Effect.zipRight(b`INSERT INTO t (id) VALUES (2)`),
        Sql.retryTransient()
      )
      yield* holder.await
      assert.isAbove(yield* Ref.get(attempts), 1, "the write was retried")
      const rows = yield* b<{ id: unknown }>`SELECT id FROM t ORDER BY id`
      assert.deepStrictEqual(rows.map((row) => Sql.toNumber(row.id)), [1, 2])
    }))

  it.scopedLive("gives up after maxElapsed with the last error, and never retries other errors", () =>
    Effect.gen(function*() {
      const { a, b } = yield* twoClients
      const holder = yield* Effect.fork(holdWriteLock(a, 1_000))
      yield* Effect.sleep(50)
      const busy = yield* Effect.either(
        Sql.retryTransient(b`INSERT INTO t (id) VALUES (3)`, { maxElapsed: "100 millis" })
      )
      assert.isTrue(Either.isLeft(busy))
      yield* holder.await
      const attempts = yield* Ref.make(0)
      const syntax = yield* Effect.either(
        Ref.update(attempts, (n) => n + 1).pipe(
          Effect.zipRight(b`INSERT INTO nowhere VALUES (1)`),
          Sql.retryTransient()
        )
      )
      assert.isTrue(Either.isLeft(syntax))
      assert.strictEqual(yield* Ref.get(attempts), 1)
    }))
})
