// The SQL backend: one table, the same statements on SQLite and Postgres.
// Claims are judged by the database's clock inside one conditional UPDATE.
import * as Lease from "@agentos/core/Lease"
import * as Sql from "@agentos/core/Sql"
import * as SqlClient from "@effect/sql/SqlClient"
import type { SqlError } from "@effect/sql/SqlError"
import type * as Statement from "@effect/sql/Statement"
import * as Effect from "effect/Effect"
import { StoreError } from "../Errors.js"
import type { Letter, Resolution } from "../Letter.js"
import { migrations, TABLE } from "./migrations.js"
import type { ClaimOutcome, Counts, InsertOutcome, Query, ResolveOutcome, Store } from "./store.js"

// Rows are written by this store only, from letters the service validated,
// so reading checks the shape cheaply (a full Schema decode of every row of a
// page costs more than the query) and still refuses a row that is not a
// letter with a StoreError, never passing it on.
const isObject = (u: unknown): u is Record<string, unknown> => typeof u === "object" && u !== null && !Array.isArray(u)
const isInt = (u: unknown): u is number => typeof u === "number" && Number.isSafeInteger(u)
const optionalString = (u: unknown) => u === undefined || typeof u === "string"

const letterProblem = (data: unknown): string | undefined => {
  if (!isObject(data)) return "not an object"
  if (typeof data.id !== "string" || typeof data.source !== "string" || typeof data.taskType !== "string") {
    return "id, source or taskType is not a string"
  }
  if (!optionalString(data.dedupeKey) || !optionalString(data.taskId) || !optionalString(data.agent)) {
    return "dedupeKey, taskId or agent is not a string"
  }
  if (data.workflow !== undefined && !(isObject(data.workflow) && typeof data.workflow.id === "string")) {
    return "workflow is not a workflow reference"
  }
  if (!isObject(data.error) || typeof data.error.tag !== "string" || typeof data.error.message !== "string") {
    return "error is not a failure"
  }
  if (!("payload" in data) || !isObject(data.context)) return "payload or context is missing"
  if (
    !isInt(data.attempts) || !isInt(data.firstAttemptAt) || !isInt(data.lastAttemptAt) || !isInt(data.createdAt) ||
    !isInt(data.replays)
  ) return "a count or a time is not an integer"
  return undefined
}

const resolutionProblem = (resolution: unknown): string | undefined =>
  isObject(resolution) && (resolution.kind === "replayed" || resolution.kind === "manual") && isInt(resolution.at) &&
    typeof resolution.note === "string"
    ? undefined
    : "the resolution is not a resolution"

interface Row {
  readonly data: unknown
  readonly resolution: unknown
}

