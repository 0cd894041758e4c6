/**
 * The spend ledger's store contract on `SqlClient` (SQLite and Postgres,
 * many processes). Reserve and settle are each one transaction; a scope's
 * limit is checked and its hold recorded in one conditional upsert, so
 * concurrent reservations — in one process or many — serialise on the
 * scope's row and never pass its limit. Expiry is judged by the database's
 * clock.
 */
import * as Reservation from "@agentos/core/Reservation"
import * as Sql from "@agentos/core/Sql"
import * as SqlClient from "@effect/sql/SqlClient"
import type * as SqlConnection from "@effect/sql/SqlConnection"
import type { SqlError } from "@effect/sql/SqlError"
import type * as Statement from "@effect/sql/Statement"
import * as Data from "effect/Data"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import { StoreError } from "../Errors.js"
import { migrations } from "./migrations.js"
import type * as Store from "./store.js"

class Exceeded extends Data.TaggedError("Exceeded")<{
  readonly scope: string
  readonly period: string
  readonly limit: number
  readonly committed: number
}> {}

const store = (operation: string) => <A, E, R>(self: Effect.Effect<A, E, R>) =>
  self.pipe(Sql.retryTransient(), Sql.mapError((cause) => new StoreError({ operation, cause })))

const gated = (gate: Effect.Semaphore) => <A, E, R>(self: Effect.Effect<A, E, R>) => gate.withPermits(1)(self)

type Row = Record<string, unknown>

/** A statement compiled once: its SQL text, and which argument each of its parameters is. */
interface Prepared {
  readonly text: string
  readonly slots: ReadonlyArray<number>
}

/**
 * Compiles `build` once, with a distinct sentinel number for each of its
 * `arity` arguments, and finds each parameter's argument by its sentinel. A
 * parameter that is no argument is a mistake in the statement (every value
 * must be an argument), caught when the layer is built.
 */
const prepared = (
  arity: number,
  build: (args: ReadonlyArray<unknown>) => Statement.Statement<Row>
): Prepared => {
  const sentinels = Array.from({ length: arity }, (_, i) => 2 ** 52 + 7_919 * (i + 1))
  const [text, params] = build(sentinels).compile()
  const slots = params.map((param) => {
    const slot = sentinels.indexOf(param as number)
    if (slot < 0) throw new Error(`router store: a parameter of a prepared statement is not an argument: ${text}`)
    return slot
  })
  return { text, slots }
}

const run = (
  conn: SqlConnection.Connection,
  statement: Prepared,
  args: ReadonlyArray<unknown>
): Effect.Effect<ReadonlyArray<Row>, SqlError> =>
  conn.execute(statement.text, statement.slots.map((slot) => args[slot]), undefined)

/**
 * Runs `body` on one connection: the caller's transaction's when there is
 * one, else a connection of its own (reserved from the pool on Postgres; on
 * SQLite the client's one connection, held for the body).
 */
const connected = <A, E>(
  sql: SqlClient.SqlClient,
  body: (conn: SqlConnection.Connection) => Effect.Effect<A, E | SqlError>
): Effect.Effect<A, E | SqlError> =>
  Effect.flatMap(
    Effect.serviceOption(SqlClient.TransactionConnection),
    (outer) => outer._tag === "Some" ? body(outer.value[0]) : Effect.scoped(Effect.flatMap(sql.reserve, body))
  )

/**
 * Runs `body` as one transaction on one connection: BEGIN, the body, then
 * COMMIT, or ROLLBACK when the body fails, is interrupted, or COMMIT
 * fails. Inside a caller's transaction it is a savepoint
 * of it (`sql.withTransaction`).
 */
const transaction = <A, E>(
  sql: SqlClient.SqlClient,
  body: (conn: SqlConnection.Connection) => Effect.Effect<A, E | SqlError>
): Effect.Effect<A, E | SqlError> =>
  Effect.flatMap(
    Effect.serviceOption(SqlClient.TransactionConnection),
    (outer) =>
      outer._tag === "Some"
        ? sql.withTransaction(body(outer.value[0]))
        : Effect.uninterruptibleMask((restore) =>
          Effect.scoped(Effect.flatMap(sql.reserve, (conn) => {
            const rollback = Effect.ignore(conn.execute("ROLLBACK", [], undefined))
            return Effect.zipRight(
              conn.execute(Sql.isPg(sql) ? "BEGIN" : "BEGIN IMMEDIATE", [], undefined),
              Effect.flatMap(Effect.exit(restore(body(conn))), (exit) =>
                Exit.isSuccess(exit)
                  ? Effect.as(Effect.tapError(conn.execute("COMMIT", [], undefined), () => rollback), exit.value)
                  : Effect.zipRight(rollback, exit))
            )
          }))
        )
  )

