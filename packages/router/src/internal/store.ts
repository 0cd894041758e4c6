/**
 * The narrow store contract of the spend ledger: what a backend must do,
 * nothing more. Each method is one transaction.
 */
import type * as Effect from "effect/Effect"
import type { StoreError } from "../Errors.js"

export interface PartInput {
  readonly scope: string
  readonly period: string
  readonly limit: number
}

export interface ReserveInput {
  readonly id: string
  readonly model: string
  readonly amount: number
  readonly inputTokens: number
  readonly maxOutputTokens: number
  /** Sorted by scope (a fixed lock order). */
  readonly parts: ReadonlyArray<PartInput>
  readonly ttlMillis: number
}

export type ReserveOutcome =
  | { readonly _tag: "Reserved"; readonly expiresAt: number }
  | {
    readonly _tag: "Exceeded"
    readonly scope: string
    readonly period: string
    readonly limit: number
    readonly committed: number
  }

/** A scope's spend moved from `before` to `after` (to detect threshold crossings). */
export interface SpendMove {
  readonly scope: string
  readonly period: string
  readonly before: number
  readonly after: number
}

export interface SettleInput {
  readonly charged: number
  readonly reference: number
  readonly estimated: boolean
}

export type SettleOutcome =
  | {
    readonly _tag: "Settled"
    readonly amount: number
    readonly model: string
    readonly moves: ReadonlyArray<SpendMove>
  }
  | { readonly _tag: "NotFound" }
  | { readonly _tag: "Expired"; readonly amount: number; readonly moves: ReadonlyArray<SpendMove> }

/** A threshold alert: `percent` of `scope`'s budget reached in `period`. */
export interface AlertKey {
  readonly scope: string
  readonly period: string
  readonly percent: number
}

export interface Totals {
  readonly spent: number
  readonly reserved: number
  readonly overage: number
  readonly calls: number
}

export interface UsageRow {
  readonly model: string
  readonly calls: number
  readonly spent: number
  readonly overage: number
  readonly reference: number
  readonly estimatedCalls: number
}

export interface Store {
  /** Holds `amount` in every part's scope if each fits its limit; all or none. */
  readonly reserve: (input: ReserveInput) => Effect.Effect<ReserveOutcome, StoreError>
  /** Settles an open, unexpired reservation; an expired one is settled at its amount and reported. */
  readonly settle: (id: string, input: SettleInput) => Effect.Effect<SettleOutcome, StoreError>
  /** Gives an open reservation back in full; whether there was one. */
  readonly cancel: (id: string) => Effect.Effect<boolean, StoreError>
  /** Settles every expired open reservation at its amount. */
  readonly expire: Effect.Effect<ReadonlyArray<SpendMove>, StoreError>
  /**
   * Deletes the settled, expired and cancelled reservations whose expiry is
   * at least `retentionMillis` in the past (by the database's clock on SQL),
   * folding the settled and expired ones into per-model totals first, so
   * `usage` and `totals` are unchanged; how many reservations it deleted.
   */
  readonly purge: (retentionMillis: number) => Effect.Effect<number, StoreError>
  /**
   * Claims threshold alerts: returns those no ledger on this store claimed
   * before (each is claimed once per scope, period and percent, across every
   * process sharing the store).
   */
  readonly claimAlerts: (alerts: ReadonlyArray<AlertKey>) => Effect.Effect<ReadonlyArray<AlertKey>, StoreError>
  readonly totals: (scope: string, period: string) => Effect.Effect<Totals, StoreError>
  readonly usage: (scope: string, period: string) => Effect.Effect<ReadonlyArray<UsageRow>, StoreError>
}