export const makeSqlStore: Effect.Effect<Store, StoreError, SqlClient.SqlClient> = Effect.gen(function*() {
  const sql = yield* SqlClient.SqlClient
  // Two processes opening one SQLite file at once may meet a busy database.
  yield* Sql.migrate({ packageName: "dlq", migrations }).pipe(
    Sql.retryTransient(),
    Effect.mapError((cause) => new StoreError({ operation: "migrate", cause }))
  )
  // A claim is free when released or expired, by the database's clock.
  const claimFree = Lease.sqlFree(sql, "claimed_until")
  const table = sql(TABLE)

  // Every operation runs whole again while it meets a transient SqlError (a
  // busy SQLite database, a Postgres serialisation failure or deadlock): such
  // a statement or transaction changed nothing.
  const fail = (operation: string) => <A, E, R>(self: Effect.Effect<A, E, R>) =>
    self.pipe(Sql.retryTransient(), Sql.mapError((cause) => new StoreError({ operation, cause })))

  const toLetter = (row: Row): Effect.Effect<Letter, StoreError> =>
    Effect.suspend(() => {
      const data = Sql.parseJson(row.data)
      const resolution = row.resolution === null || row.resolution === undefined
        ? undefined
        : Sql.parseJson(row.resolution)
      const problem = letterProblem(data) ?? (resolution === undefined ? undefined : resolutionProblem(resolution))
      if (problem !== undefined) {
        return Effect.fail(
          new StoreError({ operation: "decode", cause: `a stored letter does not decode: ${problem}` })
        )
      }
      const letter = data as Letter
      return Effect.succeed(resolution === undefined ? letter : { ...letter, resolution: resolution as Resolution })
    })

  const columns = (letter: Letter) => {
    const { resolution, ...data } = letter
    return {
      data: Sql.json(sql, data),
      resolution: resolution === undefined ? sql`NULL` : Sql.json(sql, resolution),
      resolvedAt: resolution === undefined ? null : resolution.at
    }
  }

  // The letter of a lookup's first row, or undefined when there is none.
  const firstLetter = (rows: ReadonlyArray<Row>) => rows.length === 0 ? Effect.succeed(undefined) : toLetter(rows[0]!)

  const byKey = (key: string) =>
    Effect.flatMap(sql<Row>`SELECT data, resolution FROM ${table} WHERE dedupe_key = ${key}`, firstLetter)

  const insert = (letter: Letter, maxLetters: number | undefined): Effect.Effect<InsertOutcome, StoreError> => {
    const c = columns(letter)
    const id = letter.id as string
    const key = letter.dedupeKey ?? null
    const agent = letter.agent ?? null
    const statement = maxLetters === undefined
      ? sql<{ id: string }>`INSERT INTO ${table}
          (id, dedupe_key, task_type, error_type, agent, created_at, resolved_at, data, resolution)
          VALUES (${id}, ${key}, ${letter.taskType}, ${letter.error.tag}, ${agent}, ${letter.createdAt},
            ${c.resolvedAt}, ${c.data}, ${c.resolution})
          ON CONFLICT (dedupe_key) DO NOTHING RETURNING id`
      // Typed casts: Postgres cannot infer parameter types in a SELECT list.
      : sql<{ id: string }>`INSERT INTO ${table}
          (id, dedupe_key, task_type, error_type, agent, created_at, resolved_at, data, resolution)
          SELECT CAST(${id} AS text), CAST(${key} AS text), CAST(${letter.taskType} AS text),
            CAST(${letter.error.tag} AS text), CAST(${agent} AS text), CAST(${letter.createdAt} AS bigint),
            CAST(${c.resolvedAt} AS bigint), ${c.data}, ${c.resolution}
          WHERE (SELECT COUNT(*) FROM ${table}) < ${maxLetters}
          ON CONFLICT (dedupe_key) DO NOTHING RETURNING id`
    // No row inserted: a duplicate, or (with maxLetters) a full table. When
    // the conflicting letter is gone by the time it is read (purged in
    // between), the insert is tried again rather than misreported.
    const attempt = (left: number): Effect.Effect<InsertOutcome, SqlError | StoreError> =>
      Effect.flatMap(statement, (rows): Effect.Effect<InsertOutcome, SqlError | StoreError> => {
        if (rows.length > 0) return Effect.succeed({ _tag: "Inserted", letter })
        if (letter.dedupeKey === undefined) return Effect.succeed({ _tag: "Full" })
        return Effect.flatMap(
          byKey(letter.dedupeKey),
          (existing): Effect.Effect<InsertOutcome, SqlError | StoreError> => {
            if (existing !== undefined) return Effect.succeed({ _tag: "Duplicate", letter: existing })
            if (left > 0) return attempt(left - 1)
            return maxLetters !== undefined ? Effect.succeed({ _tag: "Full" }) : Effect.fail(
              new StoreError({
                operation: "insert",
                cause: `the insert of ${id} kept conflicting with a vanishing letter`
              })
            )
          }
        )
      })
    // With maxLetters on Postgres, the count and the insert run under a
    // transaction-scoped advisory lock (one per schema), so concurrent adds
    // from many connections never overshoot the limit. SQLite runs the single
    // INSERT … SELECT under its database write lock already.
    const guarded = maxLetters === undefined ? attempt(3) : sql.onDialectOrElse({
      pg: () =>
        sql.withTransaction(
          Effect.zipRight(
            sql`SELECT pg_advisory_xact_lock(hashtext('agentos_dlq_letters:' || current_schema()))`,
            attempt(3)
          )
        ),
      orElse: () => attempt(3)
    })
    return guarded.pipe(fail("insert"))
  }

  const get = (id: string) =>
    sql<Row>`SELECT data, resolution FROM ${table} WHERE id = ${id}`.pipe(Effect.flatMap(firstLetter), fail("get"))

  const list = (query: Query) => {
    const where: Array<Statement.Fragment> = [sql`1 = 1`]
    if (query.taskType !== undefined) where.push(sql`task_type = ${query.taskType}`)
    if (query.errorType !== undefined) where.push(sql`error_type = ${query.errorType}`)
    if (query.agent !== undefined) where.push(sql`agent = ${query.agent}`)
    if (query.resolved === true) where.push(sql`resolved_at IS NOT NULL`)
    if (query.resolved === false) where.push(sql`resolved_at IS NULL`)
    if (query.since !== undefined) where.push(sql`created_at >= ${query.since}`)
    if (query.after !== undefined) {
      where.push(query.order === "oldest" ? sql`id > ${query.after}` : sql`id < ${query.after}`)
    }
    const order = query.order === "oldest" ? sql.literal("ASC") : sql.literal("DESC")
    return sql<Row>`SELECT data, resolution FROM ${table} WHERE ${
      sql.and(where)
    } ORDER BY id ${order} LIMIT ${query.limit}`
      .pipe(
        Effect.flatMap((rows) => Effect.forEach(rows, toLetter)),
        fail("list")
      )
  }

  // Why a conditional UPDATE changed nothing. "Free" (the claim was released
  // or expired between the UPDATE and this read, judged by the same clock)
  // means the caller should try again.
  type State = { readonly _tag: "NotFound" } | { readonly _tag: "Free" } | {
    readonly _tag: "InProgress"
    readonly claimedUntil: number
  } | { readonly _tag: "Resolved"; readonly resolvedAt: number }
  const state = (id: string) =>
    sql<
      { resolved_at: unknown; claimed_until: unknown; free: unknown }
    >`SELECT resolved_at, claimed_until,
        CASE WHEN ${claimFree} THEN 1 ELSE 0 END AS free
      FROM ${table} WHERE id = ${id}`.pipe(
      Effect.map((rows): State => {
        const row = rows[0]
        if (row === undefined) return { _tag: "NotFound" }
        if (row.resolved_at !== null) return { _tag: "Resolved", resolvedAt: Sql.toNumber(row.resolved_at) }
        if (Sql.toNumber(row.free) === 1) return { _tag: "Free" }
        return { _tag: "InProgress", claimedUntil: Sql.toNumber(row.claimed_until) }
      })
    )

  const claimOnce = (id: string, timeoutMillis: number) =>
    sql<Row & { claim_token: unknown }>`UPDATE ${table}
      SET claim_token = claim_token + 1, claimed_until = ${Lease.sqlExpiresAt(sql, timeoutMillis)}
      WHERE id = ${id} AND resolved_at IS NULL AND ${claimFree}
      RETURNING claim_token, data, resolution`

  /**
   * Runs a conditional UPDATE on a letter that must be free. When it touches
   * no row, the letter's state says why (not found, in progress, resolved);
   * if the letter turns out free after all, its claim changed between the two
   * statements, so the UPDATE is tried again (at most 3 more times).
   */
  const whenFree = <A, R>(
    operation: string,
    id: string,
    update: Effect.Effect<ReadonlyArray<R>, SqlError>,
    onRow: (row: R) => Effect.Effect<A, SqlError | StoreError>
  ) => {
    const attempt = (left: number): Effect.Effect<A | Exclude<State, { _tag: "Free" }>, SqlError | StoreError> =>
      Effect.flatMap(update, (rows) =>
        rows.length > 0
          ? onRow(rows[0]!)
          : Effect.flatMap(state(id), (found) =>
            found._tag !== "Free"
              ? Effect.succeed(found)
              : left > 0
              ? attempt(left - 1)
              : Effect.fail(new StoreError({ operation, cause: `the claim of ${id} kept changing` }))))
    return attempt(3).pipe(fail(operation))
  }

  const claim = (id: string, timeoutMillis: number): Effect.Effect<ClaimOutcome, StoreError> =>
    whenFree("claim", id, claimOnce(id, timeoutMillis), (row) =>
      Effect.map(toLetter(row), (letter) => ({
        _tag: "Claimed" as const,
        letter,
        token: Sql.toNumber(row.claim_token)
      })))

  const release = (id: string, token: number) =>
    sql`UPDATE ${table} SET claimed_until = NULL WHERE id = ${id} AND claim_token = ${token}`.pipe(
      Effect.asVoid,
      fail("release")
    )

  const complete = (id: string, token: number, letter: Letter) => {
    const c = columns(letter)
    return sql<{ id: string }>`UPDATE ${table}
      SET data = ${c.data}, resolution = ${c.resolution}, resolved_at = ${c.resolvedAt},
        error_type = ${letter.error.tag}, claimed_until = NULL
      WHERE id = ${id} AND claim_token = ${token} AND claimed_until IS NOT NULL
      RETURNING id`.pipe(
      Effect.map((rows) => rows.length > 0),
      fail("complete")
    )
  }

  const resolveOnce = (id: string, resolution: Resolution) =>
    sql<Row>`UPDATE ${table} SET resolution = ${Sql.json(sql, resolution)}, resolved_at = ${resolution.at},
        claim_token = claim_token + 1, claimed_until = NULL
      WHERE id = ${id} AND resolved_at IS NULL AND ${claimFree}
      RETURNING data, resolution`

  const resolve = (id: string, resolution: Resolution): Effect.Effect<ResolveOutcome, StoreError> =>
    whenFree(
      "resolve",
      id,
      resolveOnce(id, resolution),
      (row) => Effect.map(toLetter(row), (letter) => ({ _tag: "Done" as const, letter }))
    )

  const purge = (resolvedBefore: number, unresolvedBefore: number | undefined) =>
    sql<{ id: string }>`DELETE FROM ${table}
      WHERE ${claimFree}
        AND ((resolved_at IS NOT NULL AND resolved_at < ${resolvedBefore})
          OR (resolved_at IS NULL AND created_at < ${unresolvedBefore ?? Number.MIN_SAFE_INTEGER}))
      RETURNING id`.pipe(
      Effect.map((rows) => rows.length),
      fail("purge")
    )

  // One statement, so the totals and the breakdowns come from one snapshot.
  const counts = sql<{ t: string; e: string; r: unknown; n: unknown; oldest: unknown }>`SELECT task_type AS t,
      error_type AS e, CASE WHEN resolved_at IS NULL THEN 0 ELSE 1 END AS r, COUNT(*) AS n,
      MIN(created_at) AS oldest
    FROM ${table} GROUP BY 1, 2, 3`.pipe(
    Effect.map((rows): Counts => {
      let total = 0
      let resolved = 0
      let oldest: number | undefined
      const byTaskType: Record<string, number> = {}
      const byErrorType: Record<string, number> = {}
      for (const row of rows) {
        const n = Sql.toNumber(row.n)
        total += n
        if (Sql.toNumber(row.r) === 1) {
          resolved += n
          continue
        }
        byTaskType[row.t] = (byTaskType[row.t] ?? 0) + n
        byErrorType[row.e] = (byErrorType[row.e] ?? 0) + n
        const created = Sql.toNumber(row.oldest)
        if (oldest === undefined || created < oldest) oldest = created
      }
      return { total, resolved, byTaskType, byErrorType, oldestUnresolvedCreatedAt: oldest }
    }),
    fail("summary")
  )

  return { insert, get, list, claim, release, complete, resolve, purge, counts, findings: Effect.succeed([]) }
})
