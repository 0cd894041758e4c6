// The task queue on SqlClient: one table, the same statements on SQLite and
// Postgres where they can be. Claims take the first queued row of a type with
// `FOR UPDATE SKIP LOCKED` on Postgres (SQLite has one writer at a time);
// leases, retry delays and retention are judged by the database's clock;
// every write of a claimed task is fenced by its token. A group's running
// count is the count of its running rows; on Postgres a claim of a limited
// group re-counts under a transaction-scoped advisory lock of the group, and
// an offer counts its type's queued rows under one of the type, so that
// neither bound is overshot by claims or offers racing in other processes.
// On Postgres the claim, the end and the end-then-claim are only the
// PL/pgSQL functions of migrations 0005 and 0006 (their text lives there,
// and a function's plans are kept for the session); the statements built
// here for them are SQLite's.
import * as Lease from "@agentos/core/Lease"
import * as Sql from "@agentos/core/Sql"
import type { TokenUsage } from "@agentos/core/TokenUsage"
import * as SqlClient from "@effect/sql/SqlClient"
import type { Connection } from "@effect/sql/SqlConnection"
import type { SqlError } from "@effect/sql/SqlError"
import type * as Statement from "@effect/sql/Statement"
import * as Effect from "effect/Effect"
import * as Hash from "effect/Hash"
import * as Option from "effect/Option"
import * as Schedule from "effect/Schedule"
import * as Stream from "effect/Stream"
import { StoreError } from "../Errors.js"
import type * as Task from "../Task.js"
import type * as TaskQueue from "../TaskQueue.js"
import { migrations, TABLE } from "./migrations.js"

export interface Options {
  /** Listen for other processes' new work (Postgres LISTEN/NOTIFY). Default true. */
  readonly notifications?: boolean
  /** Run the hot statements as named prepared statements on Postgres. Default true. */
  readonly preparedStatements?: boolean
}

// The columns a claim is read from.
interface ClaimRow {
  readonly id: string
  readonly record: unknown
  readonly token: unknown
  readonly deliveries: unknown
  readonly lost: unknown
  readonly failures: unknown
  readonly poisoned: unknown
}

interface Row extends ClaimRow {
  readonly state: string
  readonly cancel_requested: unknown
  readonly outcome: unknown
  readonly finished_at: unknown
  readonly group_key: string | null
}

const isObject = (u: unknown): u is Record<string, unknown> => typeof u === "object" && u !== null && !Array.isArray(u)

const terminal = new Set(["completed", "failed", "cancelled", "dead-lettered"])

const checkTtl = (ttlMillis: number): number => {
  if (!Number.isSafeInteger(ttlMillis) || ttlMillis <= 0) {
    throw new RangeError(`the lease must be a positive integer of milliseconds, got ${ttlMillis}`)
  }
  return ttlMillis
}

