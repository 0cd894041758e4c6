/**
 * The spend ledger: budgets per scope (global, team, agent) and calendar
 * period, and every call's money held before it and settled after it.
 *
 * `reserve` holds an amount in every scope of the call, in one transaction,
 * only if each scope's charged plus held spend stays within its limit; a
 * `SpendLimitExceeded` names the scope that ran out and what is left.
 * `settle` charges the actual cost and gives the rest back (an actual cost
 * above the reservation is charged too, and recorded as overage);
 * `cancel` gives it all back (a call that never went out). A reservation
 * whose holder died expires after `reservationTtl` (by the database's clock
 * on SQL) and is settled at its reserved amount. Concurrent calls, in one
 * process or many, therefore never pass a budget except by reported overage.
 *
 * Backends: `layerMemory` (one process, judged by `Clock`) and `layerSql`
 * (SQLite or Postgres, many processes).
 *
 * @since 0.1.0
 */
import type * as Money from "@agentos/core/Money"
import type * as SqlClient from "@effect/sql/SqlClient"
import * as Context from "effect/Context"
import type * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import type * as Scope from "effect/Scope"
import type * as Stream from "effect/Stream"
import type {
  InvalidInput,
  InvalidOptions,
  ReservationExpired,
  ReservationNotFound,
  SpendLimitExceeded,
  StoreError
} from "./Errors.js"
import * as ledger from "./internal/ledger.js"
import { makeMemoryStore } from "./internal/memoryStore.js"
import * as internalOptions from "./internal/options.js"
import { makeSqlStore } from "./internal/sqlStore.js"
import type * as Spend from "./Spend.js"

/**
 * What to reserve: `amount` micro-dollars in every one of `scopes`, for a
 * call to `model` with these token counts (kept for the report).
 *
 * @since 0.1.0
 * @category models
 */
export interface ReserveInput {
  readonly scopes: ReadonlyArray<string>
  readonly model: string
  readonly amount: Money.Money
  readonly inputTokens: number
  readonly maxOutputTokens: number
}

/**
 * A call's actual cost: `charged`, what the reference model would have cost
 * for the same usage (`reference`, for the report's saving; default the
 * charge), and whether the usage was estimated rather than reported.
 *
 * @since 0.1.0
 * @category models
 */
export interface Actual {
  readonly charged: Money.Money
  readonly reference?: Money.Money
  readonly estimated?: boolean
}

/**
 * @since 0.1.0
 * @category models
 */
export interface SpendLedgerService {
  readonly budgets: ReadonlyArray<Spend.Budget>
  readonly reserve: (
    input: ReserveInput
  ) => Effect.Effect<Spend.Reservation, SpendLimitExceeded | InvalidInput | StoreError>
  readonly settle: (
    id: string,
    actual: Actual
  ) => Effect.Effect<Spend.Settlement, ReservationNotFound | ReservationExpired | InvalidInput | StoreError>
  readonly cancel: (id: string) => Effect.Effect<void, ReservationNotFound | StoreError>
  /** Settles every expired reservation at its reserved amount; how many parts it settled. */
  readonly expire: Effect.Effect<number, StoreError>
  /**
   * Deletes the settled, expired and cancelled reservations whose expiry is
   * older than `retention` (by the database's clock on SQL), folding them
   * into per-scope, per-period, per-model totals first: the report is
   * unchanged. How many reservations it deleted. The sweep runs it after
   * `expire`.
   */
  readonly purge: Effect.Effect<number, StoreError>
  readonly status: (scope: string) => Effect.Effect<Spend.ScopeStatus, InvalidInput | StoreError>
  /** What the tightest of `scopes` has left (undefined for no scope). */
  readonly remaining: (
    scopes: ReadonlyArray<string>
  ) => Effect.Effect<Money.Money | undefined, InvalidInput | StoreError>
  /**
   * Every configured scope in the period containing `at` (epoch
   * milliseconds; default now, by `Clock`). Settles expired reservations
   * first.
   */
  readonly report: (options?: { readonly at?: number }) => Effect.Effect<Spend.BudgetReport, StoreError>
  /**
   * Threshold crossings and overage, as this process publishes them (a
   * threshold fires once per scope and period across every process on the
   * store: it is claimed in the store by the first settlement at or past it,
   * and published by the process whose claim won). The stream subscribes
   * when it starts running.
   */
  readonly alerts: Stream.Stream<Spend.SpendAlert>
  /** Subscribes at once, for the scope: the alerts from now on, none missed. */
  readonly subscribe: Effect.Effect<Stream.Stream<Spend.SpendAlert>, never, Scope.Scope>
}

/**
 * @since 0.1.0
 * @category tags
 */
export class SpendLedger extends Context.Tag("@agentos/router/SpendLedger")<SpendLedger, SpendLedgerService>() {}

/**
 * Options of the ledger's layers.
 *
 * - `budgets`: one per scope (`limit` in micro-dollars, `period` a day or a
 *   month, UTC unless a `timeZone` is given);
 * - `reservationTtl`: how long a reservation is held before it expires
 *   (default 10 minutes; longer than your slowest call);
 * - `alertPercents`: the thresholds of `ThresholdCrossed` alerts (default
 *   80 and 100);
 * - `sweepInterval`: how often expired reservations are settled in the
 *   background (default 1 minute; 0 turns it off — `expire` and the report
 *   still settle them);
 * - `retention`: how long a finished reservation's row is kept after its
 *   expiry before the sweep (or `purge`) folds it into per-model totals and
 *   deletes it (default 7 days), so the reservations table stays bounded;
 * - `maxConcurrentTransactions` (SQL): see below.
 *
 * @since 0.1.0
 * @category models
 */
export interface Options {
  readonly budgets: ReadonlyArray<{
    readonly scope: string
    readonly limit: number
    readonly period: { readonly unit: "day" | "month"; readonly timeZone?: string }
  }>
  readonly reservationTtl?: Duration.DurationInput
  readonly alertPercents?: ReadonlyArray<number>
  readonly sweepInterval?: Duration.DurationInput
  readonly retention?: Duration.DurationInput
  /**
   * SQL: at most this many of the ledger's transactions run at once in this
   * process (default 8); the rest wait in order rather than fail on the
   * connection pool's acquire timeout in a burst. Keep it at or below the
   * pool's size.
   */
  readonly maxConcurrentTransactions?: number
}

/**
 * A ledger in memory (one process).
 *
 * @since 0.1.0
 * @category layers
 */
export const layerMemory = (options: Options): Layer.Layer<SpendLedger, InvalidOptions> =>
  Layer.scoped(
    SpendLedger,
    Effect.flatMap(internalOptions.resolve(options), (resolved) => ledger.make(makeMemoryStore(), resolved))
  )

/**
 * A ledger on `SqlClient` (SQLite or Postgres), shared by every process on
 * the same database; runs its migrations (`agentos_router_migrations`).
 *
 * @since 0.1.0
 * @category layers
 */
export const layerSql = (
  options: Options
): Layer.Layer<SpendLedger, InvalidOptions | StoreError, SqlClient.SqlClient> =>
  Layer.scoped(
    SpendLedger,
    Effect.flatMap(
      internalOptions.resolve(options),
      (resolved) =>
        Effect.flatMap(makeSqlStore(resolved.maxConcurrentTransactions), (store) => ledger.make(store, resolved))
    )
  )
