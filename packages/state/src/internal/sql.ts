import type { JsonObject } from "@agentos/core/Json"
import * as Sql from "@agentos/core/Sql"
import * as SqlClient from "@effect/sql/SqlClient"
import type { SqlError } from "@effect/sql/SqlError"
import type * as Statement from "@effect/sql/Statement"
import * as Clock from "effect/Clock"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as MetricLabel from "effect/MetricLabel"
import * as Option from "effect/Option"
import * as Predicate from "effect/Predicate"
import * as Schedule from "effect/Schedule"
import * as Stream from "effect/Stream"
import * as Merge from "../Merge.js"
import type * as SharedState from "../SharedState.js"
import {
  conflictsTotal,
  InvalidRequest,
  InvalidValue,
  KeyLocked,
  StaleFence,
  StoreError,
  type VersionConflict,
  writesTotal
} from "../SharedState.js"
import * as Common from "./common.js"
import { invalidObject } from "./json.js"

/** @internal */
export const migrations: Sql.Migrations = {
  "0001_create_state": Effect.gen(function*() {
    const sql = yield* SqlClient.SqlClient
    // Keys compare byte-wise on both dialects (list order and prefix ranges).
    const keyType = sql.onDialectOrElse({
      pg: () => sql.literal(`text COLLATE "C"`),
      orElse: () => sql.literal("text")
    })
    const json = Sql.jsonType(sql)
    const seq = sql.onDialectOrElse({
      pg: () => sql.literal("seq bigserial PRIMARY KEY"),
      orElse: () => sql.literal("seq INTEGER PRIMARY KEY AUTOINCREMENT")
    })
    yield* sql`CREATE TABLE agentos_state_entries (
      key ${keyType} PRIMARY KEY,
      value ${json},
      version bigint NOT NULL,
      modified_by text NOT NULL,
      updated_at bigint NOT NULL,
      deleted integer NOT NULL DEFAULT 0
    )`
    yield* sql`CREATE TABLE agentos_state_history (
      ${seq},
      key ${keyType} NOT NULL,
      version bigint NOT NULL,
      value ${json},
      modified_by text NOT NULL,
      updated_at bigint NOT NULL
    )`
    yield* sql`CREATE UNIQUE INDEX agentos_state_history_key_version ON agentos_state_history (key, version)`
    // SQLite: every committed write of an entry adds its history row in the
    // same statement (a trigger), so a write needs no explicit transaction.
    // Postgres writes history in the same statement through a CTE instead.
    yield* sql.onDialectOrElse({
      pg: () => Effect.void,
      orElse: () =>
        Effect.zipRight(
          sql`CREATE TRIGGER agentos_state_history_on_insert AFTER INSERT ON agentos_state_entries
            BEGIN
              INSERT INTO agentos_state_history (key, version, value, modified_by, updated_at)
              VALUES (NEW.key, NEW.version, NEW.value, NEW.modified_by, NEW.updated_at);
            END`,
          sql`CREATE TRIGGER agentos_state_history_on_update AFTER UPDATE ON agentos_state_entries
            BEGIN
              INSERT INTO agentos_state_history (key, version, value, modified_by, updated_at)
              VALUES (NEW.key, NEW.version, NEW.value, NEW.modified_by, NEW.updated_at);
            END`
        )
    })
    yield* sql`CREATE TABLE agentos_state_locks (
      key ${keyType} PRIMARY KEY,
      holder text,
      fence bigint NOT NULL,
      holds integer NOT NULL,
      expires_at bigint NOT NULL
    )`
  })
}

interface LockRow {
  readonly fence: unknown
  readonly holder: string | null
  readonly live: unknown
}

interface Row {
  readonly key: string
  readonly value: unknown
  readonly version: unknown
  readonly modified_by: string
  readonly updated_at: unknown
  readonly deleted?: unknown
}

const toVersion = (row: Row): SharedState.Version => ({
  key: row.key,
  value: row.value === null ? null : Sql.parseJson(row.value) as JsonObject,
  version: Sql.toNumber(row.version),
  modifiedBy: JSON.parse(row.modified_by),
  updatedAt: Sql.toNumber(row.updated_at)
})

const isSqlError = (error: unknown): error is SqlError => Predicate.isTagged(error, "SqlError")

// Spans without a captured call-site stack trace: capturing one costs more
// than a SQLite statement.
const spanOptions = { captureStackTrace: false } as const

/** The condition of a write: a compare-and-set (`expectedVersion` > 0), a create (`0`) or none. */
type WriteKind = "compare-and-set" | "create" | "unconditional"

const FEED_WINDOW = 1_000
const TRIM_EVERY = 8
const POLL_BATCH = 1_000

