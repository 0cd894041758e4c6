import * as SqlClient from "@effect/sql/SqlClient"
import { assert, describe, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Layer from "effect/Layer"
import * as Backends from "../src/Backends.js"

const tables = Effect.gen(function*() {
  const sql = yield* SqlClient.SqlClient
  yield* sql`CREATE TABLE marker (id integer PRIMARY KEY)`
  yield* sql`INSERT INTO marker (id) VALUES (1)`
  const rows = yield* sql<{ n: number | string }>`SELECT COUNT(*) AS n FROM marker`
  return Number(rows[0]!.n)
})

describe("Backends", () => {
  it.effect("every SQLite build is a fresh, empty database", () =>
    Effect.gen(function*() {
      assert.strictEqual(yield* Effect.provide(tables, Backends.sqlite()), 1)
      assert.strictEqual(yield* Effect.provide(tables, Backends.sqlite()), 1)
    }))

  it.effect.skipIf(Backends.pgUrl() === undefined)(
    "every Postgres build is a fresh schema, dropped afterwards",
    () =>
      Effect.gen(function*() {
        assert.strictEqual(yield* Effect.provide(tables, Backends.postgres()), 1)
        assert.strictEqual(yield* Effect.provide(tables, Backends.postgres()), 1)
        const leftovers = yield* Effect.provide(
          Effect.flatMap(SqlClient.SqlClient, (sql) =>
            sql<
              { n: number | string }
            >`SELECT COUNT(*) AS n FROM pg_namespace WHERE nspname LIKE ${`agentos_t_${process.pid}_%`}`),
          Backends.postgres()
        )
        // Only the schema of the build doing this query exists now.
        assert.strictEqual(Number(leftovers[0]!.n), 1)
      })
  )

  it.effect("an unreachable Postgres fails the build with a SqlError", () =>
    Effect.gen(function*() {
      const exit = yield* Effect.exit(
        Effect.provide(tables, Backends.postgres({ url: "postgres://postgres@127.0.0.1:1/test" }))
      )
      assert.isTrue(Exit.isFailure(exit))
    }).pipe(Effect.provide(Layer.empty)), { timeout: 20_000 })
})

describe("TestDatabase", () => {
  const roundTrip = (attach: (db: typeof Backends.TestDatabase.Service) => Layer.Layer<SqlClient.SqlClient, unknown>) =>
    Effect.gen(function*() {
      const sql = yield* SqlClient.SqlClient
      const db = yield* Backends.TestDatabase
      yield* sql`CREATE TABLE shared (id integer PRIMARY KEY)`
      yield* sql`INSERT INTO shared (id) VALUES (7)`
      // A second client onto the same database sees the first one's data.
      const rows = yield* Effect.provide(
        Effect.flatMap(SqlClient.SqlClient, (other) => other<{ id: number }>`SELECT id FROM shared`),
        attach(db)
      )
      assert.deepStrictEqual(rows.map((row) => row.id), [7])
    })

  it.scoped("a second SQLite client attaches to the same file", () =>
    Effect.provide(roundTrip((db) => Backends.sqlite({ filename: db.filename! })), Backends.sqlite()))

  it.scoped.skipIf(Backends.pgUrl() === undefined)(
    "a second Postgres pool attaches to the same schema",
    () => Effect.provide(roundTrip((db) => Backends.postgres({ schema: db.schema! })), Backends.postgres())
  )
})
