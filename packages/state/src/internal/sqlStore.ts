// The store contract on SqlClient: SQLite and Postgres (dialects through
// onDialectOrElse). Locks are judged by the database's clock (core's Lease
// fragments inside the statements); a write that meets no conflict is one
// statement: the lock check, the compare-and-set and its history row.
import * as Json from "@agentos/core/Json"
import * as Lease from "@agentos/core/Lease"
import * as Sql from "@agentos/core/Sql"
import * as SqlClient from "@effect/sql/SqlClient"
import type { SqlError } from "@effect/sql/SqlError"
import type * as Statement from "@effect/sql/Statement"
import * as Effect from "effect/Effect"
import * as Predicate from "effect/Predicate"
import * as Schedule from "effect/Schedule"
import * as Stream from "effect/Stream"
import type { Entry, Version } from "../Entry.js"
import { KeyLocked, StaleFence, StoreError } from "../Errors.js"
import { migrations } from "./migrations.js"
import type { Config } from "./options.js"
import { type CasResult, conflict, type Decision, type Store } from "./store.js"

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

const toVersion = (row: Row): Version => ({
  key: row.key,
  value: row.value === null ? null : Sql.parseJson(row.value) as Json.JsonObject,
  version: Sql.toNumber(row.version),
  modifiedBy: JSON.parse(row.modified_by),
  updatedAt: Sql.toNumber(row.updated_at)
})

const isSqlError = (error: unknown): error is SqlError => Predicate.isTagged(error, "SqlError")

/** The condition of a write: a compare-and-set (`expectedVersion` > 0), a create (`0`) or none. */
type WriteKind = "compare-and-set" | "create" | "unconditional"

const FEED_WINDOW = 1_000
const TRIM_EVERY = 8
const POLL_BATCH = 1_000

