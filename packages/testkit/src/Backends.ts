/**
 * Throw-away SQL backends for tests and benchmarks: every build of a layer
 * gets its own SQLite file or Postgres schema, removed when the layer's scope
 * closes, so suites running in parallel never collide.
 *
 * Postgres comes from `AGENTOS_TEST_PG_URL`. Pools are capped (4 connections
 * per build by default) so that all suites together stay well inside
 * Postgres's default 100 connections.
 */
import * as Reactivity from "@effect/experimental/Reactivity"
import * as PgClient from "@effect/sql-pg/PgClient"
import * as SqliteClient from "@effect/sql-sqlite-node/SqliteClient"
import * as SqlClient from "@effect/sql/SqlClient"
import { SqlError } from "@effect/sql/SqlError"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Redacted from "effect/Redacted"
import type * as Scope from "effect/Scope"
import * as Crypto from "node:crypto"
import * as Fs from "node:fs"
import * as Os from "node:os"
import * as Path from "node:path"

/** The Postgres URL of the test database, or undefined when not configured. */
export const pgUrl = (): string | undefined => {
  const url = process.env.AGENTOS_TEST_PG_URL
  return url === undefined || url.trim() === "" ? undefined : url.trim()
}

/** Under `CI=true` a backend may never be skipped. */
export const isCI = (): boolean => process.env.CI === "true" || process.env.CI === "1"

const uniqueName = (prefix: string) => `${prefix}_${process.pid}_${Crypto.randomBytes(5).toString("hex")}`

/** A fresh temporary directory, removed with the scope. */
export const tempDirectory = (prefix = "agentos"): Effect.Effect<string, never, Scope.Scope> =>
  Effect.acquireRelease(
    Effect.sync(() => Fs.mkdtempSync(Path.join(Os.tmpdir(), `${prefix}-`))),
    (dir) => Effect.sync(() => Fs.rmSync(dir, { recursive: true, force: true }))
  )

/**
 * Where a test backend's data lives, provided beside its `SqlClient`, so a
 * test or benchmark can open a second client (another "process") or a raw
 * driver onto the same database: `sqlite({ filename })` and
 * `postgres({ schema })` attach to it without creating or dropping anything.
 */
export class TestDatabase extends Context.Tag("@agentos/testkit/TestDatabase")<TestDatabase, {
  readonly dialect: "sqlite" | "pg"
  /** SQLite: the database file. */
  readonly filename?: string
  /** Postgres: the base URL and the schema set as `search_path`. */
  readonly url?: string
  readonly schema?: string
}>() {}

/** Options of the SQLite backend. */
export interface SqliteOptions {
  /** Use this file instead of a fresh temporary one (kept afterwards). */
  readonly filename?: string
}

/**
 * A `SqlClient` over a fresh SQLite file in a temporary directory (WAL, as
 * `SqliteClient.layer` sets by default), with a 5 s busy timeout so several
 * processes can share the file in tests.
 */
export const sqlite = (options: SqliteOptions = {}): Layer.Layer<SqlClient.SqlClient | TestDatabase> =>
  Layer.scopedContext(
    Effect.gen(function*() {
      const filename = options.filename ?? Path.join(yield* tempDirectory("agentos-sqlite"), "test.db")
      const client = yield* SqliteClient.make({ filename })
      yield* Effect.orDie(client`PRAGMA busy_timeout = 5000`)
      return Context.make(SqlClient.SqlClient, client).pipe(
        Context.add(TestDatabase, { dialect: "sqlite", filename })
      )
    }).pipe(Effect.provide(Reactivity.layer))
  )

/** Options of the Postgres backend. */
export interface PostgresOptions {
  /** Defaults to `AGENTOS_TEST_PG_URL`. */
  readonly url?: string
  /** The pool's cap (default 4). */
  readonly maxConnections?: number
  /** Attach to this existing schema (from another build's `TestDatabase`); nothing is created or dropped. */
  readonly schema?: string
}

const withSearchPath = (url: string, schema: string): string => {
  const parsed = new URL(url)
  parsed.searchParams.set("options", `-c search_path=${schema}`)
  return parsed.toString()
}

/**
 * A `SqlClient` over a fresh Postgres schema (set as the connections'
 * `search_path`), dropped with everything in it when the scope closes.
 * Fails with a `SqlError` when Postgres is not configured or not reachable.
 */
export const postgres = (
  options: PostgresOptions = {}
): Layer.Layer<SqlClient.SqlClient | TestDatabase, SqlError> =>
  Layer.unwrapScoped(
    Effect.gen(function*() {
      const url = options.url ?? pgUrl()
      if (url === undefined) {
        return yield* new SqlError({ message: "AGENTOS_TEST_PG_URL is not set: no Postgres to test against" })
      }
      let schema = options.schema
      if (schema === undefined) {
        const created = uniqueName("agentos_t")
        const admin = yield* PgClient.make({ url: Redacted.make(url), maxConnections: 1, connectTimeout: "5 seconds" })
        yield* admin`CREATE SCHEMA ${admin(created)}`
        yield* Effect.addFinalizer(() => Effect.ignore(admin`DROP SCHEMA IF EXISTS ${admin(created)} CASCADE`))
        schema = created
      }
      return Layer.merge(
        PgClient.layer({
          url: Redacted.make(withSearchPath(url, schema)),
          maxConnections: options.maxConnections ?? 4,
          connectTimeout: "5 seconds",
          idleTimeout: "10 seconds"
        }),
        Layer.succeed(TestDatabase, { dialect: "pg", url, schema })
      )
    }).pipe(Effect.provide(Reactivity.layer))
  )

/** The backends a conformance suite runs on. */
export type BackendName = "memory" | "sqlite" | "postgres"

/** A SQL backend: a name and a fresh-namespace `SqlClient` layer. */
export interface SqlBackend {
  readonly name: Exclude<BackendName, "memory">
  readonly layer: Layer.Layer<SqlClient.SqlClient, SqlError>
}

/**
 * Whether Postgres cases are skipped: only outside CI, when
 * `AGENTOS_TEST_PG_URL` is not set. Under `CI=true` they run, and fail
 * without a database, as the conformance suites do.
 */
export const skipPostgres = (): boolean => pgUrl() === undefined && !isCI()

/** SQLite always; Postgres unless `skipPostgres()`. */
export const sqlBackends = (): ReadonlyArray<SqlBackend> => [
  { name: "sqlite", layer: sqlite() },
  ...(skipPostgres() ? [] : [{ name: "postgres" as const, layer: postgres() }])
]
