import type { WorkflowId } from "@agentos/core/Ids"
import * as Lease from "@agentos/core/Lease"
import * as Sql from "@agentos/core/Sql"
import * as SqlClient from "@effect/sql/SqlClient"
import type { SqlError } from "@effect/sql/SqlError"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import * as Schema from "effect/Schema"
import { Checkpoint, type Lease as WorkflowLease } from "../Checkpoint.js"
import type { CheckpointStoreService } from "../CheckpointStore.js"
import { LeaseLost, StoreError, WorkflowBusy } from "../Errors.js"
import { GRANT_CREATE_FUNCTION, LEASES, migrations, SAVE_FUNCTION, WORKFLOWS } from "./migrations.js"
import * as Paging from "./paging.js"

interface Row {
  readonly workflow_id: string
  readonly name: string
  readonly version: unknown
  readonly status: string
  readonly state: unknown
  readonly completed_steps: unknown
  readonly attempts: unknown
  readonly run: unknown
  readonly failure: unknown
  readonly created_at: unknown
  readonly updated_at: unknown
  readonly completed_at: unknown
  readonly epoch: unknown
}

const decodeCheckpoint = Schema.decodeUnknownEither(Checkpoint)

const fromRow = (row: Row) =>
  Effect.try({
    try: () => ({
      workflowId: row.workflow_id,
      name: row.name,
      version: Sql.toNumber(row.version),
      status: row.status,
      state: Sql.parseJson(row.state),
      completedSteps: Sql.parseJson(row.completed_steps),
      attempts: Sql.parseJson(row.attempts),
      run: Sql.toNumber(row.run),
      ...(row.failure === null || row.failure === undefined ? {} : { failure: Sql.parseJson(row.failure) }),
      createdAt: Sql.toNumber(row.created_at),
      updatedAt: Sql.toNumber(row.updated_at),
      ...(row.completed_at === null || row.completed_at === undefined ?
        {} :
        { completedAt: Sql.toNumber(row.completed_at) }),
      epoch: Sql.toNumber(row.epoch)
    }),
    catch: (error) => error
  }).pipe(
    Effect.flatMap(decodeCheckpoint),
    Effect.mapError((error) =>
      new StoreError({
        operation: "load",
        cause: new Error(`the stored checkpoint of workflow "${row.workflow_id}" is corrupt: ${String(error)}`, {
          cause: error
        })
      })
    )
  )

const storeError = (operation: string) => (cause: SqlError) => new StoreError({ operation, cause })

