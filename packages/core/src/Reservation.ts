/**
 * Reservations: an amount (micro-dollars, tokens) held against a limit
 * before work whose exact cost is known only after it, then settled with the
 * actual amount. `@agentos/router` reserves money for a model call;
 * `@agentos/budget` reserves tokens. The rules here are the ones both use:
 *
 * - a reservation is held until `expiresAt` by the one expiry rule of
 *   core's `Lease` (held while `now < expiresAt`), judged on SQL by the
 *   database's clock (`sqlHeld`, `sqlExpired`, `sqlExpiresAt`);
 * - a reservation whose holder died (never settled) expires and is settled
 *   at its reserved amount: it was counted against the limit all along, so
 *   expiry never lets a later reservation pass the limit;
 * - settling charges the actual amount and gives back the rest; an actual
 *   amount above the reservation is charged too, and reported as overage,
 *   never hidden.
 *
 * @since 0.3.0
 */
import type * as SqlClient from "@effect/sql/SqlClient"
import type * as Statement from "@effect/sql/Statement"
import * as Lease from "./Lease.js"

/**
 * What settling a reservation of `reserved` with `actual` charges.
 *
 * @since 0.3.0
 * @category models
 */
export interface Settlement {
  /** What is charged: the actual amount. */
  readonly charged: number
  /** What goes back to the limit: `reserved − actual` when positive. */
  readonly refunded: number
  /** What was charged beyond the reservation: `actual − reserved` when positive. */
  readonly overage: number
}

const checkAmount = (name: string, n: number) => {
  if (!Number.isSafeInteger(n) || n < 0) {
    throw new RangeError(`Reservation: ${name} must be a non-negative safe integer, got ${n}`)
  }
}

/**
 * Settles a reservation of `reserved` with the `actual` amount.
 *
 * @since 0.3.0
 * @category rules
 */
export const settle = (reserved: number, actual: number): Settlement => {
  checkAmount("reserved", reserved)
  checkAmount("actual", actual)
  return {
    charged: actual,
    refunded: Math.max(0, reserved - actual),
    overage: Math.max(0, actual - reserved)
  }
}

/**
 * An expired reservation is settled at its reserved amount.
 *
 * @since 0.3.0
 * @category rules
 */
export const settleExpired = (reserved: number): Settlement => settle(reserved, reserved)

/**
 * Whether `amount` more fits under `limit` with `committed` (charged plus
 * held) already counted.
 *
 * @since 0.3.0
 * @category rules
 */
export const fits = (limit: number, committed: number, amount: number): boolean => committed + amount <= limit

/**
 * Whether a reservation with this expiry is still held at `now` (the
 * `Lease` rule: `now < expiresAt`).
 *
 * @since 0.3.0
 * @category rules
 */
export const isHeld = (expiresAt: number, now: number): boolean => Lease.isLive(expiresAt, now)

/**
 * Whether a reservation with this expiry has expired at `now`
 * (`expiresAt <= now`).
 *
 * @since 0.3.0
 * @category rules
 */
export const isExpired = (expiresAt: number, now: number): boolean => !isHeld(expiresAt, now)

/**
 * The SQL condition "the reservation in `expiresAtColumn` is held", by the
 * database's clock.
 *
 * @since 0.3.0
 * @category sql
 */
export const sqlHeld = (sql: SqlClient.SqlClient, expiresAtColumn: string): Statement.Fragment =>
  Lease.sqlLive(sql, expiresAtColumn)

/**
 * The SQL condition "the reservation in `expiresAtColumn` has expired", by
 * the database's clock.
 *
 * @since 0.3.0
 * @category sql
 */
export const sqlExpired = (sql: SqlClient.SqlClient, expiresAtColumn: string): Statement.Fragment =>
  Lease.sqlFree(sql, expiresAtColumn)

/**
 * The expiry of a reservation made now for `ttlMillis`, by the database's
 * clock, to assign in the reserving statement.
 *
 * @since 0.3.0
 * @category sql
 */
export const sqlExpiresAt = (sql: SqlClient.SqlClient, ttlMillis: number): Statement.Fragment =>
  Lease.sqlExpiresAt(sql, ttlMillis)