/** @internal */
export const make = (
  options: SharedState.SqlStoreOptions
): Effect.Effect<SharedState.SharedStateService, StoreError, SqlClient.SqlClient> =>
  Effect.gen(function*() {
    const config = Common.makeConfig(options)
    const limit = config.historyLimit
    const pollInterval = Option.getOrElse(
      Option.filter(Duration.decodeUnknown(options.pollInterval ?? "50 millis"), (d) =>
        Duration.greaterThan(d, Duration.zero) && Duration.isFinite(d)),
      () => {
        throw new TypeError(`SharedState.layerSql: pollInterval must be a finite positive duration`)
      }
    )
    const sql = yield* SqlClient.SqlClient
    yield* Sql.migrate({ packageName: "state", migrations }).pipe(
      Effect.mapError((error) =>
        new StoreError({ operation: "migrate", reason: isSqlError(error) ? Sql.describe(error) : String(error) })
      )
    )
    // One constant label array: the metric caches its hook by this array's identity.
    const labels = [MetricLabel.make("backend", "sql")]
    const countWrite = () =>
      writesTotal.unsafeUpdate(1, labels)
    const countConflict = () => conflictsTotal.unsafeUpdate(1, labels)
    const now = Sql.nowMillis(sql)
    const forShare = sql.onDialectOrElse({ pg: () => sql.literal("FOR SHARE"), orElse: () => sql.literal("") })
    const forUpdate = sql.onDialectOrElse({ pg: () => sql.literal("FOR UPDATE"), orElse: () => sql.literal("") })
    const empty = sql.literal("")
    const isPg = sql.onDialectOrElse({ pg: () => true, orElse: () => false })
    const jsonParam = (text: string): Statement.Fragment =>
      sql.onDialectOrElse({ pg: () => sql`${text}::jsonb`, orElse: () => sql`${text}` })

    const storeError = (operation: string) =>
      Sql.mapError((error: SqlError) => new StoreError({ operation, reason: Sql.describe(error) }))

    /** A transaction, retried on serialisation failures and a busy SQLite. */
    const transaction = <A, E>(operation: string, body: Effect.Effect<A, E>) =>
      sql.withTransaction(body).pipe(
        Effect.retry({
          schedule: Schedule.intersect(Schedule.jittered(Schedule.exponential("2 millis")), Schedule.recurs(8)),
          while: (error) => isSqlError(error) && Sql.isRetryable(error)
        }),
        storeError(operation),
        Effect.withSpan(`SharedState.${operation}`, spanOptions)
      )

    /**
     * Postgres: the key's lock row for a write that may create the key. It is
     * created if absent (holder NULL, fence 0) and row-locked: an upsert waits
     * for a grant in flight and returns the newest committed row, which a
     * `SELECT … FOR SHARE` under an older snapshot cannot see when the grant
     * inserts the row. So a write and a key's first grant are ordered too, and
     * every key that exists has a lock row for later writes to share-lock.
     */
    const ensureLockRow = (key: string) =>
      sql<LockRow>`INSERT INTO agentos_state_locks (key, holder, fence, holds, expires_at)
        VALUES (${key}, NULL, 0, 0, 0)
        ON CONFLICT (key) DO UPDATE SET holds = agentos_state_locks.holds
        RETURNING fence, holder, CASE WHEN expires_at > ${now} THEN 1 ELSE 0 END AS live`

    /** The lock check of a write; `creates`: the write may create the key. */
    const checkLock = (key: string, fence: number | undefined, creates = false) =>
      Effect.flatMap(
        isPg && creates ?
          ensureLockRow(key) :
          sql<LockRow>`SELECT fence, holder,
          CASE WHEN expires_at > ${now} THEN 1 ELSE 0 END AS live
          FROM agentos_state_locks WHERE key = ${key} ${forShare}`,
        (rows): Effect.Effect<void, StaleFence | KeyLocked> => {
          const row = rows[0]
          if (fence !== undefined) {
            const newest = row === undefined ? 0 : Sql.toNumber(row.fence)
            return fence === newest ? Effect.void : Effect.fail(new StaleFence({ key, fence, newestFence: newest }))
          }
          return row !== undefined && row.holder !== null && Sql.toNumber(row.live) === 1
            ? Effect.fail(new KeyLocked({ key, holder: row.holder }))
            : Effect.void
        }
      )

    const versionOf = (rows: ReadonlyArray<{ readonly version: unknown }>): number | undefined =>
      rows.length === 0 ? undefined : Sql.toNumber(rows[0]!.version)

    const upsert = (key: string, text: string, modifiedBy: string, at: number, onlyIfAbsent: boolean) =>
      Effect.map(
        sql<{ readonly version: unknown }>`INSERT INTO agentos_state_entries
          (key, value, version, modified_by, updated_at, deleted)
          VALUES (${key}, ${jsonParam(text)}, 1, ${modifiedBy}, ${at}, 0)
          ON CONFLICT (key) DO UPDATE SET value = excluded.value,
            version = agentos_state_entries.version + 1, modified_by = excluded.modified_by,
            updated_at = excluded.updated_at, deleted = 0
          ${onlyIfAbsent ? sql.literal("WHERE agentos_state_entries.deleted = 1") : empty}
          RETURNING version`,
        versionOf
      )

    const compareAndSet = (key: string, text: string, modifiedBy: string, at: number, expected: number) =>
      Effect.map(
        sql<{ readonly version: unknown }>`UPDATE agentos_state_entries
          SET value = ${jsonParam(text)}, version = version + 1, modified_by = ${modifiedBy}, updated_at = ${at}
          WHERE key = ${key} AND version = ${expected} AND deleted = 0
          RETURNING version`,
        versionOf
      )

    /**
     * SQLite: drops history rows older than the last `limit` versions, every
     * TRIM_EVERY versions of a key (reads only ever return the last `limit`).
     */
    const trimDue = (version: number) => version > limit && version % TRIM_EVERY === 0
    const trimHistory = (key: string, version: number): Effect.Effect<void, SqlError> =>
      trimDue(version)
        ? Effect.asVoid(sql`DELETE FROM agentos_state_history WHERE key = ${key} AND version <= ${version - limit}`)
        : Effect.void

    const recordHistory = (
      key: string,
      version: number,
      text: string | null,
      modifiedBy: string,
      at: number
    ): Effect.Effect<void, SqlError> =>
      !isPg ? trimHistory(key, version) : Effect.zipRight(
        sql`INSERT INTO agentos_state_history (key, version, value, modified_by, updated_at)
          VALUES (${key}, ${version}, ${text === null ? sql.literal("NULL") : jsonParam(text)}, ${modifiedBy}, ${at})`,
        version > limit
          ? Effect.asVoid(sql`DELETE FROM agentos_state_history WHERE key = ${key} AND version <= ${version - limit}`)
          : Effect.void
      )

    /** The current entry; `lock` takes the row lock (Postgres) when a write follows. */
    const readCurrent = (key: string, lock: boolean) =>
      Effect.map(
        sql<Row>`SELECT key, value, version, modified_by, updated_at, deleted
          FROM agentos_state_entries WHERE key = ${key} ${lock ? forUpdate : empty}`,
        (rows): SharedState.Entry | undefined => {
          const row = rows[0]
          return row === undefined || Sql.toNumber(row.deleted) === 1 ? undefined : toVersion(row) as SharedState.Entry
        }
      )

    /**
     * The lock check and the write (compare-and-set, create-if-absent or
     * unconditional) as one statement, with its history row: on Postgres
     * through data-modifying CTEs (history insert and trim included), on
     * SQLite through the history triggers (trim done lazily, see
     * `trimHistory`). Returns the new version, or undefined when nothing was
     * written (a lock or a version conflict).
     */
    const buildSingleStatement = (
      kind: WriteKind,
      fenced: boolean,
      key: string,
      text: string,
      modifiedBy: string,
      at: string | number,
      expected: string | number,
      fence: string | number
    ): Statement.Statement<{ readonly version: unknown }> => {
      const allowed = !fenced
        ? sql`NOT EXISTS (SELECT 1 FROM agentos_state_locks
            WHERE key = ${key} AND holder IS NOT NULL AND expires_at > ${now})`
        : sql`COALESCE((SELECT fence FROM agentos_state_locks WHERE key = ${key}), 0) = ${fence}`
      const write = (condition: Statement.Fragment) =>
        kind === "compare-and-set"
          ? sql`UPDATE agentos_state_entries
              SET value = ${jsonParam(text)}, version = version + 1, modified_by = ${modifiedBy}, updated_at = ${at}
              WHERE key = ${key} AND version = ${expected} AND deleted = 0 AND ${condition}
              RETURNING version`
          : sql`INSERT INTO agentos_state_entries (key, value, version, modified_by, updated_at, deleted)
              SELECT CAST(${key} AS text), ${jsonParam(text)}, 1, CAST(${modifiedBy} AS text), CAST(${at} AS bigint), 0
              WHERE ${condition}
              ON CONFLICT (key) DO UPDATE SET value = excluded.value,
                version = agentos_state_entries.version + 1, modified_by = excluded.modified_by,
                updated_at = excluded.updated_at, deleted = 0
              ${kind === "create" ? sql.literal("WHERE agentos_state_entries.deleted = 1") : empty}
              RETURNING version`
      return isPg
        ? sql<{ readonly version: unknown }>`WITH lk AS (${
          kind === "compare-and-set"
            // The key exists, so its lock row does (see ensureLockRow).
            ? sql`SELECT fence, holder, expires_at > ${now} AS live
                  FROM agentos_state_locks WHERE key = ${key} FOR SHARE`
            : sql`INSERT INTO agentos_state_locks (key, holder, fence, holds, expires_at)
                  VALUES (${key}, NULL, 0, 0, 0)
                  ON CONFLICT (key) DO UPDATE SET holds = agentos_state_locks.holds
                  RETURNING fence, holder, expires_at > ${now} AS live`
        }), ok AS (
            SELECT ${
          !fenced
            ? sql`NOT EXISTS (SELECT 1 FROM lk WHERE holder IS NOT NULL AND live)`
            : sql`COALESCE((SELECT fence FROM lk), 0) = ${fence}`
        } AS allowed
          ), w AS (${write(sql`(SELECT allowed FROM ok)`)}), h AS (
            INSERT INTO agentos_state_history (key, version, value, modified_by, updated_at)
            SELECT CAST(${key} AS text), version, ${jsonParam(text)}, CAST(${modifiedBy} AS text), CAST(${at} AS bigint)
            FROM w
          ), d AS (
            DELETE FROM agentos_state_history
            WHERE key = ${key} AND version <= (SELECT version FROM w) - ${limit}
          )
          SELECT version FROM w`
        : sql<{ readonly version: unknown }>`${write(allowed)}`
    }

    /**
     * The single statement of each shape (compare-and-set, create or
     * unconditional; fenced or not) compiled once: its SQL text, and where
     * each argument goes among its parameters, found by compiling it once
     * with sentinel arguments. A write binds its values to that text — the
     * same statement, without building and compiling the template per call.
     */
    const SENTINELS = ["key", "text", "modifiedBy", "at", "expected", "fence"].map((name) =>
      `\u0000agentos_state:${name}\u0000`
    )
    const KINDS: ReadonlyArray<WriteKind> = ["compare-and-set", "create", "unconditional"]
    const compiledShapes: Array<
      { readonly text: string; readonly params: ReadonlyArray<unknown>; readonly slots: ReadonlyArray<number> }
    > = []
    const compiledShape = (kind: WriteKind, fenced: boolean) => {
      const index = KINDS.indexOf(kind) * 2 + (fenced ? 1 : 0)
      let shape = compiledShapes[index]
      if (shape === undefined) {
        const [key, text, modifiedBy, at, expected, fence] = SENTINELS as [
          string,
          string,
          string,
          string,
          string,
          string
        ]
        const [sqlText, params] = buildSingleStatement(kind, fenced, key, text, modifiedBy, at, expected, fence)
          .compile()
        if (SENTINELS.some((sentinel) => sqlText.includes(sentinel))) {
          throw new Error("SharedState: a statement argument was compiled into the SQL text")
        }
        shape = { text: sqlText, params, slots: params.map((param) => SENTINELS.indexOf(param as string)) }
        compiledShapes[index] = shape
      }
      return shape
    }

    const singleStatement = (
      key: string,
      text: string,
      modifiedBy: string,
      at: number,
      expected: number | undefined,
      fence: number | undefined
    ) => {
      const shape = compiledShape(
        expected === undefined ? "unconditional" : expected === 0 ? "create" : "compare-and-set",
        fence !== undefined
      )
      const args = [key, text, modifiedBy, at, expected, fence]
      const params = new Array<unknown>(shape.params.length)
      for (let i = 0; i < params.length; i++) {
        const slot = shape.slots[i]!
        params[i] = slot >= 0 ? args[slot] : shape.params[i]
      }
      return Effect.map(sql.unsafe<{ readonly version: unknown }>(shape.text, params), versionOf)
    }

    const entryOf = (
      key: string,
      value: JsonObject,
      version: number,
      modifiedBy: ReadonlyArray<string>,
      at: number
    ): SharedState.Entry => ({ key, value, version, modifiedBy, updatedAt: at })

    const set = (
      key: string,
      value: JsonObject,
      options: SharedState.SetOptions
    ): Effect.Effect<SharedState.SetResult, SharedState.WriteError> =>
      Effect.suspend((): Effect.Effect<SharedState.SetResult, SharedState.WriteError> => {
        const { agent, expectedVersion, fence, strategy } = options
        const bad = Common.checkWrite(key, agent, expectedVersion, fence, strategy)
        if (bad !== undefined) return Effect.fail(bad)
        const rules = config.rules(key)
        const reason = invalidObject(value)
        if (reason !== undefined) return Effect.fail(new InvalidValue({ key, reason }))
        const invalid = Common.checkSchema(key, value, rules)
        if (invalid !== undefined) return Effect.fail(invalid)
        const text = JSON.stringify(value)
        const by = [agent]
        const byText = JSON.stringify(by)
        return Effect.flatMap(Clock.currentTimeMillis, (at) => {
          const commit = (
            outcome: SharedState.Outcome,
            version: number,
            committedText: string,
            modifiedBy: ReadonlyArray<string>,
            modifiedByText: string,
            conflict?: SharedState.SetResult["conflict"]
          ) =>
            Effect.as(
              recordHistory(key, version, committedText, modifiedByText, at),
              {
                applied: true,
                outcome,
                // The value as stored (parsed from the written text): never the
                // caller's object, which it may still change.
                entry: Option.some(entryOf(key, JSON.parse(committedText), version, modifiedBy, at)),
                ...(conflict === undefined ? {} : { conflict })
              } satisfies SharedState.SetResult as SharedState.SetResult
            )

          const resolved = strategy ?? rules.strategy
          const keepOrReject = (
            current: SharedState.Entry | undefined,
            expected: number,
            how: "reject" | "first-write-wins"
          ): Effect.Effect<SharedState.SetResult, VersionConflict> => {
            countConflict()
            const currentVersion = current === undefined ? 0 : current.version
            return how === "reject"
              ? Effect.fail(
                Common.versionConflict(key, expected, currentVersion, current)
              )
              : Effect.succeed({
                applied: false,
                outcome: "kept-current",
                entry: Option.fromNullable(current),
                conflict: { expectedVersion: expected, currentVersion }
              })
          }
          const conditional = (expected: number) =>
            expected === 0 ? upsert(key, text, byText, at, true) : compareAndSet(key, text, byText, at, expected)
          const onConflict = (
            expected: number,
            retried: boolean
          ): Effect.Effect<SharedState.SetResult, SharedState.WriteError | SqlError> =>
            Effect.flatMap(
              readCurrent(key, resolved === "merge" || resolved === "last-write-wins"),
              (current): Effect.Effect<SharedState.SetResult, SharedState.WriteError | SqlError> => {
                const currentVersion = current === undefined ? 0 : current.version
                if (currentVersion === expected && !retried) {
                  // A concurrent delete made the key absent again after our
                  // attempt: the expected state holds now, so try once more.
                  return Effect.flatMap(
                    conditional(expected),
                    (v) => v === undefined ? onConflict(expected, true) : commit("written", v, text, by, byText)
                  )
                }
                const conflict = { expectedVersion: expected, currentVersion }
                if (resolved !== "reject" && resolved !== "first-write-wins") countConflict()
                switch (resolved) {
                  case "reject":
                  case "first-write-wins":
                    return keepOrReject(current, expected, resolved)
                  case "last-write-wins":
                  case "merge": {
                    if (current === undefined) {
                      // Absent (no row to lock): create it only if still absent,
                      // else a concurrent first write would be overwritten
                      // unmerged; if it was created meanwhile, read it again.
                      return Effect.flatMap(
                        upsert(key, text, byText, at, true),
                        (v) =>
                          v === undefined
                            ? onConflict(expected, retried)
                            : commit(
                              resolved === "merge" ? "merged" : "overwritten",
                              v,
                              text,
                              by,
                              byText,
                              conflict
                            )
                      )
                    }
                    if (resolved === "last-write-wins") {
                      return Effect.flatMap(
                        upsert(key, text, byText, at, false),
                        (v) => commit("overwritten", v!, text, by, byText, conflict)
                      )
                    }
                    let merged: JsonObject
                    try {
                      merged = Merge.apply(rules.merge, current.value, value, {
                        key,
                        currentVersion,
                        currentModifiedBy: current.modifiedBy,
                        agent
                      })
                    } catch (error) {
                      return Effect.fail(
                        new InvalidValue({ key, reason: `the merge function threw: ${String(error)}` })
                      )
                    }
                    const mergedReason = invalidObject(merged)
                    if (mergedReason !== undefined) return Effect.fail(new InvalidValue({ key, reason: mergedReason }))
                    const invalidMerge = Common.checkSchema(key, merged, rules)
                    if (invalidMerge !== undefined) return Effect.fail(invalidMerge)
                    const mergedText = JSON.stringify(merged)
                    const mergedBy = Common.mergedBy(current.modifiedBy, agent)
                    const mergedByText = JSON.stringify(mergedBy)
                    return Effect.flatMap(
                      upsert(key, mergedText, mergedByText, at, false),
                      (v) => commit("merged", v!, mergedText, mergedBy, mergedByText, conflict)
                    )
                  }
                }
              }
            )

          // The paths below run only after the single statement wrote
          // nothing (a conflict, a lock, or a create that met a row): they
          // are built on demand, not on every write.
          const write = () =>
            expectedVersion === undefined
              ? Effect.flatMap(
                upsert(key, text, byText, at, false),
                (v) => commit("written", v!, text, by, byText)
              )
              : Effect.flatMap(
                conditional(expectedVersion),
                (v) => v === undefined ? onConflict(expectedVersion, false) : commit("written", v, text, by, byText)
              )
          const slow = () =>
            transaction("set", Effect.suspend(() => Effect.zipRight(checkLock(key, fence, true), write())))
          const unwritten = (): Effect.Effect<SharedState.SetResult, SharedState.WriteError> => {
            if (expectedVersion === undefined || (resolved !== "reject" && resolved !== "first-write-wins")) {
              return slow()
            }
            // A lost race under reject or first-write-wins writes nothing:
            // report it from one read, without a transaction.
            return Effect.zipRight(
              checkLock(key, fence),
              Effect.flatMap(readCurrent(key, false), (current) => {
                const currentVersion = current === undefined ? 0 : current.version
                return currentVersion === expectedVersion
                  ? slow()
                  : Effect.suspend(() => keepOrReject(current, expectedVersion, resolved))
              })
            ).pipe(storeError("set"))
          }
          return Effect.flatMap(
            // Lock check, write and history in one statement (no transaction
            // round trips) when nothing conflicts.
            singleStatement(key, text, byText, at, expectedVersion, fence).pipe(
              storeError("set"),
              Effect.withSpan("SharedState.set", spanOptions)
            ),
            (v): Effect.Effect<SharedState.SetResult, SharedState.WriteError> => {
              if (v === undefined) {
                return Effect.tap(unwritten(), (result) => {
                  if (result.applied) countWrite()
                })
              }
              countWrite()
              const result: SharedState.SetResult = {
                applied: true,
                outcome: "written",
                entry: Option.some(entryOf(key, JSON.parse(text), v, by, at))
              }
              // The write has committed: a failed trim (housekeeping; reads
              // return the last `limit` versions anyway) must not report it
              // as failed. It is logged and done by a later write.
              return isPg || !trimDue(v) ? Effect.succeed(result) : Effect.as(
                Effect.catchAll(trimHistory(key, v), (error) =>
                  Effect.logWarning(`SharedState: trimming the history of "${key}" failed: ${Sql.describe(error)}`)),
                result
              )
            }
          )
        })
      })

    const get = (key: string): Effect.Effect<Option.Option<SharedState.Entry>, InvalidRequest | StoreError> =>
      Effect.suspend((): Effect.Effect<Option.Option<SharedState.Entry>, InvalidRequest | StoreError> => {
        const bad = Common.checkKey(key)
        if (bad !== undefined) {
          return Effect.fail(new InvalidRequest({ reason: bad }))
        }
        return sql<Row>`SELECT key, value, version, modified_by, updated_at
          FROM agentos_state_entries WHERE key = ${key} AND deleted = 0`.pipe(
          Effect.map((rows) =>
            rows.length === 0 ? Option.none() : Option.some(toVersion(rows[0]!) as SharedState.Entry)
          ),
          storeError("get"),
          Effect.withSpan("SharedState.get", spanOptions)
        )
      })

    const del = (key: string, options: SharedState.DeleteOptions): Effect.Effect<boolean, SharedState.WriteError> =>
      Effect.suspend((): Effect.Effect<boolean, SharedState.WriteError> => {
        const { agent, expectedVersion, fence } = options
        const bad = Common.checkWrite(key, agent, expectedVersion, fence, undefined)
        if (bad !== undefined) {
          return Effect.fail(bad)
        }
        const byText = JSON.stringify([agent])
        return Effect.flatMap(Clock.currentTimeMillis, (at) =>
          transaction(
            "delete",
            Effect.zipRight(
              checkLock(key, fence),
              Effect.flatMap(
                sql<{ readonly version: unknown }>`UPDATE agentos_state_entries
                  SET value = NULL, version = version + 1, modified_by = ${byText}, updated_at = ${at}, deleted = 1
                  WHERE key = ${key} AND deleted = 0
                  ${expectedVersion === undefined ? empty : sql`AND version = ${expectedVersion}`}
                  RETURNING version`,
                (rows): Effect.Effect<boolean, SharedState.WriteError | SqlError> => {
                  const version = versionOf(rows)
                  if (version !== undefined) {
                    return Effect.as(recordHistory(key, version, null, byText, at), true)
                  }
                  if (expectedVersion === undefined) {
                    return Effect.succeed(false)
                  }
                  return Effect.flatMap(readCurrent(key, false), (current) => {
                    const currentVersion = current === undefined ? 0 : current.version
                    if (currentVersion === expectedVersion) {
                      return Effect.succeed(false)
                    }
                    countConflict()
                    return Effect.fail(
                      Common.versionConflict(key, expectedVersion, currentVersion, current)
                    )
                  })
                }
              )
            )
          ).pipe(Effect.tap((deleted) => {
            if (deleted) {
              countWrite()
            }
          })))
      })

    const list = (
      prefix: string,
      options?: SharedState.ListOptions
    ): Effect.Effect<SharedState.Page, InvalidRequest | StoreError> =>
      Effect.suspend((): Effect.Effect<SharedState.Page, InvalidRequest | StoreError> => {
        const bad = Common.checkList(prefix, options)
        if (bad !== undefined) {
          return Effect.fail(new InvalidRequest({ reason: bad }))
        }
        const limit = options?.limit ?? 100
        const cursor = options?.cursor
        return sql<Row>`SELECT key, value, version, modified_by, updated_at
          FROM agentos_state_entries
          WHERE deleted = 0 AND key >= ${prefix}
            AND substr(key, 1, length(CAST(${prefix} AS text))) = CAST(${prefix} AS text)
            ${cursor === undefined ? empty : sql`AND key > ${cursor}`}
          ORDER BY key LIMIT ${limit + 1}`.pipe(
          Effect.map((rows): SharedState.Page => {
            const entries = rows.slice(0, limit).map((row) =>
              toVersion(row) as SharedState.Entry
            )
            return {
              entries,
              cursor: rows.length > limit ? Option.some(entries[entries.length - 1]!.key) : Option.none()
            }
          }),
          storeError("list"),
          Effect.withSpan("SharedState.list", spanOptions)
        )
      })

    const history = (key: string): Effect.Effect<ReadonlyArray<SharedState.Version>, InvalidRequest | StoreError> =>
      Effect.suspend((): Effect.Effect<ReadonlyArray<SharedState.Version>, InvalidRequest | StoreError> => {
        const bad = Common.checkKey(key)
        if (bad !== undefined) return Effect.fail(new InvalidRequest({ reason: bad }))
        return sql<Row>`SELECT key, value, version, modified_by, updated_at
          FROM agentos_state_history WHERE key = ${key}
            AND version > (SELECT MAX(version) FROM agentos_state_history WHERE key = ${key}) - ${limit}
          ORDER BY version`.pipe(
          Effect.map((rows) => rows.map(toVersion)),
          storeError("history"),
          Effect.withSpan("SharedState.history", spanOptions)
        )
      })

    const getAt = (
      key: string,
      version: number
    ): Effect.Effect<Option.Option<SharedState.Version>, InvalidRequest | StoreError> =>
      Effect.suspend((): Effect.Effect<Option.Option<SharedState.Version>, InvalidRequest | StoreError> => {
        const bad = Common.checkKey(key) ??
          (Number.isSafeInteger(version) && version >= 1 ? undefined : "version must be an integer >= 1")
        if (bad !== undefined) return Effect.fail(new InvalidRequest({ reason: bad }))
        return sql<Row>`SELECT key, value, version, modified_by, updated_at
          FROM agentos_state_history WHERE key = ${key} AND version = ${version}
            AND version > (SELECT MAX(version) FROM agentos_state_history WHERE key = ${key}) - ${limit}`.pipe(
          Effect.map((rows) => rows.length === 0 ? Option.none() : Option.some(toVersion(rows[0]!))),
          storeError("getAt"),
          Effect.withSpan("SharedState.getAt", spanOptions)
        )
      })

    // Postgres: the snapshot's xmin and xmax (transaction ids), read in the
    // same statement as the rows. SQLite commits in sequence order, so a gap
    // there is final at once (a trimmed row): both are 0.
    const snapshotColumns = sql.onDialectOrElse({
      pg: () =>
        sql.literal(
          "txid_snapshot_xmin(txid_current_snapshot()) AS xmin, txid_snapshot_xmax(txid_current_snapshot()) AS xmax"
        ),
      orElse: () => sql.literal("0 AS xmin, 0 AS xmax")
    })

    const changes = (keyOrPrefix: string): Stream.Stream<SharedState.Version, StoreError> =>
      Stream.unwrap(
        Effect.map(
          // The sequence numbers of the last FEED_WINDOW rows at subscription:
          // a number below the highest that is missing may belong to a write
          // still in flight, which commits after the subscription.
          sql<{ readonly head: unknown; readonly seq: unknown; readonly xmin: unknown; readonly xmax: unknown }>`SELECT
              1 AS head, (SELECT COALESCE(MAX(seq), 0) FROM agentos_state_history) AS seq, ${snapshotColumns}
            UNION ALL
            SELECT 0, seq, 0, 0 FROM agentos_state_history
            WHERE seq > (SELECT COALESCE(MAX(seq), 0) FROM agentos_state_history) - ${FEED_WINDOW}`,
          (rows) => {
            // `highest`: the highest sequence number read. `pending`: the
            // missing numbers below it, each with the snapshot's xmax when it
            // was first found missing. A missing number is a write that took
            // its number and has not committed yet (Postgres commits out of
            // order), or a rolled back or trimmed row. It is final once every
            // transaction that was running then has ended (the xmin of a later
            // snapshot reached that xmax): a committed row is then visible to
            // the same query, which asks for the pending numbers by name. So
            // nothing committed is ever skipped, however late, and a poll reads
            // only new rows and the pending ones.
            const head = rows.find((row) => Sql.toNumber(row.head) === 1)!
            let highest = Sql.toNumber(head.seq)
            const pending = new Map<number, number>()
            const present = new Set<number>()
            for (const row of rows) if (row !== head) present.add(Sql.toNumber(row.seq))
            const headXmax = Sql.toNumber(head.xmax)
            for (let seq = Math.max(1, highest - FEED_WINDOW + 1); seq < highest; seq++) {
              if (!present.has(seq)) pending.set(seq, headXmax)
            }
            const settle = (checked: ReadonlyArray<number>, xmin: number) => {
              for (const seq of checked) {
                const since = pending.get(seq)
                if (since !== undefined && since <= xmin) pending.delete(seq)
              }
            }
            settle(Array.from(pending.keys()), Sql.toNumber(head.xmin))
            const poll = Effect.map(
              Effect.suspend(() => {
                const asked = pending.size === 0 ? [] : Array.from(pending.keys()).slice(0, POLL_BATCH)
                // The snapshot row comes back even when no history row does.
                return Effect.map(
                  sql<
                    Omit<Row, "key"> & {
                      readonly key: string | null
                      readonly seq: unknown
                      readonly xmin: unknown
                      readonly xmax: unknown
                    }
                  >`SELECT s.xmin, s.xmax, h.seq, h.key, h.value, h.version, h.modified_by, h.updated_at
                    FROM (SELECT ${snapshotColumns}) s LEFT JOIN (
                      SELECT * FROM (SELECT seq, key, value, version, modified_by, updated_at
                        FROM agentos_state_history WHERE seq > ${highest} ORDER BY seq LIMIT ${POLL_BATCH}) n
                      ${
                    asked.length === 0 ? empty : sql`UNION ALL SELECT seq, key, value, version, modified_by, updated_at
                        FROM agentos_state_history WHERE ${sql.in("seq", asked)}`
                  }
                    ) h ON 1 = 1
                    ORDER BY h.seq`,
                  (rows) => [rows, asked] as const
                )
              }),
              ([rows, asked]) => {
                const out: Array<SharedState.Version> = []
                const snapshot = rows[0]!
                const xmax = Sql.toNumber(snapshot.xmax)
                for (const row of rows) {
                  if (row.seq === null || row.key === null) continue
                  const seq = Sql.toNumber(row.seq)
                  if (seq > highest) {
                    // The numbers skipped between the new rows are pending.
                    for (let missing = highest + 1; missing < seq; missing++) pending.set(missing, xmax)
                    highest = seq
                  } else if (!pending.delete(seq)) {
                    continue
                  }
                  if (row.key.startsWith(keyOrPrefix)) out.push(toVersion(row as Row))
                }
                settle(asked, Sql.toNumber(snapshot.xmin))
                return out
              }
            )
            return Stream.repeatEffectWithSchedule(poll, Schedule.spaced(pollInterval)).pipe(
              Stream.flattenIterables
            )
          }
        ).pipe(storeError("changes"))
      ).pipe(
        Stream.mapError((error) =>
          isSqlError(error) ? new StoreError({ operation: "changes", reason: Sql.describe(error) }) : error
        )
      )

    const tryAcquire = (key: string, agent: string, ttlMillis: number) =>
      sql<{ readonly fence: unknown }>`INSERT INTO agentos_state_locks (key, holder, fence, holds, expires_at)
        VALUES (${key}, ${agent}, 1, 1, ${now} + ${ttlMillis})
        ON CONFLICT (key) DO UPDATE SET
          fence = CASE WHEN agentos_state_locks.holder = excluded.holder AND agentos_state_locks.expires_at > ${now}
            THEN agentos_state_locks.fence ELSE agentos_state_locks.fence + 1 END,
          holds = CASE WHEN agentos_state_locks.holder = excluded.holder AND agentos_state_locks.expires_at > ${now}
            THEN agentos_state_locks.holds + 1 ELSE 1 END,
          expires_at = CASE WHEN agentos_state_locks.holder = excluded.holder
              AND agentos_state_locks.expires_at > excluded.expires_at
            THEN agentos_state_locks.expires_at ELSE excluded.expires_at END,
          holder = excluded.holder
        WHERE agentos_state_locks.holder IS NULL OR agentos_state_locks.expires_at <= ${now}
          OR agentos_state_locks.holder = excluded.holder
        RETURNING fence`.pipe(
        Effect.map((rows) => rows.length === 0 ? undefined : Sql.toNumber(rows[0]!.fence)),
        storeError("withLock"),
        Effect.withSpan("SharedState.withLock", spanOptions)
      )

    const release = (key: string, agent: string, fence: number) =>
      sql`UPDATE agentos_state_locks
        SET holds = holds - 1, holder = CASE WHEN holds <= 1 THEN NULL ELSE holder END
        WHERE key = ${key} AND holder = ${agent} AND fence = ${fence}`.pipe(
        Effect.asVoid,
        storeError("releaseLock")
      )

    return Common.makeService(
      { get, set, delete: del, list, history, getAt, changes },
      { tryAcquire, release },
      config
    )
  })
