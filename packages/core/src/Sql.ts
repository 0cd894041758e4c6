/**
 * The SQL support every package's `layerSql` stands on, for SQLite and
 * Postgres alike through `@effect/sql`'s `SqlClient`:
 *
 * - `migrate` runs one package's migrations with its own migrations table,
 *   serialised across processes on Postgres by an advisory lock;
 * - `jsonType`, `json` and `parseJson` are the JSON column encoding both
 *   dialects share (`jsonb` on Postgres, `text` on SQLite);
 * - `nowMillis` and `now` read the database's own clock, which judges leases
 *   and expiries so that machines with skewed clocks agree;
 * - `mapError` and the `is…` predicates turn `SqlError` into a package's own
 *   `StoreError` and recognise the failures a store handles (unique
 *   violations, serialisation failures).
 *
 * @since 0.1.0
 */
import * as Migrator from "@effect/sql/Migrator"
import * as SqlClient from "@effect/sql/SqlClient"
import type { SqlError } from "@effect/sql/SqlError"
import type * as Statement from "@effect/sql/Statement"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import { dual } from "effect/Function"
import * as Option from "effect/Option"
import * as Predicate from "effect/Predicate"
import * as Schedule from "effect/Schedule"
import { describeCause } from "./StoreFailure.js"

/**
 * A package's migrations, keyed `"<id>_<name>"` (e.g. `"0001_create_letters"`).
 * A released migration is never edited: add a new one.
 *
 * @since 0.1.0
 * @category migrations
 */
export type Migrations = Record<string, Effect.Effect<void, unknown, SqlClient.SqlClient>>

const PACKAGE_NAME = /^[a-z][a-z0-9_]{0,40}$/

/**
 * The name of a package's migrations table: `agentos_<package>_migrations`.
 *
 * @since 0.1.0
 * @category migrations
 */
export const migrationsTable = (packageName: string): string => {
  if (!PACKAGE_NAME.test(packageName)) {
    throw new TypeError(`Sql.migrationsTable: "${packageName}" is not a valid package name ([a-z][a-z0-9_]*)`)
  }
  return `agentos_${packageName}_migrations`
}

const run = Migrator.make({})

/**
 * Runs a package's migrations in its own table (sharing the default table
 * makes the Migrator skip overlapping ids silently). Idempotent. On Postgres
 * the whole run holds a transaction-scoped advisory lock keyed by schema and
 * table, so processes starting together migrate once, one after the other.
 * Returns the migrations that ran now.
 *
 * @since 0.1.0
 * @category migrations
 */
export const migrate = (options: {
  readonly packageName: string
  readonly migrations: Migrations
}): Effect.Effect<
  ReadonlyArray<readonly [id: number, name: string]>,
  Migrator.MigrationError | SqlError,
  SqlClient.SqlClient
> =>
  Effect.gen(function*() {
    const table = migrationsTable(options.packageName)
    const sql = yield* SqlClient.SqlClient
    const migrator = run({ loader: Migrator.fromRecord(options.migrations), table })
    return yield* sql.onDialectOrElse({
      pg: () =>
        sql.withTransaction(
          sql`SELECT pg_advisory_xact_lock(hashtext(current_schema() || '.' || ${table}))`.pipe(
            // Created here, under the lock, so that the Migrator's own probe
            // for the table never fails (a failed statement aborts the
            // transaction on Postgres). Same shape as the Migrator's table.
            Effect.zipRight(sql`CREATE TABLE IF NOT EXISTS ${sql(table)} (
              migration_id integer primary key,
              created_at timestamp with time zone not null default now(),
              name text not null
            )`),
            Effect.zipRight(migrator)
          )
        ),
      orElse: () => migrator
    }).pipe(
      // The Migrator turns a failing migration into a defect; a caller should
      // get it as a typed MigrationError naming the migration.
      Effect.catchSomeDefect((defect) =>
        defect instanceof Migrator.MigrationError ? Option.some(Effect.fail(defect)) : Option.none()
      )
    )
  })

/**
 * The column type for JSON values: `jsonb` on Postgres, `text` elsewhere.
 * Use it in migrations: `` sql`CREATE TABLE t (value ${Sql.jsonType(sql)} NOT NULL)` ``.
 *
 * @since 0.1.0
 * @category json
 */
export const jsonType = (sql: SqlClient.SqlClient): Statement.Fragment =>
  sql.onDialectOrElse({ pg: () => sql.literal("jsonb"), orElse: () => sql.literal("text") })

/**
 * A JSON value as a statement parameter for a `jsonType` column.
 *
 * @since 0.1.0
 * @category json
 */
export const json = (sql: SqlClient.SqlClient, value: unknown): Statement.Fragment => {
  const text = JSON.stringify(value)
  return sql.onDialectOrElse({ pg: () => sql`${text}::jsonb`, orElse: () => sql`${text}` })
}

/**
 * A `jsonType` column's value as read back: Postgres drivers return parsed
 * JSON, SQLite returns text.
 *
 * @since 0.1.0
 * @category json
 */
export const parseJson = (column: unknown): unknown => typeof column === "string" ? JSON.parse(column) : column

/**
 * An integer column as a number: Postgres returns `bigint` as a string.
 *
 * @since 0.1.0
 * @category columns
 */
export const toNumber = (column: unknown): number => {
  if (typeof column === "number") return column
  if (typeof column === "bigint" || typeof column === "string") {
    const value = Number(column)
    if (!Number.isFinite(value)) throw new TypeError(`Sql.toNumber: "${String(column)}" is not a number`)
    return value
  }
  throw new TypeError(`Sql.toNumber: ${String(column)} is not a number`)
}

