import { Conformance } from "@agentos/testkit"
import * as SqlClient from "@effect/sql/SqlClient"
import { SqlError } from "@effect/sql/SqlError"
import { assert } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Sql from "../src/Sql.js"

const passthrough = Layer.effect(SqlClient.SqlClient, SqlClient.SqlClient)

const migrations = (sql: SqlClient.SqlClient, table: string): Sql.Migrations => ({
  "0001_create": sql`CREATE TABLE ${sql(table)} (id integer PRIMARY KEY, doc ${
    Sql.jsonType(sql)
  } NOT NULL, at bigint NOT NULL)`,
  "0002_index": sql`CREATE INDEX ${sql(`${table}_at`)} ON ${sql(table)} (at)`
})

const tableExists = (sql: SqlClient.SqlClient, table: string) =>
  sql.onDialectOrElse({
    pg: () =>
      sql<
        { n: unknown }
      >`SELECT COUNT(*) AS n FROM information_schema.tables WHERE table_schema = current_schema() AND table_name = ${table}`,
    orElse: () => sql<{ n: unknown }>`SELECT COUNT(*) AS n FROM sqlite_master WHERE type = 'table' AND name = ${table}`
  }).pipe(Effect.map((rows) => Sql.toNumber(rows[0]!.n) === 1))

Conformance.conformance("Sql support", { sql: passthrough }, [
  Conformance.test(
    "migrate runs a package's migrations from an empty database, in its own table, once",
    Effect.gen(function*() {
      const sql = yield* SqlClient.SqlClient
      const first = yield* Sql.migrate({ packageName: "alpha", migrations: migrations(sql, "alpha_docs") })
      assert.deepStrictEqual(first, [[1, "create"], [2, "index"]])
      assert.isTrue(yield* tableExists(sql, "agentos_alpha_migrations"))
      assert.deepStrictEqual(
        yield* Sql.migrate({ packageName: "alpha", migrations: migrations(sql, "alpha_docs") }),
        []
      )
      // Another package with the same migration ids is not skipped.
      const other = yield* Sql.migrate({ packageName: "beta", migrations: migrations(sql, "beta_docs") })
      assert.strictEqual(other.length, 2)
      assert.isTrue(yield* tableExists(sql, "beta_docs"))
      // A new migration added later runs alone.
      const later = yield* Sql.migrate({
        packageName: "alpha",
        migrations: { ...migrations(sql, "alpha_docs"), "0003_more": sql`ALTER TABLE alpha_docs ADD COLUMN note text` }
      })
      assert.deepStrictEqual(later, [[3, "more"]])
    })
  ),
  Conformance.test(
    "concurrent migrate calls migrate exactly once and all succeed",
    Effect.gen(function*() {
      const sql = yield* SqlClient.SqlClient
      const results = yield* Effect.all(
        Array.from(
          { length: 4 },
          () => Sql.migrate({ packageName: "gamma", migrations: migrations(sql, "gamma_docs") })
        ),
        { concurrency: "unbounded" }
      )
      assert.strictEqual(results.reduce((n, ran) => n + ran.length, 0), 2)
    }),
    { live: true }
  ),
  Conformance.test(
    "a failing migration is a typed MigrationError naming it",
    Effect.gen(function*() {
      const sql = yield* SqlClient.SqlClient
      const error = yield* Effect.flip(
        Sql.migrate({ packageName: "delta", migrations: { "0001_broken": sql`CREATE TABLE broken (` } })
      )
      assert.strictEqual(error._tag, "MigrationError")
      assert.include(error.message, "1_broken")
    })
  ),
  Conformance.test(
    "JSON columns round-trip on both dialects",
    Effect.gen(function*() {
      const sql = yield* SqlClient.SqlClient
      yield* Sql.migrate({ packageName: "json", migrations: migrations(sql, "json_docs") })
      const doc = { text: "héllo 👋 \"quoted\"", n: 1.5, big: 2 ** 52, list: [null, true, { deep: [1, 2] }] }
      yield* sql`INSERT INTO json_docs (id, doc, at) VALUES (1, ${Sql.json(sql, doc)}, ${Sql.nowMillis(sql)})`
      const rows = yield* sql<{ doc: unknown; at: unknown }>`SELECT doc, at FROM json_docs WHERE id = 1`
      assert.deepStrictEqual(Sql.parseJson(rows[0]!.doc), doc)
      assert.isNumber(Sql.toNumber(rows[0]!.at))
    })
  ),
  Conformance.test(
    "the database clock is in epoch milliseconds",
    Effect.gen(function*() {
      const before = Date.now()
      const now = yield* Sql.now
      const after = Date.now()
      assert.isTrue(Number.isInteger(now))
      // Same machine here, so the clocks agree to within a second.
      assert.isAtLeast(now, before - 1_000)
      assert.isAtMost(now, after + 1_000)
    }),
    { live: true }
  ),
  Conformance.test(
    "unique violations are recognised and SqlErrors map to a package error",
    Effect.gen(function*() {
      const sql = yield* SqlClient.SqlClient
      yield* Sql.migrate({ packageName: "uniq", migrations: migrations(sql, "uniq_docs") })
      yield* sql`INSERT INTO uniq_docs (id, doc, at) VALUES (1, ${Sql.json(sql, {})}, 0)`
      const error = yield* Effect.flip(sql`INSERT INTO uniq_docs (id, doc, at) VALUES (1, ${Sql.json(sql, {})}, 0)`)
      assert.isTrue(Sql.isUniqueViolation(error))
      assert.isFalse(Sql.isRetryable(error))
      const mapped = yield* Effect.flip(
        sql`SELECT * FROM no_such_table`.pipe(
          Sql.mapError((e) => ({ _tag: "StoreError" as const, message: Sql.describe(e) }))
        )
      )
      assert.strictEqual(mapped._tag, "StoreError")
      assert.include(mapped.message.toLowerCase(), "no_such_table")
    })
  )
])

Conformance.conformance("Sql.mapError", { memory: Layer.empty }, [
  Conformance.test(
    "keeps errors other than SqlError untouched",
    Effect.gen(function*() {
      const other = yield* Effect.flip(
        Effect.fail({ _tag: "Other" as const }).pipe(Sql.mapError(() => "mapped"))
      )
      assert.deepStrictEqual(other, { _tag: "Other" })
      const mapped = yield* Effect.flip(Effect.fail(new SqlError({ message: "x" })).pipe(Sql.mapError(() => "mapped")))
      assert.strictEqual(mapped, "mapped")
    })
  )
])