export const make = (
  options: Options = {}
): Effect.Effect<TaskQueue.TaskQueueService, StoreError, SqlClient.SqlClient> =>
  Effect.gen(function*() {
    const sql = yield* SqlClient.SqlClient
    yield* Sql.migrate({ packageName: "supervisor", migrations }).pipe(
      Sql.retryTransient(),
      Effect.mapError((cause) => new StoreError({ operation: "migrate", cause }))
    )
    const pg = Sql.isPg(sql)
    const table = sql(TABLE)
    const now = Sql.nowMillis(sql)
    const leaseFree = sql`(lease_expires_at IS NOT NULL AND ${Lease.sqlFree(sql, "lease_expires_at")})`
    const nextSeq = pg
      ? sql`nextval('agentos_supervisor_task_seq')`
      : sql`(SELECT COALESCE(MAX(seq), 0) + 1 FROM ${table})`
    // Postgres: the channel of this schema's notifications (one per schema,
    // so that queues in different schemas do not wake each other). A channel
    // name is at most 63 bytes (pg_notify refuses a longer one): a schema
    // whose name does not fit is named by its md5.
    const channel = pg
      ? yield* sql<{ schema: string; hash: string }>`SELECT current_schema() AS schema,
          md5(current_schema()) AS hash`.pipe(
        Effect.map((rows) => {
          const named = `agentos_supervisor_${rows[0]!.schema}`
          return new TextEncoder().encode(named).length <= 63 ? named : `agentos_supervisor_${rows[0]!.hash}`
        }),
        Effect.mapError((cause) => new StoreError({ operation: "open", cause }))
      )
      : undefined

    const execute = directExecute(sql, options.preparedStatements !== false)

    // The hot statements are compiled once: a statement built with a
    // sentinel for each argument gives its text and where each argument
    // goes; a call runs that text with its arguments, skipping the
    // template's compilation on every claim and end (on @effect/sql-pg's
    // client, on its connection directly: see `directExecute`).
    const prepare = <A extends object>(
      arity: number,
      build: (...args: Array<any>) => Statement.Statement<A>
    ): (...args: Array<unknown>) => Effect.Effect<ReadonlyArray<A>, SqlError> => {
      const sentinels = Array.from({ length: arity }, (_, i) => `\u0000agentos-argument-${i}`)
      const [text, params] = build(...sentinels).compile()
      const order = params.map((param) => {
        const index = sentinels.indexOf(param as string)
        if (index < 0) throw new TypeError(`sqlQueue.prepare: a parameter is not an argument: ${String(param)}`)
        return index
      })
      if (execute === undefined) return (...args) => sql.unsafe<A>(text, order.map((index) => args[index]))
      const named = execute<A>(text)
      return (...args) => named(order.map((index) => args[index]))
    }

    const fail = (operation: string) => <A, E, R>(self: Effect.Effect<A, E, R>) =>
      self.pipe(Sql.retryTransient(), Sql.mapError((cause) => new StoreError({ operation, cause })))

    const decodeRecord = (value: unknown): Task.TaskRecord => {
      const record = Sql.parseJson(value)
      if (!isObject(record) || typeof record.id !== "string" || typeof record.type !== "string") {
        throw new StoreError({ operation: "decode", cause: "a stored task record is not a task record" })
      }
      return record as unknown as Task.TaskRecord
    }

    const decode = <A>(operation: string, f: () => A): Effect.Effect<A, StoreError> =>
      Effect.try({
        try: f,
        catch: (cause) => cause instanceof StoreError ? cause : new StoreError({ operation, cause })
      })

    const notify = (types: Iterable<string>): Effect.Effect<void, SqlError> =>
      channel === undefined
        ? Effect.void
        : Effect.forEach(new Set(types), (type) => sql`SELECT pg_notify(${channel}, ${type})`, { discard: true })

    const typeLock = (type: string) =>
      pg
        ? sql`SELECT pg_advisory_xact_lock(hashtext('agentos_supervisor_type:' || current_schema() || ':' || ${type}))`
        : Effect.void

    const countQueued = (type: string) =>
      Effect.map(
        sql<{ n: unknown }>`SELECT COUNT(*) AS n FROM ${table} WHERE type = ${type} AND state = 'queued'`,
        (rows) => Sql.toNumber(rows[0]!.n)
      )

    const fenced = sql`state = 'running'`

    // ---- offer, take, finish, remove ----

    // The kept task holding an idempotency key (at most one: the key's index is unique).
    const keyHolder = (key: string) =>
      Effect.map(
        sql<{ id: string }>`SELECT id FROM ${table} WHERE idempotency_key = ${key}`,
        (rows) => Option.fromNullable(rows[0]?.id)
      )

    // `Duplicate` when a kept task other than `id` holds the key.
    const duplicateOf = (held: Option.Option<string>, id: string): TaskQueue.OfferResult | undefined =>
      Option.isSome(held) && held.value !== id ? { _tag: "Duplicate", id: held.value } : undefined

    const offer = (record: Task.TaskRecord, offerOptions: { readonly maxQueued: number; readonly force?: boolean }) =>
      sql.withTransaction(Effect.gen(function*() {
        yield* typeLock(record.type)
        const key = record.idempotencyKey
        if (key !== undefined) {
          const duplicate = duplicateOf(yield* keyHolder(key), record.id)
          if (duplicate !== undefined) {
            return duplicate
          }
        }
        const depth = yield* countQueued(record.type)
        if (offerOptions.force !== true && depth >= offerOptions.maxQueued) {
          return { _tag: "Full", depth } satisfies TaskQueue.OfferResult
        }
        // A task of the same key offered meanwhile by another transaction (of
        // another type, not under this type's lock): the unique index decides.
        const inserted = yield* sql<{ id: string }>`INSERT INTO ${table}
          (id, seq, type, priority, group_key, state, record, idempotency_key)
          VALUES (${record.id}, ${nextSeq}, ${record.type}, ${record.priority}, ${record.groupKey ?? null},
            'queued', ${Sql.json(sql, record)}, ${key ?? null})
          ON CONFLICT (idempotency_key) WHERE idempotency_key IS NOT NULL DO NOTHING RETURNING id`
        if (inserted.length === 0) {
          const duplicate = duplicateOf(yield* keyHolder(key!), record.id)
          if (duplicate !== undefined) {
            return duplicate
          }
          return yield* Effect.fail(new StoreError({ operation: "offer", cause: `task ${record.id} was not inserted` }))
        }
        yield* notify([record.type])
        return { _tag: "Queued", depth: depth + 1 } satisfies TaskQueue.OfferResult
      })).pipe(fail("offer"))

    // SQLite: the condition "the task's group is below its limit", or none when every group is unlimited.
    const groupCondition = (limits: TaskQueue.GroupLimits): Statement.Fragment | undefined => {
      const byGroup = Object.entries(limits.byGroup ?? {})
      if (limits.default === undefined && byGroup.length === 0) {
        return undefined
      }
      const otherwise = limits.default === undefined ? sql`NULL` : sql`CAST(${limits.default} AS integer)`
      const limit = byGroup.length === 0
        ? otherwise
        : sql`CASE t.group_key ${
          sql.join(" ", false)(byGroup.map(([group, n]) => sql`WHEN ${group} THEN CAST(${n} AS integer)`))
        } ELSE ${otherwise} END`
      return sql`(t.group_key IS NULL OR ${limit} IS NULL OR (SELECT COUNT(*) FROM ${table} r
        WHERE r.group_key = t.group_key AND r.state = 'running') < ${limit})`
    }

    // SQLite: the claim (one writer at a time: the count in the statement is the count).
    const claimStatement = (
      type: unknown,
      condition: Statement.Fragment | undefined,
      holder: unknown,
      expires: Statement.Fragment
    ) => {
      const where = condition === undefined
        ? sql`t.type = ${type} AND t.state = 'queued'`
        : sql`t.type = ${type} AND t.state = 'queued' AND ${condition}`
      return sql<Row>`UPDATE ${table} SET state = 'running', holder = ${holder}, token = token + 1,
        deliveries = deliveries + 1, lease_expires_at = ${expires} WHERE id = (
          SELECT t.id FROM ${table} t WHERE ${where} ORDER BY t.priority, t.seq LIMIT 1
        ) RETURNING id, record, state, token, deliveries, lost, failures, poisoned, cancel_requested,
        outcome, finished_at, group_key`
    }
    // SQLite, every group unlimited (the hot path): compiled once.
    const claimUnlimited = pg ? undefined : prepare<Row>(
      3,
      (type, holder, ttl) => claimStatement(type, undefined, holder, sql`(${now} + ${ttl})`)
    )

    // Postgres: the limits as the functions take them (a NULL limit is none).
    const pgLimits = (limits: TaskQueue.GroupLimits): [number | null, string | null] => {
      const byGroup = limits.byGroup ?? {}
      return [limits.default ?? null, Object.keys(byGroup).length === 0 ? null : JSON.stringify(byGroup)]
    }
    const pgClaim = prepare<Row>(
      5,
      (type, holder, ttl, byDefault, byGroup) =>
        sql<Row>`SELECT * FROM agentos_supervisor_claim(${type}::text, ${holder}::text, ${ttl}::bigint,
          ${byDefault}::integer, ${byGroup}::jsonb)`
    )

    // Claims one row; the lease is none for `take`.
    const claimRow = (
      type: string,
      limits: TaskQueue.GroupLimits,
      holder: string | null,
      leaseMillis: number | undefined
    ): Effect.Effect<Row | undefined, SqlError> => {
      const ttl = leaseMillis === undefined ? null : checkTtl(leaseMillis)
      if (pg) return Effect.map(pgClaim(type, holder, ttl, ...pgLimits(limits)), (rows) => rows[0])
      const condition = groupCondition(limits)
      const statement = condition === undefined && ttl !== null
        ? claimUnlimited!(type, holder, ttl)
        : claimStatement(type, condition, holder, ttl === null ? sql`NULL` : Lease.sqlExpiresAt(sql, ttl))
      return Effect.map(statement, (rows) => rows[0])
    }

    const take = (type: string, limits: TaskQueue.GroupLimits) =>
      claimRow(type, limits, null, undefined).pipe(
        Effect.flatMap((row) =>
          row === undefined
            ? Effect.succeed(Option.none())
            : decode("take", () => Option.some(decodeRecord(row.record)))
        ),
        fail("take")
      )

    const finish = (id: string) =>
      sql`DELETE FROM ${table} WHERE id = ${id} AND state = 'running' AND lease_expires_at IS NULL`.pipe(
        Effect.asVoid,
        fail("finish")
      )

    const remove = (id: string) =>
      sql<{ id: string }>`DELETE FROM ${table} WHERE id = ${id} AND state = 'queued' RETURNING id`.pipe(
        Effect.map((rows) => rows.length > 0),
        fail("remove")
      )

    const depth = (type: string) => countQueued(type).pipe(fail("depth"))

    // What the one-process protocol left: queued tasks and tasks taken without a lease.
    const clear = sql<{ record: unknown }>`DELETE FROM ${table}
      WHERE state = 'queued' OR (state = 'running' AND lease_expires_at IS NULL) RETURNING record`.pipe(
      Effect.flatMap((rows) => decode("clear", () => rows.map((row) => decodeRecord(row.record)))),
      fail("clear")
    )

    const stats = Effect.gen(function*() {
      const types = yield* sql<{ type: string; n: unknown }>`SELECT type, COUNT(*) AS n FROM ${table}
        WHERE state = 'queued' GROUP BY type`
      const groups = yield* sql<{ group_key: string; state: string; n: unknown }>`SELECT group_key, state,
        COUNT(*) AS n FROM ${table} WHERE group_key IS NOT NULL AND state IN ('queued', 'running')
        GROUP BY group_key, state`
      const byType: Record<string, number> = {}
      for (const row of types) byType[row.type] = Sql.toNumber(row.n)
      const byGroup: Record<string, { queued: number; running: number }> = {}
      for (const row of groups) {
        const entry = byGroup[row.group_key] ??= { queued: 0, running: 0 }
        if (row.state === "queued") entry.queued = Sql.toNumber(row.n)
        else entry.running = Sql.toNumber(row.n)
      }
      return { byType, byGroup } satisfies TaskQueue.QueueStats
    }).pipe(fail("stats"))

    // ---- the leased protocol ----

    const claimOf = (row: ClaimRow): TaskQueue.Claim => ({
      record: decodeRecord(row.record),
      token: Sql.toNumber(row.token),
      deliveries: Sql.toNumber(row.deliveries),
      lostDeliveries: Sql.toNumber(row.lost),
      failures: Sql.toNumber(row.failures),
      poisoned: Sql.toNumber(row.poisoned) === 1
    })

    const claim = (type: string, claimOptions: TaskQueue.ClaimOptions) =>
      claimRow(type, claimOptions.limits, claimOptions.holder, claimOptions.leaseMillis).pipe(
        Effect.flatMap((row) =>
          row === undefined
            ? Effect.succeed(Option.none<TaskQueue.Claim>())
            : decode("claim", () => Option.some(claimOf(row)))
        ),
        fail("claim")
      )

    const renew = (id: string, token: number, leaseMillis: number) =>
      sql<{ cancel_requested: unknown }>`UPDATE ${table} SET lease_expires_at = ${Lease.sqlExpiresAt(sql, leaseMillis)}
        WHERE id = ${id} AND token = ${token} AND ${fenced} AND lease_expires_at IS NOT NULL
        RETURNING cancel_requested`.pipe(
        Effect.map((rows): TaskQueue.RenewResult =>
          rows.length === 0
            ? { _tag: "Lost" }
            : { _tag: "Renewed", cancelRequested: Sql.toNumber(rows[0]!.cancel_requested) === 1 }
        ),
        fail("renew")
      )

    // The record with the task's usage so far (carried to the runner that ends it).
    const withUsage = (usage: TokenUsage | undefined) =>
      usage === undefined
        ? sql``
        : pg
        ? sql`record = jsonb_set(record, '{usage}', ${JSON.stringify(usage)}::jsonb),`
        : sql`record = json_set(record, '$.usage', json(${JSON.stringify(usage)})),`

    // A claimed task leaving its runner (a retry after a failure, a
    // hand-back): fenced by its token, and ended as cancelled in the same
    // statement when a cancel was asked while it ran.
    const requeueClaimed = (
      id: string,
      token: number,
      then: {
        readonly requeued: "Retrying" | "Released"
        readonly state: "retrying" | "queued"
        readonly runAfter: Statement.Fragment
        readonly seq: Statement.Fragment
        readonly usage: TokenUsage | undefined
      }
    ) =>
      sql<{ state: string; type: string }>`UPDATE ${table} SET ${withUsage(then.usage)}
        state = CASE WHEN cancel_requested = 1 THEN 'cancelled' ELSE ${then.state} END,
        outcome = CASE WHEN cancel_requested = 1 THEN ${cancelledOutcome} ELSE outcome END,
        finished_at = CASE WHEN cancel_requested = 1 THEN ${now} ELSE finished_at END,
        seq = CASE WHEN cancel_requested = 1 THEN ${nextSeq} ELSE ${then.seq} END,
        run_after = ${then.runAfter},
        failures = failures + ${sql.literal(then.requeued === "Retrying" ? "1" : "0")},
        holder = NULL, lease_expires_at = NULL
        WHERE id = ${id} AND token = ${token} AND ${fenced} RETURNING state, type`.pipe(
        Effect.flatMap((rows): Effect.Effect<TaskQueue.RequeueResult, SqlError> => {
          const row = rows[0]
          if (row === undefined) return Effect.succeed({ _tag: "Lost" })
          if (row.state === "cancelled") return Effect.succeed({ _tag: "Cancelled" })
          const requeued: TaskQueue.RequeueResult = { _tag: then.requeued }
          return row.state === "queued" ? Effect.as(notify([row.type]), requeued) : Effect.succeed(requeued)
        }),
        fail(then.requeued === "Retrying" ? "retry" : "release")
      )

    const retry = (id: string, token: number, delayMillis: number, usage?: TokenUsage) =>
      requeueClaimed(id, token, {
        requeued: "Retrying",
        state: "retrying",
        runAfter: sql`${now} + ${Math.max(0, Math.round(delayMillis))}`,
        seq: sql`seq`,
        usage
      })

    // Handed back: queued behind its priority's queued tasks, as a reclaimed task is.
    const release = (id: string, token: number, usage?: TokenUsage) =>
      requeueClaimed(id, token, {
        requeued: "Released",
        state: "queued",
        runAfter: sql`run_after`,
        seq: nextSeq,
        usage
      })

    // The end, with the same arguments on both backends: Postgres's is the
    // function agentos_supervisor_end, SQLite's the statement it mirrors.
    const endStatement = prepare<{ ended: unknown }>(5, (status, outcome, id, token, countsFailure) =>
      pg
        ? sql`SELECT agentos_supervisor_end(${status}::text, ${outcome}::jsonb, ${id}::text, ${token}::bigint,
          ${countsFailure}::integer) AS ended`
        : sql`UPDATE ${table} SET state = ${status}, outcome = ${outcome}, finished_at = ${now}, seq = ${nextSeq},
          holder = NULL, lease_expires_at = NULL, failures = failures + ${countsFailure} * (1 - poisoned)
          WHERE id = ${id} AND token = ${token} AND ${fenced} RETURNING 1 AS ended`)

    const countsFailure = (outcome: TaskQueue.Outcome) =>
      outcome.status === "failed" || outcome.status === "dead-lettered"

    const end = (id: string, token: number, outcome: TaskQueue.Outcome) =>
      Effect.map(
        endStatement(outcome.status, JSON.stringify(outcome), id, token, countsFailure(outcome) ? 1 : 0),
        // Postgres: the function's count of rows ended; SQLite: a row per row ended.
        (rows) => rows.length > 0 && Sql.toNumber(rows[0]!.ended) > 0
      ).pipe(fail("end"))

    // Postgres: the end and the next claim in one round trip and one
    // function call (agentos_supervisor_end_then_claim_lean runs the end's
    // statement and the claim's; a claim under group limits goes through
    // agentos_supervisor_claim). SQLite: the end, then the claim.
    const pgEndThenClaim = prepare<ClaimRow & { ended: unknown }>(
      10,
      (status, outcome, id, token, counts, type, holder, ttl, byDefault, byGroup) =>
        sql`SELECT * FROM agentos_supervisor_end_then_claim_lean(${status}::text, ${outcome}::jsonb, ${id}::text,
          ${token}::bigint, ${counts}::integer, ${type}::text, ${holder}::text, ${ttl}::bigint, ${byDefault}::integer,
          ${byGroup}::jsonb)`
    )

    const endThenClaim = (
      ended: { readonly id: string; readonly token: number; readonly outcome: TaskQueue.Outcome },
      type: string,
      claimOptions: TaskQueue.ClaimOptions
    ) => {
      if (!pg) {
        return Effect.flatMap(
          end(ended.id, ended.token, ended.outcome),
          (recorded) => Effect.map(claim(type, claimOptions), (next) => ({ ended: recorded, next }))
        )
      }
      return pgEndThenClaim(
        ended.outcome.status,
        JSON.stringify(ended.outcome),
        ended.id,
        ended.token,
        countsFailure(ended.outcome) ? 1 : 0,
        type,
        claimOptions.holder,
        checkTtl(claimOptions.leaseMillis),
        ...pgLimits(claimOptions.limits)
      ).pipe(
        Effect.flatMap((rows) =>
          decode("endThenClaim", () => {
            const row = rows[0]!
            return {
              ended: Sql.toNumber(row.ended) > 0,
              next: row.id === null || row.id === undefined ? Option.none<TaskQueue.Claim>() : Option.some(claimOf(row))
            }
          })
        ),
        fail("endThenClaim")
      )
    }

    // The stored error of a task cancelled by `cancel` (an encoded TaskCancelled), built from its id.
    const cancelledOutcome = pg
      ? sql`jsonb_build_object('status', 'cancelled', 'error',
          jsonb_build_object('_tag', 'TaskCancelled', 'taskId', id, 'reason', 'cancelled'))`
      : sql`json_object('status', 'cancelled', 'error',
          json_object('_tag', 'TaskCancelled', 'taskId', id, 'reason', 'cancelled'))`

    const reclaim = (reclaimOptions: { readonly maxDeliveries: number }) =>
      Effect.gen(function*() {
        const max = reclaimOptions.maxDeliveries
        // Three statements, each judging expiry by the clock as it runs: their
        // conditions are disjoint, so a lease that expires after one statement
        // passed it over is never taken by a later one meant for other rows
        // (left to the next reclaim instead). A cancel asked meanwhile makes a
        // row no longer match the requeues: it is cancelled next time.
        const cancelled = yield* sql<{ record: unknown }>`UPDATE ${table} SET state = 'cancelled',
          outcome = ${cancelledOutcome}, finished_at = ${now}, seq = ${nextSeq}, holder = NULL, lease_expires_at = NULL
          WHERE ((state = 'running' AND ${leaseFree}) OR state = 'retrying') AND cancel_requested = 1
          RETURNING record`
        const poisoned = yield* sql<{ type: string }>`UPDATE ${table} SET state = 'queued', seq = ${nextSeq},
          lost = lost + 1, poisoned = 1, holder = NULL, lease_expires_at = NULL
          WHERE state = 'running' AND ${leaseFree} AND cancel_requested = 0 AND poisoned = 0 AND lost + 1 >= ${max}
          RETURNING type`
        const requeued = yield* sql<{ type: string }>`UPDATE ${table} SET state = 'queued', seq = ${nextSeq},
          lost = lost + 1, holder = NULL, lease_expires_at = NULL
          WHERE state = 'running' AND ${leaseFree} AND cancel_requested = 0 AND (poisoned = 1 OR lost + 1 < ${max})
          RETURNING type`
        const due = yield* sql<{ type: string }>`UPDATE ${table} SET state = 'queued', seq = ${nextSeq}
          WHERE state = 'retrying' AND run_after <= ${now} AND cancel_requested = 0 RETURNING type`
        yield* notify([...poisoned, ...requeued, ...due].map((row) => row.type))
        const cancelledTasks = yield* decode("reclaim", () => cancelled.map((row) => decodeRecord(row.record)))
        return {
          requeued: requeued.length,
          poisoned: poisoned.length,
          due: due.length,
          cancelledTasks
        } satisfies TaskQueue.ReclaimResult
      }).pipe(fail("reclaim"))

    const stateOf = (id: string) =>
      Effect.map(sql<{ state: string }>`SELECT state FROM ${table} WHERE id = ${id}`, (rows) => rows[0]?.state)

    const cancelOnce = (id: string): Effect.Effect<TaskQueue.CancelResult | undefined, SqlError | StoreError> =>
      Effect.gen(function*() {
        const ended = yield* sql<{ record: unknown }>`UPDATE ${table} SET state = 'cancelled',
          outcome = ${cancelledOutcome}, finished_at = ${now}, seq = ${nextSeq}, cancel_requested = 1
          WHERE id = ${id} AND state IN ('queued', 'retrying') RETURNING record`
        if (ended.length > 0) {
          const record = yield* decode("cancel", () => decodeRecord(ended[0]!.record))
          const cancelled: TaskQueue.CancelResult = { _tag: "Cancelled", record }
          return cancelled
        }
        const marked = yield* sql<{ id: string }>`UPDATE ${table} SET cancel_requested = 1
          WHERE id = ${id} AND state = 'running' RETURNING id`
        if (marked.length > 0) return { _tag: "Requested" }
        const state = yield* stateOf(id)
        if (state === undefined) return { _tag: "NotFound" }
        // Moved between the statements (claimed, retried): asked again.
        return terminal.has(state) ? { _tag: "Ended", status: state as Task.TaskStatus } : undefined
      })

    const cancel = (id: string) =>
      Effect.gen(function*() {
        for (let i = 0; i < 10; i++) {
          const result = yield* cancelOnce(id)
          if (result !== undefined) return result
        }
        return yield* Effect.fail(
          new StoreError({ operation: "cancel", cause: `task ${id} kept changing state during cancel` })
        )
      }).pipe(fail("cancel"))

    const status = (id: string) =>
      sql<Row & { run_after: unknown }>`SELECT id, record, state, token, deliveries, lost, failures, poisoned,
        cancel_requested, outcome, finished_at, group_key FROM ${table} WHERE id = ${id}`.pipe(
        Effect.flatMap((rows) =>
          rows.length === 0 ? Effect.succeed(Option.none<TaskQueue.StoredTask>()) : decode("status", () => {
            const row = rows[0]!
            const stored: TaskQueue.StoredTask = {
              record: decodeRecord(row.record),
              status: row.state as Task.TaskStatus,
              deliveries: Sql.toNumber(row.deliveries),
              lostDeliveries: Sql.toNumber(row.lost),
              failures: Sql.toNumber(row.failures),
              cancelRequested: Sql.toNumber(row.cancel_requested) === 1,
              ...(row.outcome === null || row.outcome === undefined
                ? {}
                : { outcome: Sql.parseJson(row.outcome) as TaskQueue.Outcome }),
              ...(row.finished_at === null || row.finished_at === undefined
                ? {}
                : { finishedAt: Sql.toNumber(row.finished_at) })
            }
            return Option.some(stored)
          })
        ),
        fail("status")
      )

    const purge = (purgeOptions: { readonly retentionMillis: number; readonly maxCount: number }) =>
      Effect.gen(function*() {
        const old = yield* sql<{ id: string }>`DELETE FROM ${table}
          WHERE finished_at IS NOT NULL AND finished_at + ${purgeOptions.retentionMillis} <= ${now} RETURNING id`
        const offset = Math.max(0, Math.floor(purgeOptions.maxCount))
        const beyond = yield* sql<{ id: string }>`DELETE FROM ${table} WHERE id IN (
          SELECT id FROM ${table} WHERE finished_at IS NOT NULL ORDER BY finished_at DESC, seq DESC
          ${pg ? sql`OFFSET ${offset}` : sql`LIMIT -1 OFFSET ${offset}`}
        ) RETURNING id`
        return old.length + beyond.length
      }).pipe(fail("purge"))

    const notifications: Stream.Stream<string> = channel === undefined || options.notifications === false
      ? Stream.never
      : listen(sql, channel)

    const service: TaskQueue.TaskQueueService = {
      offer,
      take,
      finish,
      keyHolder: (key) => keyHolder(key).pipe(fail("keyHolder")),
      remove,
      clear,
      depth,
      stats,
      claim,
      renew,
      retry,
      release,
      end,
      endThenClaim,
      reclaim,
      cancel,
      status,
      purge,
      notifications
    }
    return service
  })