/**
 * The database's current time in epoch milliseconds, as a SQL expression to
 * use inside a statement (`WHERE expires_at < ${Sql.nowMillis(sql)}`), so a
 * lease is judged by one clock whatever the callers' clocks say. On Postgres
 * it is `clock_timestamp()` (the real time, not the transaction's start).
 *
 * @since 0.1.0
 * @category clock
 */
export const nowMillis = (sql: SqlClient.SqlClient): Statement.Fragment =>
  sql.onDialectOrElse({
    pg: () => sql.literal("(floor(extract(epoch from clock_timestamp()) * 1000)::bigint)"),
    orElse: () => sql.literal("(CAST(ROUND((julianday('now') - 2440587.5) * 86400000.0) AS INTEGER))")
  })

/**
 * Reads the database's current time in epoch milliseconds.
 *
 * @since 0.1.0
 * @category clock
 */
export const now: Effect.Effect<number, SqlError, SqlClient.SqlClient> = Effect.flatMap(
  SqlClient.SqlClient,
  (sql) =>
    Effect.map(
      sql<{ readonly now: unknown }>`SELECT ${nowMillis(sql)} AS now`,
      (rows) => toNumber(rows[0]!.now)
    )
)

const causeOf = (error: SqlError): unknown => error.cause

const codeOf = (error: SqlError): string | undefined => {
  const cause = causeOf(error)
  return Predicate.hasProperty(cause, "code") && typeof cause.code === "string" ? cause.code : undefined
}

/**
 * Whether a statement failed on a unique or primary key constraint.
 *
 * @since 0.1.0
 * @category errors
 */
export const isUniqueViolation = (error: SqlError): boolean => {
  const code = codeOf(error)
  return code === "23505" || code === "SQLITE_CONSTRAINT_UNIQUE" || code === "SQLITE_CONSTRAINT_PRIMARYKEY"
}

/**
 * Whether a transaction failed in a way that a retry may fix: a Postgres
 * serialisation failure or deadlock, or a busy SQLite database.
 *
 * @since 0.1.0
 * @category errors
 */
export const isRetryable = (error: SqlError): boolean => {
  const code = codeOf(error)
  return code === "40001" || code === "40P01" || code === "SQLITE_BUSY" || code === "SQLITE_BUSY_SNAPSHOT"
}

/**
 * A one-line description of a `SqlError` with the driver's code and message
 * (`StoreFailure.describeCause`, which every `StoreError` message uses).
 *
 * @since 0.1.0
 * @category errors
 */
export const describe = (error: SqlError): string => describeCause(error)

/**
 * Maps the `SqlError`s of an effect into a package's own error, keeping every
 * other error as it is: `Effect.gen(...).pipe(Sql.mapError((e) => new StoreError({ ... })))`.
 *
 * @since 0.1.0
 * @category errors
 */
export const mapError =
  <E2>(f: (error: SqlError) => E2) =>
  <A, E, R>(self: Effect.Effect<A, E, R>): Effect.Effect<A, Exclude<E, SqlError> | E2, R> =>
    Effect.catchIf(
      self,
      (error): error is Extract<E, SqlError> => Predicate.isTagged(error, "SqlError"),
      (error) => Effect.fail(f(error as SqlError))
    ) as Effect.Effect<A, Exclude<E, SqlError> | E2, R>

/**
 * Whether the client speaks Postgres.
 *
 * @since 0.2.0
 * @category dialect
 */
export const isPg = (sql: SqlClient.SqlClient): boolean => sql.onDialectOrElse({ pg: () => true, orElse: () => false })

/**
 * Options of `retryTransient`.
 *
 * @since 0.2.0
 * @category errors
 */
export interface RetryOptions {
  /** Gives up after this long in all (default 10 seconds), failing with the last error. */
  readonly maxElapsed?: Duration.DurationInput
}

const isRetryableError = (error: unknown): boolean =>
  Predicate.isTagged(error, "SqlError") && isRetryable(error as SqlError)

/**
 * Runs `effect` again while it fails with a transient `SqlError` — a busy
 * SQLite database (`SQLITE_BUSY`, another connection or process holds the
 * write lock past the busy timeout), a Postgres serialisation failure or a
 * deadlock — on a jittered exponential schedule from 1 ms, each wait at most
 * 100 ms, for at most `maxElapsed` (10 s). Every other error, and the last
 * transient one, is returned as it is. Wrap a whole transaction, never a
 * statement inside one (a failed Postgres transaction must start over).
 *
 * @since 0.2.0
 * @category errors
 */
export const retryTransient: {
  (options?: RetryOptions): <A, E, R>(effect: Effect.Effect<A, E, R>) => Effect.Effect<A, E, R>
  <A, E, R>(effect: Effect.Effect<A, E, R>, options?: RetryOptions): Effect.Effect<A, E, R>
} = dual(
  (args) => Effect.isEffect(args[0]),
  <A, E, R>(effect: Effect.Effect<A, E, R>, options?: RetryOptions) => retryTransientImpl(effect, options)
)

// The schedule is built only after a first transient failure, so the common
// path (a statement that succeeds) pays one catch and nothing more.
const retryTransientImpl = <A, E, R>(
  effect: Effect.Effect<A, E, R>,
  options: RetryOptions = {}
): Effect.Effect<A, E, R> =>
  Effect.catchIf(effect, isRetryableError, () =>
    Effect.retry(effect, {
      schedule: Schedule.exponential("2 millis", 2).pipe(
        Schedule.modifyDelay((delay) => Duration.min(delay, Duration.millis(100))),
        Schedule.jittered,
        Schedule.upTo(options.maxElapsed ?? "10 seconds")
      ),
      while: isRetryableError
    }).pipe(Effect.delay("1 millis")))