export const makeSqlStore = (
  maxConcurrentTransactions: number
): Effect.Effect<Store.Store, StoreError, SqlClient.SqlClient> =>
  Effect.gen(function*() {
    const sql = yield* SqlClient.SqlClient
    // Transactions beyond the cap wait here, without a deadline, instead of
    // failing on the pool's acquire timeout in a burst.
    const gate = yield* Effect.makeSemaphore(maxConcurrentTransactions)
    yield* Sql.migrate({ packageName: "router", migrations }).pipe(
      Sql.retryTransient(),
      Effect.mapError((cause) => new StoreError({ operation: "migrate", cause }))
    )
    const num = Sql.toNumber

    const pg = Sql.isPg(sql)

    // The hot statements, compiled once to their SQL text and run on a
    // connection directly: a statement through `sql\`…\`` is compiled, gets
    // a span and acquires its connection each time, and `sql.withTransaction`
    // adds a span, a scope and BEGIN/COMMIT prepared anew: on SQLite several
    // times the database's own work (the README's Benchmark has the
    // figures). So reserve, settle and expire carry no `sql.execute` spans.
    const reserveHold = prepared(4, ([scope, period, amount, limit]) =>
      sql`INSERT INTO agentos_router_scopes (scope, period, reserved)
        VALUES (${scope}, ${period}, ${amount})
        ON CONFLICT (scope, period) DO UPDATE SET reserved = agentos_router_scopes.reserved + excluded.reserved
        WHERE agentos_router_scopes.spent + agentos_router_scopes.reserved + excluded.reserved <= ${limit}
        RETURNING 1 AS ok`)
    // expires_at: the database's clock plus the ttl, or (the second part on)
    // the first part's expiry, so the parts expire together.
    const reservationColumns = sql.literal(
      "(id, scope, period, model, amount, input_tokens, max_output_tokens, expires_at, state)"
    )
    const reserveInsert = (expiry: "ttl" | "stamped") =>
      prepared(8, ([id, scope, period, model, amount, inputTokens, maxOutputTokens, ttlOrStamp]) =>
        sql`INSERT INTO agentos_router_reservations ${reservationColumns}
          VALUES (${id}, ${scope}, ${period}, ${model}, ${amount}, ${inputTokens}, ${maxOutputTokens},
            ${expiry === "ttl" ? Reservation.sqlExpiresAt(sql, ttlOrStamp as number) : sql`${ttlOrStamp}`}, 'open')
          RETURNING expires_at`)
    const reserveInsertTtl = reserveInsert("ttl")
    const reserveInsertStamped = reserveInsert("stamped")
    const committedOf = prepared(2, ([scope, period]) =>
      sql`SELECT spent, reserved FROM agentos_router_scopes WHERE scope = ${scope} AND period = ${period}`)
    // Postgres, one scope: the limit check, the hold and the reservation in
    // one statement (a statement is atomic): one round trip, no transaction.
    const reserveOne = prepared(
      9,
      ([id, scope, period, model, amount, inputTokens, maxOutputTokens, limit, ttl]) =>
        sql`WITH held AS (
            INSERT INTO agentos_router_scopes (scope, period, reserved)
            VALUES (${scope}, ${period}, ${amount})
            ON CONFLICT (scope, period) DO UPDATE SET reserved = agentos_router_scopes.reserved + excluded.reserved
            WHERE agentos_router_scopes.spent + agentos_router_scopes.reserved + excluded.reserved <= ${limit}
            RETURNING 1
          )
          INSERT INTO agentos_router_reservations ${reservationColumns}
          SELECT ${id}, ${scope}, ${period}, ${model}, ${amount}, ${inputTokens}, ${maxOutputTokens},
            ${Reservation.sqlExpiresAt(sql, ttl as number)}, 'open'
          FROM held
          RETURNING expires_at`
    )

    const exceeded = (conn: SqlConnection.Connection, part: Store.PartInput) =>
      Effect.flatMap(
        run(conn, committedOf, [part.scope, part.period]),
        (current) =>
          Effect.fail(
            new Exceeded({
              scope: part.scope,
              period: part.period,
              limit: part.limit,
              committed: current.length === 0 ? 0 : num(current[0]!.spent) + num(current[0]!.reserved)
            })
          )
      )

    const reserveParts = (conn: SqlConnection.Connection, input: Store.ReserveInput) =>
      Effect.gen(function*() {
        for (const part of input.parts) {
          const rows = yield* run(conn, reserveHold, [part.scope, part.period, input.amount, part.limit])
          if (rows.length === 0) {
            return yield* exceeded(conn, part)
          }
        }
        let stamped = 0
        for (const part of input.parts) {
          const rows = yield* run(conn, stamped === 0 ? reserveInsertTtl : reserveInsertStamped, [
            input.id,
            part.scope,
            part.period,
            input.model,
            input.amount,
            input.inputTokens,
            input.maxOutputTokens,
            stamped === 0 ? input.ttlMillis : stamped
          ])
          stamped = num(rows[0]!.expires_at)
        }
        return { _tag: "Reserved", expiresAt: stamped } as Store.ReserveOutcome
      })

    const reserveOneStatement = (conn: SqlConnection.Connection, input: Store.ReserveInput, part: Store.PartInput) =>
      Effect.flatMap(
        run(conn, reserveOne, [
          input.id,
          part.scope,
          part.period,
          input.model,
          input.amount,
          input.inputTokens,
          input.maxOutputTokens,
          part.limit,
          input.ttlMillis
        ]),
        (rows) =>
          rows.length === 0
            ? exceeded(conn, part)
            : Effect.succeed<Store.ReserveOutcome>({ _tag: "Reserved", expiresAt: num(rows[0]!.expires_at) })
      )

    const reserve = (input: Store.ReserveInput) =>
      (pg && input.parts.length === 1
        ? connected(sql, (conn) =>
          reserveOneStatement(conn, input, input.parts[0]!))
        : transaction(sql, (conn) =>
          reserveParts(conn, input))).pipe(
          Effect.catchTag("Exceeded", (e): Effect.Effect<Store.ReserveOutcome> =>
            Effect.succeed({
              _tag: "Exceeded",
              scope: e.scope,
              period: e.period,
              limit: e.limit,
              committed: e.committed
            })),
          store("reserve"),
          gated(gate)
        )

    const settleReservation = prepared(4, ([id, charged, reference, estimated]) =>
      sql`UPDATE agentos_router_reservations
        SET state = 'settled', charged = ${charged},
          overage = CASE WHEN ${charged} > amount THEN ${charged} - amount ELSE 0 END,
          reference_cost = ${reference}, estimated = ${estimated}
        WHERE id = ${id} AND state = 'open' AND ${Reservation.sqlHeld(sql, "expires_at")}
        RETURNING scope, period, amount, model`)
    const expireReservation = prepared(1, ([id]) =>
      sql`UPDATE agentos_router_reservations SET state = 'expired', charged = amount, reference_cost = amount
        WHERE id = ${id} AND state = 'open' AND ${Reservation.sqlExpired(sql, "expires_at")}
        RETURNING scope, period, amount`)
    const chargeScope = prepared(5, ([charged, amount, overage, scope, period]) =>
      sql`UPDATE agentos_router_scopes
        SET spent = spent + ${charged}, reserved = reserved - ${amount}, overage = overage + ${overage},
          calls = calls + 1
        WHERE scope = ${scope} AND period = ${period}
        RETURNING spent`)
    // Postgres: the reservation's parts and their scopes settled in one
    // statement; a reservation that is gone or expired takes the transaction
    // below to find out which.
    const settleOne = prepared(4, ([id, charged, reference, estimated]) =>
      sql`WITH r AS (
          UPDATE agentos_router_reservations
          SET state = 'settled', charged = ${charged},
            overage = CASE WHEN ${charged} > amount THEN ${charged} - amount ELSE 0 END,
            reference_cost = ${reference}, estimated = ${estimated}
          WHERE id = ${id} AND state = 'open' AND ${Reservation.sqlHeld(sql, "expires_at")}
          RETURNING scope, period, amount, model
        )
        UPDATE agentos_router_scopes AS s
        SET spent = s.spent + ${charged}, reserved = s.reserved - r.amount,
          overage = s.overage + GREATEST(${charged} - r.amount, 0), calls = s.calls + 1
        FROM r WHERE s.scope = r.scope AND s.period = r.period
        RETURNING s.scope, s.period, s.spent, r.amount, r.model`)

    const applyMoves = (
      conn: SqlConnection.Connection,
      rows: ReadonlyArray<Record<string, unknown>>,
      charged: ((amount: number) => number) | undefined
    ) =>
      Effect.forEach(rows, (row) => {
        const amount = num(row.amount)
        const c = charged === undefined ? amount : charged(amount)
        const overage = Math.max(0, c - amount)
        const scope = String(row.scope)
        const period = String(row.period)
        return Effect.map(
          run(conn, chargeScope, [c, amount, overage, scope, period]),
          (r): Store.SpendMove => {
            const after = num(r[0]!.spent)
            return { scope, period, before: after - c, after }
          }
        )
      })

    const settleArgs = (id: string, input: Store.SettleInput) => [
      id,
      input.charged,
      input.reference,
      input.estimated ? 1 : 0
    ]

    const settleOneStatement = (conn: SqlConnection.Connection, id: string, input: Store.SettleInput) =>
      Effect.map(
        run(conn, settleOne, settleArgs(id, input)),
        (rows): Store.SettleOutcome | undefined =>
          rows.length === 0 ? undefined : {
            _tag: "Settled",
            amount: num(rows[0]!.amount),
            model: String(rows[0]!.model),
            moves: rows.map((row) => {
              const after = num(row.spent)
              return { scope: String(row.scope), period: String(row.period), before: after - input.charged, after }
            })
          }
      )

    const settleParts = (conn: SqlConnection.Connection, id: string, input: Store.SettleInput) =>
      Effect.gen(function*() {
        const rows = yield* run(conn, settleReservation, settleArgs(id, input))
        if (rows.length > 0) {
          const moves = yield* applyMoves(conn, rows, () =>
            input.charged)
          return {
            _tag: "Settled",
            amount: num(rows[0]!.amount),
            model: String(rows[0]!.model),
            moves
          } as Store.SettleOutcome
        }
        const expired = yield* run(conn, expireReservation, [id])
        if (expired.length === 0) {
          return { _tag: "NotFound" } as Store.SettleOutcome
        }
        const moves = yield* applyMoves(conn, expired, undefined)
        return { _tag: "Expired", amount: num(expired[0]!.amount), moves } as Store.SettleOutcome
      })

    const settle = (id: string, input: Store.SettleInput) =>
      (pg
        ? Effect.flatMap(
          connected(sql, (conn) =>
            settleOneStatement(conn, id, input)),
          (outcome) =>
            outcome === undefined
              ? transaction(sql, (conn) =>
                settleParts(conn, id, input))
              : Effect.succeed(outcome)
        )
        : transaction(sql, (conn) =>
          settleParts(conn, id, input))).pipe(store("settle"), gated(gate))

    const cancel = (id: string) =>
      sql.withTransaction(Effect.gen(function*() {
        const rows = yield* sql<{ scope: string; period: string; amount: unknown }>`
        UPDATE agentos_router_reservations SET state = 'cancelled'
        WHERE id = ${id} AND state = 'open' RETURNING scope, period, amount`
        for (const row of rows) {
          yield* sql`UPDATE agentos_router_scopes SET reserved = reserved - ${num(row.amount)}
          WHERE scope = ${row.scope} AND period = ${row.period}`
        }
        return rows.length > 0
      })).pipe(store("cancel"), gated(gate))

    const expireAll = prepared(0, () =>
      sql`UPDATE agentos_router_reservations SET state = 'expired', charged = amount, reference_cost = amount
        WHERE state = 'open' AND ${Reservation.sqlExpired(sql, "expires_at")}
        RETURNING scope, period, amount`)
    const expire = transaction(
      sql,
      (conn) =>
        Effect.flatMap(run(conn, expireAll, []), (rows) =>
          applyMoves(conn, rows, undefined))
    ).pipe(store("expire"), gated(gate))

    const purge = (retentionMillis: number) =>
      sql.withTransaction(Effect.gen(function*() {
        // Delete first and fold what was deleted: a row that changes state
        // meanwhile is either deleted and counted here, or kept.
        const rows = yield* sql<{
          id: string
          scope: string
          period: string
          model: string
          state: string
          charged: unknown
          overage: unknown
          reference_cost: unknown
          estimated: unknown
        }>`DELETE FROM agentos_router_reservations
        WHERE state IN ('settled', 'expired', 'cancelled')
          AND expires_at <= ${Sql.nowMillis(sql)} - ${retentionMillis}
        RETURNING id, scope, period, model, state, charged, overage, reference_cost, estimated`
        const groups = new Map<string, Store.UsageRow & { scope: string; period: string }>()
        for (const row of rows) {
          if (row.state === "cancelled") {
            continue
          }
          const k = `${row.scope}\u0000${row.period}\u0000${row.model}`
          const g = groups.get(k) ??
            {
              scope: row.scope,
              period: row.period,
              model: row.model,
              calls: 0,
              spent: 0,
              overage: 0,
              reference: 0,
              estimatedCalls: 0
            }
          groups.set(k, {
            ...g,
            calls: g.calls + 1,
            spent: g.spent + num(row.charged),
            overage: g.overage + num(row.overage),
            reference: g.reference + num(row.reference_cost),
            estimatedCalls: g.estimatedCalls + num(row.estimated)
          })
        }
        for (const g of groups.values()) {
          yield* sql`INSERT INTO agentos_router_usage
            (scope, period, model, calls, spent, overage, reference_cost, estimated_calls)
          VALUES (${g.scope}, ${g.period}, ${g.model}, ${g.calls}, ${g.spent}, ${g.overage}, ${g.reference},
            ${g.estimatedCalls})
          ON CONFLICT (scope, period, model) DO UPDATE SET
            calls = agentos_router_usage.calls + excluded.calls,
            spent = agentos_router_usage.spent + excluded.spent,
            overage = agentos_router_usage.overage + excluded.overage,
            reference_cost = agentos_router_usage.reference_cost + excluded.reference_cost,
            estimated_calls = agentos_router_usage.estimated_calls + excluded.estimated_calls`
        }
        return new Set(rows.map((row) =>
          row.id
        )).size
      })).pipe(store("purge"), gated(gate))

    // Run only when a settlement first reaches a threshold (once per scope,
    // period and percent in each process), never on the common path.
    const claimAlerts = (alerts: ReadonlyArray<Store.AlertKey>) =>
      Effect.map(
        sql<{ scope: string; period: string; percent: unknown }>`INSERT INTO agentos_router_alerts ${
          sql.insert(alerts.map(({ percent, period, scope }) => ({ scope, period, percent })))
        } ON CONFLICT DO NOTHING RETURNING scope, period, percent`,
        (rows) =>
          rows.map((row): Store.AlertKey => ({ scope: row.scope, period: row.period, percent: num(row.percent) }))
      ).pipe(store("claimAlerts"), gated(gate))

    const totals = (scope: string, period: string) =>
      sql<{ spent: unknown; reserved: unknown; overage: unknown; calls: unknown }>`
      SELECT spent, reserved, overage, calls FROM agentos_router_scopes WHERE scope = ${scope} AND period = ${period}`
        .pipe(
          Effect.map((rows): Store.Totals =>
            rows.length === 0
              ? { spent: 0, reserved: 0, overage: 0, calls: 0 }
              : {
                spent: num(rows[0]!.spent),
                reserved: num(rows[0]!.reserved),
                overage: num(rows[0]!.overage),
                calls: num(rows[0]!.calls)
              }
          ),
          store("totals")
        )

    const usage = (scope: string, period: string) =>
      sql<{ model: string; calls: unknown; spent: unknown; overage: unknown; reference: unknown; estimated: unknown }>`
      SELECT model, sum(calls) AS calls, sum(spent) AS spent, sum(overage) AS overage,
        sum(reference_cost) AS reference, sum(estimated) AS estimated
      FROM (
        SELECT model, 1 AS calls, charged AS spent, overage, reference_cost, estimated
        FROM agentos_router_reservations
        WHERE scope = ${scope} AND period = ${period} AND state IN ('settled', 'expired')
        UNION ALL
        SELECT model, calls, spent, overage, reference_cost, estimated_calls AS estimated
        FROM agentos_router_usage WHERE scope = ${scope} AND period = ${period}
      ) AS kept
      GROUP BY model ORDER BY model`.pipe(
        Effect.map((rows) =>
          rows.map((row): Store.UsageRow => ({
            model: row.model,
            calls: num(row.calls),
            spent: num(row.spent),
            overage: num(row.overage),
            reference: num(row.reference),
            estimatedCalls: num(row.estimated)
          }))
        ),
        store("usage")
      )

    return { reserve, settle, cancel, expire, purge, claimAlerts, totals, usage }
  })