/** @internal */
export const make: Effect.Effect<CheckpointStoreService, StoreError, SqlClient.SqlClient> = Effect.gen(function*() {
  const sql = yield* SqlClient.SqlClient
  yield* Sql.migrate({ packageName: "checkpoint", migrations }).pipe(
    Effect.mapError((cause) => new StoreError({ operation: "migrate", cause }))
  )
  const now = Sql.nowMillis(sql)
  const isPg = Sql.isPg(sql)
  // The save is the hot path (one per step): its text is built once, with
  // the JSON columns as text parameters. On Postgres the save is a call of
  // the save function (migration 0002, replaced by 0004), which share-locks
  // the lease row first (so a concurrent grant, which updates that row,
  // waits for the save to commit, then sees it), then upserts as this does.
  const param = (n: number, pgType?: string) => isPg ? `$${n}${pgType === undefined ? "" : `::${pgType}`}` : "?"
  const upsertText = `INSERT INTO "${WORKFLOWS}" (workflow_id, name, version, status, state, completed_steps,
      attempts, run, failure, created_at, updated_at, completed_at, epoch)
    SELECT ${param(1, "text")}, ${param(2, "text")}, ${param(3, "integer")}, ${param(4, "text")},
      ${param(5, "jsonb")}, ${param(6, "jsonb")}, ${param(7, "jsonb")}, ${param(8, "integer")}, ${param(9, "jsonb")},
      ${param(10, "bigint")}, ${param(11, "bigint")}, ${param(12, "bigint")}, ${param(13, "bigint")}
    WHERE EXISTS (SELECT 1 FROM "${LEASES}"
      WHERE workflow_id = ${param(14)} AND epoch = ${param(15)} AND holder = ${param(16)}${isPg ? " FOR SHARE" : ""})
    ON CONFLICT (workflow_id) DO UPDATE SET
      name = excluded.name, version = excluded.version, status = excluded.status, state = excluded.state,
      completed_steps = excluded.completed_steps, attempts = excluded.attempts, run = excluded.run,
      failure = excluded.failure, created_at = excluded.created_at, updated_at = excluded.updated_at,
      completed_at = excluded.completed_at, epoch = excluded.epoch
    RETURNING (SELECT cancel_requested FROM "${LEASES}" l
      WHERE l.workflow_id = "${WORKFLOWS}".workflow_id) AS cancel_requested`
  const releaseText = `UPDATE "${LEASES}" SET expires_at = 0, cancel_requested = 0
    WHERE workflow_id = ${param(1)} AND epoch = ${param(2)} AND holder = ${param(3)}`
  const abandonText = `UPDATE "${LEASES}" SET expires_at = 0
    WHERE workflow_id = ${param(1)} AND epoch = ${param(2)} AND holder = ${param(3)}`
  // The save that completes a workflow also releases its lease. Postgres:
  // one statement (a call of the save function, which runs the release only
  // when the upsert wrote, i.e. the fence held, in the same transaction: one
  // round trip and one commit; the upsert's share lock on the lease row is
  // upgraded by the same transaction). SQLite has no functions: the save,
  // then the release (an in-process call, where wrapping the two in a
  // transaction measured slower than the commit it saves; a crash between
  // them leaves the lease to expire after its ttl, as a crash before a
  // separate release does).
  const saveCallText = `SELECT ${SAVE_FUNCTION}($1::text, $2::text, $3::integer, $4::text, $5::jsonb, $6::jsonb,
      $7::jsonb, $8::integer, $9::jsonb, $10::bigint, $11::bigint, $12::bigint, $13::bigint, $14::text, $15::boolean)
    AS cancel_requested`

  // A workflow's first checkpoint, written with the grant of its first lease.
  // Postgres: one statement (one round trip, one commit), a call of the
  // grant function (migration 0003): the grant, then the checkpoint inserted
  // only when the grant happened and no checkpoint exists. A workflow that
  // has a checkpoint gets the grant alone, and the engine loads it with a
  // new statement (a new snapshot, taken after the grant). SQLite: the
  // grant, then the same insert fenced by the lease as a save is (one
  // statement instead of a load and a save).
  const columns = `workflow_id, name, version, status, state, completed_steps, attempts, run, failure,
      created_at, updated_at, completed_at, epoch`
  const grantCreateText = `SELECT granted_epoch AS epoch, granted_cancel_requested AS cancel_requested, created
    FROM ${GRANT_CREATE_FUNCTION}($1::text, $2::text, $3::bigint, $4::text, $5::integer, $6::text, $7::jsonb,
      $8::jsonb, $9::jsonb, $10::integer, $11::jsonb, $12::bigint, $13::bigint, $14::bigint)`
  const createText = `INSERT INTO "${WORKFLOWS}" (${columns})
    SELECT ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?
    WHERE EXISTS (SELECT 1 FROM "${LEASES}" WHERE workflow_id = ? AND epoch = ? AND holder = ?)
    ON CONFLICT (workflow_id) DO NOTHING
    RETURNING (SELECT cancel_requested FROM "${LEASES}" l
      WHERE l.workflow_id = "${WORKFLOWS}".workflow_id) AS cancel_requested`

  /** A checkpoint's columns (all but the epoch), as parameters. */
  const columnValues = (c: Checkpoint) => [
    c.name,
    c.version,
    c.status,
    JSON.stringify(c.state),
    JSON.stringify(c.completedSteps),
    JSON.stringify(c.attempts),
    c.run,
    c.failure === undefined ? null : JSON.stringify(c.failure),
    c.createdAt,
    c.updatedAt,
    c.completedAt ?? null
  ]
  /** The parameters of the save (and of SQLite's create): the row, then the lease that fences it. */
  const saveValues = (lease: WorkflowLease, c: Checkpoint) => [
    lease.workflowId,
    ...columnValues(c),
    lease.epoch,
    lease.workflowId,
    lease.epoch,
    lease.holder
  ]

  const busy = (workflowId: WorkflowId) =>
    Effect.flatMap(
      sql<{ readonly holder: string; readonly remaining: unknown }>`SELECT holder,
          expires_at - ${now} AS remaining FROM ${sql(LEASES)} WHERE workflow_id = ${workflowId}`,
      (current) =>
        new WorkflowBusy({
          workflowId,
          holder: current[0]?.holder ?? "unknown",
          retryAfterMillis: Math.max(0, Math.ceil(Sql.toNumber(current[0]?.remaining ?? 0)))
        })
    )

  const renewStatement = (lease: WorkflowLease) =>
    sql<{ readonly cancel_requested: unknown }>`UPDATE ${sql(LEASES)}
      SET expires_at = ${Lease.sqlExpiresAt(sql, lease.ttlMillis)}
      WHERE workflow_id = ${lease.workflowId} AND epoch = ${lease.epoch} AND holder = ${lease.holder}
        AND expires_at > 0
      RETURNING cancel_requested`.pipe(
      Effect.flatMap((rows) =>
        rows.length === 0
          ? Effect.fail(new LeaseLost({ workflowId: lease.workflowId, epoch: lease.epoch }))
          : Effect.succeed({ cancelRequested: Sql.toNumber(rows[0]!.cancel_requested) !== 0 })
      )
    )

  const service: CheckpointStoreService = {
    acquire: (workflowId, holder, ttlMillis) =>
      Effect.gen(function*() {
        const granted = yield* sql<{ readonly epoch: unknown }>`INSERT INTO ${sql(LEASES)}
          (workflow_id, holder, epoch, expires_at, cancel_requested)
          VALUES (${workflowId}, ${holder}, 1, ${Lease.sqlExpiresAt(sql, ttlMillis)}, 0)
          ON CONFLICT (workflow_id) DO UPDATE SET
            holder = excluded.holder,
            epoch = ${sql(LEASES)}.epoch + 1,
            expires_at = excluded.expires_at
          WHERE ${Lease.sqlFree(sql, `${LEASES}.expires_at`)}
          RETURNING epoch`
        if (granted.length > 0) {
          return { workflowId, holder, epoch: Sql.toNumber(granted[0]!.epoch), ttlMillis }
        }
        return yield* busy(workflowId)
      }).pipe(Sql.retryTransient(), Sql.mapError(storeError("acquire"))),
    acquireAndCreate: (workflowId, holder, ttlMillis, initial) =>
      isPg
        ? Effect.gen(function*() {
          const rows = yield* sql.unsafe<
            { readonly epoch: unknown; readonly cancel_requested: unknown; readonly created: unknown }
          >(grantCreateText, [workflowId, holder, ttlMillis, ...columnValues(initial)])
          if (rows.length === 0) return yield* busy(workflowId)
          const created = Sql.toNumber(rows[0]!.created) > 0
          return {
            lease: { workflowId, holder, epoch: Sql.toNumber(rows[0]!.epoch), ttlMillis },
            created,
            cancelRequested: created && Sql.toNumber(rows[0]!.cancel_requested) !== 0
          }
        }).pipe(Sql.retryTransient(), Sql.mapError(storeError("acquire")))
        : Effect.flatMap(service.acquire(workflowId, holder, ttlMillis), (lease) =>
          sql.unsafe<{ readonly cancel_requested: unknown }>(createText, saveValues(lease, initial)).pipe(
            Sql.retryTransient(),
            Effect.map((rows) => ({
              lease,
              created: rows.length > 0,
              cancelRequested: rows.length > 0 && Sql.toNumber(rows[0]!.cancel_requested ?? 0) !== 0
            })),
            Sql.mapError(storeError("acquire")),
            // The grant is committed but not returned: ended, so that it does
            // not turn every runner (this caller's retry included) away until
            // its ttl runs out. Unlike a release it keeps a pending
            // cancellation request for the next holder, as Postgres's rolled
            // back grant does. One that fails leaves the ttl.
            Effect.tapError(() =>
              Effect.ignore(sql.unsafe(abandonText, [lease.workflowId, lease.epoch, lease.holder]))
            )
          )),
    renew: (lease) => renewStatement(lease).pipe(Sql.retryTransient(), Sql.mapError(storeError("renew"))),
    release: (lease) =>
      sql.unsafe(releaseText, [lease.workflowId, lease.epoch, lease.holder]).pipe(
        Sql.retryTransient(),
        Effect.asVoid,
        Sql.mapError(storeError("release"))
      ),
    requestCancel: (workflowId) =>
      sql<{ readonly epoch: unknown }>`UPDATE ${sql(LEASES)} SET cancel_requested = 1
        WHERE workflow_id = ${workflowId} AND ${Lease.sqlLive(sql, "expires_at")} RETURNING epoch`.pipe(
        Sql.retryTransient(),
        Effect.map((rows) => rows.length > 0),
        Sql.mapError(storeError("requestCancel"))
      ),
    load: (workflowId) =>
      sql<Row>`SELECT * FROM ${sql(WORKFLOWS)} WHERE workflow_id = ${workflowId}`.pipe(
        Sql.retryTransient(),
        Sql.mapError(storeError("load")),
        Effect.flatMap((rows) =>
          rows.length === 0 ? Effect.succeed(Option.none()) : Effect.map(fromRow(rows[0]!), Option.some)
        )
      ),
    save: (lease, c, options) => {
      const release = options?.release === true
      const saved = Effect.flatMap(
        isPg
          ? sql.unsafe<{ readonly cancel_requested: unknown }>(saveCallText, [
            lease.workflowId,
            ...columnValues(c),
            lease.epoch,
            lease.holder,
            release
          ])
          : sql.unsafe<{ readonly cancel_requested: unknown }>(upsertText, saveValues(lease, c)),
        (rows) =>
          // Postgres: one row, whose value is NULL when the fence failed.
          rows.length === 0 || (isPg && rows[0]!.cancel_requested === null)
            ? Effect.fail(new LeaseLost({ workflowId: lease.workflowId, epoch: lease.epoch }))
            : Effect.succeed({ cancelRequested: Sql.toNumber(rows[0]!.cancel_requested ?? 0) !== 0 })
      )
      const committed = saved.pipe(Sql.retryTransient(), Sql.mapError(storeError("save")))
      return release && !isPg
        ? Effect.tap(committed, () =>
          // The save is committed: a release that fails now must not report
          // it as failed. The lease expires after its ttl, as after a crash.
          sql.unsafe(releaseText, [lease.workflowId, lease.epoch, lease.holder]).pipe(
            Sql.retryTransient(),
            Effect.catchAll((error) =>
              Effect.logWarning("checkpoint: the lease was not released; it expires after its ttl", {
                workflowId: lease.workflowId,
                message: Sql.describe(error)
              })
            )
          ))
        : committed
    },
    list: (raw) =>
      Effect.gen(function*() {
        const query = yield* Paging.check(raw)
        const { cursor, limit } = query
        const desc = query.order === "desc"
        // Keyset paging on the primary key, bytewise on both databases
        // (Postgres: the column is COLLATE "C"), in either direction.
        const clauses = [
          ...(query.status === undefined ? [] : [sql`status = ${query.status}`]),
          ...(query.name === undefined ? [] : [sql`name = ${query.name}`]),
          ...(cursor === undefined ? [] : [desc ? sql`workflow_id < ${cursor}` : sql`workflow_id > ${cursor}`])
        ]
        const rows = yield* sql<Row>`SELECT * FROM ${sql(WORKFLOWS)}
          ${clauses.length === 0 ? sql`` : sql`WHERE ${sql.and(clauses)}`}
          ORDER BY workflow_id ${sql.literal(desc ? "DESC" : "ASC")} LIMIT ${limit + 1}`.pipe(
          Sql.retryTransient(),
          Sql.mapError(storeError("list"))
        )
        const items = yield* Effect.forEach(rows.slice(0, limit), fromRow)
        return rows.length > limit ? { items, cursor: items[items.length - 1]!.workflowId } : { items }
      }),
    prune: ({ statuses, updatedBefore }) =>
      statuses.length === 0 ? Effect.succeed(0) : sql<{ readonly workflow_id: string }>`DELETE FROM ${sql(WORKFLOWS)}
        WHERE ${sql.in("status", statuses)} AND updated_at < ${updatedBefore}
          AND NOT EXISTS (SELECT 1 FROM ${sql(LEASES)} l
            WHERE l.workflow_id = ${sql(WORKFLOWS)}.workflow_id AND ${Lease.sqlLive(sql, "l.expires_at")})
        RETURNING workflow_id`.pipe(
        Sql.retryTransient(),
        Effect.map((rows) => rows.length),
        Sql.mapError(storeError("prune"))
      )
  }
  return service
})
