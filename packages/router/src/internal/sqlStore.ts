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
import * as Data from "effect/Data"
import * as Effect from "effect/Effect"
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

    const applyMoves = (
      rows: ReadonlyArray<{ readonly scope: string; readonly period: string; readonly amount: unknown }>,
      charged: ((amount: number) => number) | undefined
    ) =>
      Effect.forEach(rows, (row) => {
        const amount = num(row.amount)
        const c = charged === undefined ? amount : charged(amount)
        const overage = Math.max(0, c - amount)
        return Effect.map(
          sql<{ spent: unknown }>`UPDATE agentos_router_scopes
          SET spent = spent + ${c}, reserved = reserved - ${amount}, overage = overage + ${overage}, calls = calls + 1
          WHERE scope = ${row.scope} AND period = ${row.period}
          RETURNING spent`,
          (r): Store.SpendMove => {
            const after = num(r[0]!.spent)
            return { scope: row.scope, period: row.period, before: after - c, after }
          }
        )
      })

    const pg = Sql.isPg(sql)

    const exceeded = (part: Store.PartInput) =>
      Effect.flatMap(
        sql<{ spent: unknown; reserved: unknown }>`SELECT spent, reserved
          FROM agentos_router_scopes WHERE scope = ${part.scope} AND period = ${part.period}`,
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

    // Postgres, one scope: the limit check, the hold and the reservation in
    // one statement (a statement is atomic): one round trip, no transaction.
    const reserveOneStatement = (input: Store.ReserveInput, part: Store.PartInput) =>
      Effect.flatMap(
        sql<{ expires_at: unknown }>`WITH held AS (
            INSERT INTO agentos_router_scopes (scope, period, reserved)
            VALUES (${part.scope}, ${part.period}, ${input.amount})
            ON CONFLICT (scope, period) DO UPDATE SET reserved = agentos_router_scopes.reserved + excluded.reserved
            WHERE agentos_router_scopes.spent + agentos_router_scopes.reserved + excluded.reserved <= ${part.limit}
            RETURNING 1
          )
          INSERT INTO agentos_router_reservations
            (id, scope, period, model, amount, input_tokens, max_output_tokens, expires_at, state)
          SELECT ${input.id}, ${part.scope}, ${part.period}, ${input.model}, ${input.amount},
            ${input.inputTokens}, ${input.maxOutputTokens}, ${Reservation.sqlExpiresAt(sql, input.ttlMillis)}, 'open'
          FROM held
          RETURNING expires_at`,
        (rows) =>
          rows.length === 0
            ? exceeded(part)
            : Effect.succeed<Store.ReserveOutcome>({ _tag: "Reserved", expiresAt: num(rows[0]!.expires_at) })
      )

    const reserveTransaction = (input: Store.ReserveInput) =>
      sql.withTransaction(Effect.gen(function*() {
        for (const part of input.parts) {
          const rows = yield* sql`INSERT INTO agentos_router_scopes (scope, period, reserved)
            VALUES (${part.scope}, ${part.period}, ${input.amount})
            ON CONFLICT (scope, period) DO UPDATE SET reserved = agentos_router_scopes.reserved + excluded.reserved
            WHERE agentos_router_scopes.spent + agentos_router_scopes.reserved + excluded.reserved <= ${part.limit}
            RETURNING 1 AS ok`
          if (rows.length === 0) return yield* exceeded(part)
        }
        // Every part gets the first part's expiry (by the database's clock),
        // so the parts expire together.
        let stamped = 0
        for (const part of input.parts) {
          const expiresAt = stamped === 0 ? Reservation.sqlExpiresAt(sql, input.ttlMillis) : sql`${stamped}`
          const rows = yield* sql<{ expires_at: unknown }>`INSERT INTO agentos_router_reservations
            (id, scope, period, model, amount, input_tokens, max_output_tokens, expires_at, state)
            VALUES (${input.id}, ${part.scope}, ${part.period}, ${input.model}, ${input.amount},
              ${input.inputTokens}, ${input.maxOutputTokens}, ${expiresAt}, 'open')
            RETURNING expires_at`
          stamped = num(rows[0]!.expires_at)
        }
        return { _tag: "Reserved", expiresAt: stamped } as Store.ReserveOutcome
      }))

    const reserve = (input: Store.ReserveInput) =>
      (pg && input.parts.length === 1 ? reserveOneStatement(input, input.parts[0]!) : reserveTransaction(input)).pipe(
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

    // Postgres: the reservation's parts and their scopes settled in one
    // statement; a reservation that is gone or expired takes the transaction
    // below to find out which.
    const settleOneStatement = (id: string, input: Store.SettleInput) =>
      Effect.map(
        sql<{ scope: string; period: string; spent: unknown; amount: unknown; model: string }>`WITH r AS (
            UPDATE agentos_router_reservations
            SET state = 'settled', charged = ${input.charged},
              overage = CASE WHEN ${input.charged} > amount THEN ${input.charged} - amount ELSE 0 END,
              reference_cost = ${input.reference}, estimated = ${input.estimated ? 1 : 0}
            WHERE id = ${id} AND state = 'open' AND ${Reservation.sqlHeld(sql, "expires_at")}
            RETURNING scope, period, amount, model
          )
          UPDATE agentos_router_scopes AS s
          SET spent = s.spent + ${input.charged}, reserved = s.reserved - r.amount,
            overage = s.overage + GREATEST(${input.charged} - r.amount, 0), calls = s.calls + 1
          FROM r WHERE s.scope = r.scope AND s.period = r.period
          RETURNING s.scope, s.period, s.spent, r.amount, r.model`,
        (rows): Store.SettleOutcome | undefined =>
          rows.length === 0 ? undefined : {
            _tag: "Settled",
            amount: num(rows[0]!.amount),
            model: rows[0]!.model,
            moves: rows.map((row) => {
              const after = num(row.spent)
              return { scope: row.scope, period: row.period, before: after - input.charged, after }
            })
          }
      )

    const settleTransaction = (id: string, input: Store.SettleInput) =>
      sql.withTransaction(Effect.gen(function*() {
        const rows = yield* sql<{ scope: string; period: string; amount: unknown; model: string }>`
          UPDATE agentos_router_reservations
          SET state = 'settled', charged = ${input.charged},
            overage = CASE WHEN ${input.charged} > amount THEN ${input.charged} - amount ELSE 0 END,
            reference_cost = ${input.reference}, estimated = ${input.estimated ? 1 : 0}
          WHERE id = ${id} AND state = 'open' AND ${Reservation.sqlHeld(sql, "expires_at")}
          RETURNING scope, period, amount, model`
        if (rows.length > 0) {
          const moves = yield* applyMoves(rows, () => input.charged)
          return { _tag: "Settled", amount: num(rows[0]!.amount), model: rows[0]!.model, moves } as Store.SettleOutcome
        }
        const expired = yield* sql<{ scope: string; period: string; amount: unknown }>`
          UPDATE agentos_router_reservations SET state = 'expired', charged = amount, reference_cost = amount
          WHERE id = ${id} AND state = 'open' AND ${Reservation.sqlExpired(sql, "expires_at")}
          RETURNING scope, period, amount`
        if (expired.length === 0) return { _tag: "NotFound" } as Store.SettleOutcome
        const moves = yield* applyMoves(expired, undefined)
        return { _tag: "Expired", amount: num(expired[0]!.amount), moves } as Store.SettleOutcome
      }))

    const settle = (id: string, input: Store.SettleInput) =>
      (pg
        ? Effect.flatMap(
          settleOneStatement(id, input),
          (outcome) => outcome === undefined ? settleTransaction(id, input) : Effect.succeed(outcome)
        )
        : settleTransaction(id, input)).pipe(store("settle"), gated(gate))

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

    const expire = sql.withTransaction(Effect.gen(function*() {
      const rows = yield* sql<{ scope: string; period: string; amount: unknown }>`
      UPDATE agentos_router_reservations SET state = 'expired', charged = amount, reference_cost = amount
      WHERE state = 'open' AND ${Reservation.sqlExpired(sql, "expires_at")}
      RETURNING scope, period, amount`
      return yield* applyMoves(rows, undefined)
    })).pipe(store("expire"), gated(gate))

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
          if (row.state === "cancelled") continue
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
        return new Set(rows.map((row) => row.id)).size
      })).pipe(store("purge"), gated(gate))

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

    return { reserve, settle, cancel, expire, purge, totals, usage }
  })