// The hot statements on @effect/sql-pg's client, run on the connection its
// statements take, without the statement's `sql.execute` span and the scope
// it opens and closes around the connection: together about 50 µs of node
// CPU a statement (a statement through the client 131–153 µs, on the
// connection 83–95 µs, 16 fibers in a loop, 20,000 statements, load 3).
// Outside a transaction that client's connection needs no scope (each
// statement takes a pooled client and gives it back itself); inside one it
// is the transaction's. The statement's `acquirer` is not a public field:
// where it is missing, or the client is another one, the statement is run.
// Each statement is a named prepared statement of `pg` (its text is parsed
// and planned once a connection, then only bound and run: what `pg` does
// with a query config's `name`, passed through the connection's text
// argument); the name is the text's hash, so another text is another name.
const PgClientTypeId = "~@effect/sql-pg/PgClient"
const directExecute = (
  sql: SqlClient.SqlClient,
  prepared: boolean
):
  | (<A>(text: string) => (params: ReadonlyArray<unknown>) => Effect.Effect<ReadonlyArray<A>, SqlError>)
  | undefined =>
{
  if ((sql as unknown as Record<string, unknown>)[PgClientTypeId] !== PgClientTypeId) return undefined
  const acquirer = (sql.unsafe("SELECT 1") as unknown as { readonly acquirer?: unknown }).acquirer
  if (!Effect.isEffect(acquirer)) return undefined
  const connection = acquirer as Effect.Effect<Connection, SqlError>
  return <A>(text: string) => {
    // Unnamed (`preparedStatements: false`), the text is parsed and planned on every call, as
    // through the client: for a pooler in transaction mode that does not keep prepared statements.
    const query = prepared ? { name: `agentos_supervisor_${Hash.string(text) >>> 0}`, text } as unknown as string : text
    return (params: ReadonlyArray<unknown>) =>
      Effect.flatMap(connection, (conn) => conn.execute(query, params, undefined)) as Effect.Effect<
        ReadonlyArray<A>,
        SqlError
      >
  }
}

// A Postgres client of @effect/sql-pg has `listen`; it is used when present,
// so the queue needs only `SqlClient`. A failed connection is listened to
// again after a second (the readers' poll covers the gap).
const listen = (sql: SqlClient.SqlClient, channel: string): Stream.Stream<string> => {
  const client = sql as SqlClient.SqlClient & { readonly listen?: (channel: string) => Stream.Stream<string, unknown> }
  if (typeof client.listen !== "function") return Stream.never
  return client.listen(channel).pipe(
    Stream.retry(Schedule.spaced("1 second")),
    Stream.catchAll(() => Stream.never)
  )
}
