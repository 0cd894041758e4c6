/**
 * The data of spend accounting: budgets per scope and period, reservations,
 * settlements, alerts and the budget report. Amounts are integer
 * micro-dollars.
 *
 * @since 0.1.0
 */
import * as Money from "@agentos/core/Money"
import * as Period from "@agentos/core/Period"
import * as Schema from "effect/Schema"

/**
 * A budget: `limit` micro-dollars for `scope` per `period` (a calendar day
 * or month, UTC unless a time zone is given). Scopes are names such as
 * `"global"`, `"team:research"`, `"agent:alice"`; a call is charged to every
 * scope it names.
 *
 * @since 0.1.0
 * @category schemas
 */
export const Budget = Schema.Struct({
  scope: Schema.NonEmptyTrimmedString,
  limit: Money.NonNegativeMoney,
  period: Period.Period
}).annotations({ identifier: "Budget" })

/**
 * @since 0.1.0
 * @category models
 */
export type Budget = typeof Budget.Type

/**
 * A reservation: `amount` held in each of `scopes` (in the period current
 * when it was made) until it is settled, cancelled, or expires at
 * `expiresAt` (epoch milliseconds, by the store's clock; on SQL the
 * database's).
 *
 * @since 0.1.0
 * @category models
 */
export interface Reservation {
  readonly id: string
  readonly scopes: ReadonlyArray<{ readonly scope: string; readonly period: string }>
  readonly model: string
  readonly amount: Money.Money
  readonly inputTokens: number
  readonly maxOutputTokens: number
  readonly expiresAt: number
}

/**
 * What settling a reservation did: `charged` (the actual cost), `refunded`
 * (what went back to the scopes), `overage` (what was charged beyond the
 * reservation), and whether the usage was `estimated` (not reported by the
 * provider).
 *
 * @since 0.1.0
 * @category models
 */
export interface Settlement {
  readonly id: string
  readonly charged: Money.Money
  readonly refunded: Money.Money
  readonly overage: Money.Money
  readonly estimated: boolean
}

/**
 * An alert: a scope's spend crossed `percent` of its budget in `period`
 * (once per scope, period and threshold), or a settlement recorded overage.
 *
 * @since 0.1.0
 * @category models
 */
export type SpendAlert =
  | {
    readonly _tag: "ThresholdCrossed"
    readonly scope: string
    readonly period: string
    readonly percent: number
    readonly spent: Money.Money
    readonly limit: Money.Money
  }
  | {
    readonly _tag: "OverageRecorded"
    readonly scope: string
    readonly period: string
    readonly reservationId: string
    readonly model: string
    readonly overage: Money.Money
  }

/**
 * A scope's current period.
 *
 * @since 0.1.0
 * @category models
 */
export interface ScopeStatus {
  readonly scope: string
  readonly period: string
  readonly limit: Money.Money
  /** Charged by settled and expired reservations. */
  readonly spent: Money.Money
  /** Held by open reservations. */
  readonly reserved: Money.Money
  /** `limit − spent − reserved`, never below 0. */
  readonly remaining: Money.Money
  /** Charged beyond reservations. */
  readonly overage: Money.Money
  readonly calls: number
  /** Epoch milliseconds when the period resets. */
  readonly resetsAt: number
}

/**
 * Spend of one model in one scope and period.
 *
 * @since 0.1.0
 * @category models
 */
export interface ModelSpend {
  readonly model: string
  readonly calls: number
  readonly spent: Money.Money
  readonly overage: Money.Money
  /** What the reference model would have cost for the same calls. */
  readonly reference: Money.Money
  /** `reference − spent`. */
  readonly saving: Money.Money
  /** Calls whose usage the provider did not report (counted locally). */
  readonly estimatedCalls: number
}

/**
 * One scope in the budget report.
 *
 * @since 0.1.0
 * @category models
 */
export interface ScopeReport extends ScopeStatus {
  /** `spent / limit` (0 when the limit is 0). */
  readonly utilisation: number
  /** The spend at the end of the period if it goes on at the rate so far. */
  readonly projected: Money.Money
  readonly byModel: ReadonlyArray<ModelSpend>
  readonly saving: Money.Money
}

/**
 * The budget report: every configured scope in its current period.
 *
 * @since 0.1.0
 * @category models
 */
export interface BudgetReport {
  readonly at: number
  readonly scopes: ReadonlyArray<ScopeReport>
}