/** The store on the `SqlClient` of the context, after running its migrations. */
export const make = (
  config: Config,
  pollMillis: number
): Effect.Effect<Store, StoreError, SqlClient.SqlClient> =>
  Effect.gen(function*() {
    const limit = config.historyLimit
    const sql = yield* SqlClient.SqlClient
    // Two processes opening one SQLite file at once may meet a busy database;
    // the migrations are recorded, so running them again is safe.
    yield* Sql.migrate({ packageName: "state", migrations }).pipe(
      Sql.retryTransient(),
      Effect.mapError((cause) => new StoreError({ operation: "migrate", cause }))
    )
    const live = Lease.sqlLive(sql, "expires_at")
    const forShare = sql.onDialectOrElse({ pg: () => sql.literal("FOR SHARE"), orElse: () => sql.literal("") })
    const forUpdate = sql.onDialectOrElse({ pg: () => sql.literal("FOR UPDATE"), orElse: () => sql.literal("") })
    const empty = sql.literal("")
    const isPg = Sql.isPg(sql)
    const jsonParam = (text: string): Statement.Fragment =>
      sql.onDialectOrElse({ pg: () => sql`${text}::jsonb`, orElse: () => sql`${text}` })

    const storeError = (operation: string) => Sql.mapError((cause: SqlError) => new StoreError({ operation, cause }))

    /** A transaction, retried on serialisation failures and a busy SQLite. */
    const transaction = <A, E>(operation: string, body: Effect.Effect<A, E>) =>
      sql.withTransaction(body).pipe(Sql.retryTransient(), storeError(operation))

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
        RETURNING fence, holder, CASE WHEN ${live} THEN 1 ELSE 0 END AS live`

    /** The lock check of a write; `creates`: the write may create the key. */
    const checkLock = (key: string, fence: number | undefined, creates = false) =>
      Effect.flatMap(
        isPg && creates ?
          ensureLockRow(key) :
          sql<LockRow>`SELECT fence, holder,
          CASE WHEN ${live} THEN 1 ELSE 0 END AS live
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

    const compareAndSet_ = (key: string, text: string, modifiedBy: string, at: number, expected: number) =>
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
        (rows): Entry | undefined => {
          const row = rows[0]
          return row === undefined || Sql.toNumber(row.deleted) === 1 ? undefined : toVersion(row) as Entry
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
            WHERE key = ${key} AND holder IS NOT NULL AND ${live})`
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
            ? sql`SELECT fence, holder, ${live} AS live
                  FROM agentos_state_locks WHERE key = ${key} FOR SHARE`
            : sql`INSERT INTO agentos_state_locks (key, holder, fence, holds, expires_at)
                  VALUES (${key}, NULL, 0, 0, 0)
                  ON CONFLICT (key) DO UPDATE SET holds = agentos_state_locks.holds
                  RETURNING fence, holder, ${live} AS live`
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
      value: Json.JsonObject | null,
      version: number,
      modifiedBy: ReadonlyArray<string>,
      at: number
    ): Version => ({ key, value, version, modifiedBy, updatedAt: at })

    /**
     * The write committed: a failed trim (housekeeping; reads return the last
     * `limit` versions anyway) must not report it as failed. It is logged and
     * done by a later write.
     */
    const trimAfter = (key: string, version: number): Effect.Effect<void> =>
      isPg || !trimDue(version) ?
        Effect.void :
        Effect.catchAll(
          trimHistory(key, version),
          (error) => Effect.logWarning(`SharedState: trimming the history of "${key}" failed: ${Sql.describe(error)}`)
        )

    const compareAndSet = (
      key: string,
      value: Json.JsonObject,
      agent: string,
      at: number,
      expected: number | undefined,
      fence: number | undefined,
      explain: boolean
    ): Effect.Effect<CasResult, StaleFence | KeyLocked | StoreError> => {
      const text = JSON.stringify(value)
      return Effect.flatMap(
        singleStatement(key, text, JSON.stringify([agent]), at, expected, fence).pipe(
          Sql.retryTransient(),
          storeError("set")
        ),
        (version): Effect.Effect<CasResult, StaleFence | KeyLocked | StoreError> => {
          if (version !== undefined) {
            // The value as stored (parsed from the written text): never the
            // caller's object, which it may still change.
            const entry = entryOf(key, JSON.parse(text), version, [agent], at) as Entry
            return isPg || !trimDue(version) ? Effect.succeed(entry) : Effect.as(trimAfter(key, version), entry)
          }
          // Nothing written: a lock refused it, or the key is not at the
          // expected version. `modify` checks both again under the row lock.
          if (!explain) return Effect.succeed(undefined)
          return Effect.zipRight(
            checkLock(key, fence),
            Effect.map(readCurrent(key, false), (current) => conflict(current))
          ).pipe(storeError("set"))
        }
      )
    }

    /** The delete of a live entry at `version` (a tombstone row; its history row on Postgres). */
    const tombstone = (key: string, version: number, modifiedBy: string, at: number) =>
      Effect.map(
        sql<{ readonly version: unknown }>`UPDATE agentos_state_entries
          SET value = NULL, version = version + 1, modified_by = ${modifiedBy}, updated_at = ${at}, deleted = 1
          WHERE key = ${key} AND version = ${version} AND deleted = 0
          RETURNING version`,
        versionOf
      )

    const modify = <A, E>(
      operation: string,
      key: string,
      fence: number | undefined,
      at: number,
      decide: (current: Entry | undefined) => Decision<A, E>
    ): Effect.Effect<A, E | StaleFence | KeyLocked | StoreError> => {
      // Reads the entry (row-locked on Postgres; SQLite's transaction holds
      // the database), decides, and writes at the version read. An absent key
      // has no row to lock: its create succeeds only if it is still absent,
      // else a concurrent first write would be overwritten unseen; when it
      // was created meanwhile, the loop reads it again and decides again.
      const attempt: Effect.Effect<A, E | SqlError> = Effect.flatMap(
        readCurrent(key, true),
        (current): Effect.Effect<A, E | SqlError> => {
          const decision = decide(current)
          switch (decision._tag) {
            case "Keep":
              return Effect.succeed(decision.result)
            case "Fail":
              return Effect.fail(decision.error)
            case "Write": {
              const byText = JSON.stringify(decision.modifiedBy)
              const text = decision.value === null ? null : JSON.stringify(decision.value)
              const write = text === null
                ? tombstone(key, current!.version, byText, at)
                : current === undefined
                ? upsert(key, text, byText, at, true)
                : compareAndSet_(key, text, byText, at, current.version)
              return Effect.flatMap(write, (version) =>
                version === undefined ? attempt : Effect.as(
                  recordHistory(key, version, text, byText, at),
                  decision.result(
                    entryOf(key, text === null ? null : JSON.parse(text), version, decision.modifiedBy, at)
                  )
                ))
            }
          }
        }
      )
      return transaction(operation, Effect.zipRight(checkLock(key, fence, true), Effect.suspend(() => attempt)))
    }

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

    const changes = (keyOrPrefix: string): Stream.Stream<Version, StoreError> =>
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
                const out: Array<Version> = []
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
            return Stream.repeatEffectWithSchedule(poll, Schedule.spaced(pollMillis)).pipe(
              Stream.flattenIterables
            )
          }
        ).pipe(storeError("changes"))
      ).pipe(
        Stream.mapError((error) => isSqlError(error) ? new StoreError({ operation: "changes", cause: error }) : error)
      )

    // A lock row's lease is live while its holder is set and `Lease.sqlLive`
    // holds, by the database's clock.
    const heldByRow = Lease.sqlLive(sql, "agentos_state_locks.expires_at")
    const freeRow = Lease.sqlFree(sql, "agentos_state_locks.expires_at")

    const tryAcquire = (key: string, agent: string, ttlMillis: number) =>
      sql<{ readonly fence: unknown }>`INSERT INTO agentos_state_locks (key, holder, fence, holds, expires_at)
        VALUES (${key}, ${agent}, 1, 1, ${Lease.sqlExpiresAt(sql, ttlMillis)})
        ON CONFLICT (key) DO UPDATE SET
          fence = CASE WHEN agentos_state_locks.holder = excluded.holder AND ${heldByRow}
            THEN agentos_state_locks.fence ELSE agentos_state_locks.fence + 1 END,
          holds = CASE WHEN agentos_state_locks.holder = excluded.holder AND ${heldByRow}
            THEN agentos_state_locks.holds + 1 ELSE 1 END,
          expires_at = CASE WHEN agentos_state_locks.holder = excluded.holder
              AND agentos_state_locks.expires_at > excluded.expires_at
            THEN agentos_state_locks.expires_at ELSE excluded.expires_at END,
          holder = excluded.holder
        WHERE agentos_state_locks.holder IS NULL OR ${freeRow}
          OR agentos_state_locks.holder = excluded.holder
        RETURNING fence`.pipe(
        Effect.map((rows) => rows.length === 0 ? undefined : Sql.toNumber(rows[0]!.fence)),
        Sql.retryTransient(),
        storeError("withLock")
      )

    const release = (key: string, agent: string, fence: number) =>
      sql`UPDATE agentos_state_locks
        SET holds = holds - 1, holder = CASE WHEN holds <= 1 THEN NULL ELSE holder END
        WHERE key = ${key} AND holder = ${agent} AND fence = ${fence}`.pipe(
        Effect.asVoid,
        Sql.retryTransient(),
        storeError("releaseLock")
      )

    return {
      backend: "sql",
      trusted: false,
      spans: true,
      prepare: (value) => Json.findInvalid(value) ?? (value as Json.JsonObject),
      compareAndSet,
      modify,
      get: (key) =>
        sql<Row>`SELECT key, value, version, modified_by, updated_at
          FROM agentos_state_entries WHERE key = ${key} AND deleted = 0`.pipe(
          Effect.map((rows) => rows.length === 0 ? undefined : toVersion(rows[0]!) as Entry),
          storeError("get")
        ),
      list: (prefix, after, limit) =>
        sql<Row>`SELECT key, value, version, modified_by, updated_at
          FROM agentos_state_entries
          WHERE deleted = 0 AND key >= ${prefix}
            AND substr(key, 1, length(CAST(${prefix} AS text))) = CAST(${prefix} AS text)
            ${after === undefined ? empty : sql`AND key > ${after}`}
          ORDER BY key LIMIT ${limit + 1}`.pipe(
          Effect.map((rows) => rows.map((row) => toVersion(row) as Entry)),
          storeError("list")
        ),
      history: (key) =>
        sql<Row>`SELECT key, value, version, modified_by, updated_at
          FROM agentos_state_history WHERE key = ${key}
            AND version > (SELECT MAX(version) FROM agentos_state_history WHERE key = ${key}) - ${limit}
          ORDER BY version`.pipe(
          Effect.map((rows) => rows.map(toVersion)),
          storeError("history")
        ),
      getAt: (key, version) =>
        sql<Row>`SELECT key, value, version, modified_by, updated_at
          FROM agentos_state_history WHERE key = ${key} AND version = ${version}
            AND version > (SELECT MAX(version) FROM agentos_state_history WHERE key = ${key}) - ${limit}`.pipe(
          Effect.map((rows) => rows.length === 0 ? undefined : toVersion(rows[0]!)),
          storeError("getAt")
        ),
      changes,
      tryAcquire,
      release
    }
  })
