/**
 * A team's shared token budget: agents registered with a priority weight
 * (and optional guaranteed minimum and maximum shares) get allocations that
 * follow the weights; requests and reservations are granted from an agent's
 * allocation, from what it lent (reclaimed) and from idle agents (stolen),
 * and never pass the team's total. `layerMemory` keeps one process's
 * budget; `layerSql` keeps it in SQLite or a Postgres that several
 * processes share (every operation is one transaction).
 *
 * @since 0.1.0
 */
import * as AdmissionPolicy from "@agentos/core/AdmissionPolicy"
import type * as Period from "@agentos/core/Period"
import type * as SqlClient from "@effect/sql/SqlClient"
import * as Context from "effect/Context"
import type * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import type * as Queue from "effect/Queue"
import type * as Scope from "effect/Scope"
import type * as Stream from "effect/Stream"
import type { AgentSpecInput, AgentStatus, Alert, Dashboard, Grant, Reservation, Settlement } from "./Budget.js"
import type {
  AgentBusy,
  BudgetExhausted,
  InvalidInput,
  InvalidOptions,
  ReservationNotFound,
  StoreError,
  UnknownAgent
} from "./Errors.js"
import * as Admission from "./internal/admission.js"
import * as MemoryStore from "./internal/memoryStore.js"
import * as OptionsInternal from "./internal/options.js"
import * as Service from "./internal/service.js"
import * as SqlStore from "./internal/sqlStore.js"

/**
 * The options of a budget's layers.
 *
 * @since 0.1.0
 * @category models
 */
export interface Options {
  /** The team's name: processes that name the same team on one database share its budget (default `"default"`). */
  readonly team?: string
  /** The team's total in tokens (per period when `period` is set). */
  readonly total: number
  /**
   * Resets use at the start of each calendar period (core's `Period`, read
   * from `Clock`). Unused allocation never carries over (allocations are
   * recomputed by weight); reservations held across the boundary carry
   * over, still reserved. Without a period the total is for the budget's
   * whole life.
   */
  readonly period?: Period.Period
  /** An agent with no request, reservation or commit for this long is idle and may be stolen from (default 1 minute). */
  readonly idleAfter?: Duration.DurationInput
  /** The fraction of what an idle donor has left that a steal may take (default 0.5, as in the article). */
  readonly donorShare?: number
  /** How long a reservation is held unless committed or released (default 5 minutes). */
  readonly reservationTimeout?: Duration.DurationInput
  /**
   * How long a settled (committed, released or expired) reservation is
   * remembered, by the store's clock (default 1 hour): within it a second
   * `commit` or `release` returns the first settlement; after it, or once
   * the period ends, the reservation is forgotten (`ReservationNotFound`).
   */
  readonly settlementRetention?: Duration.DurationInput
  /** Use fractions that raise a `ThresholdCrossed` alert, once per scope and period (default `[0.8, 1]`). */
  readonly alertThresholds?: ReadonlyArray<number>
  /** How many of the latest steals and reclaims the dashboard shows (default 100). */
  readonly transferLimit?: number
}

/**
 * Options of `request` and `reserve`.
 *
 * @since 0.1.0
 * @category models
 */
export interface RequestOptions {
  /** Grant what the agent can get when that is less than asked, rather than fail (default false). */
  readonly partial?: boolean
}

/**
 * Options of `reserve`.
 *
 * @since 0.1.0
 * @category models
 */
export interface ReserveOptions extends RequestOptions {
  /** How long the reservation is held (default: the layer's `reservationTimeout`); `"never"`: until settled. */
  readonly timeout?: Duration.DurationInput | "never"
}

/**
 * @since 0.1.0
 * @category models
 */
export interface TokenBudgetService {
  /** The team's name. */
  readonly team: string
  /** The period its total is for, when it has one. */
  readonly period: Period.Period | undefined
  /**
   * Registers an agent, or changes a registered agent's weight and shares,
   * and rebalances: only unused allocation moves.
   */
  readonly register: (spec: AgentSpecInput) => Effect.Effect<void, InvalidInput | StoreError>
  /**
   * Registers (or re-registers) many agents in one transaction and
   * rebalances once — for a team's start-up, where a `register` per agent
   * rebalances n times. Nothing is written when any spec is invalid, an id
   * is given twice, or the minimum shares would add up to more than 1.
   */
  readonly registerAll: (specs: ReadonlyArray<AgentSpecInput>) => Effect.Effect<void, InvalidInput | StoreError>
  /** Removes an agent (refused while it holds reservations) and rebalances; what it used stays counted. */
  readonly remove: (agent: string) => Effect.Effect<void, InvalidInput | UnknownAgent | AgentBusy | StoreError>
  /** Grants `tokens` to the agent, charged as used at once. */
  readonly request: (
    agent: string,
    tokens: number,
    options?: RequestOptions
  ) => Effect.Effect<Grant, InvalidInput | UnknownAgent | BudgetExhausted | StoreError>
  /** Holds `tokens` for the agent until `commit`, `release` or the timeout. */
  readonly reserve: (
    agent: string,
    tokens: number,
    options?: ReserveOptions
  ) => Effect.Effect<Reservation, InvalidInput | UnknownAgent | BudgetExhausted | StoreError>
  /** Charges a reservation's actual usage and returns the rest. Idempotent. */
  readonly commit: (
    reservation: string,
    actualTokens: number
  ) => Effect.Effect<Settlement, InvalidInput | ReservationNotFound | StoreError>
  /** Gives a reservation back unused. Idempotent. */
  readonly release: (reservation: string) => Effect.Effect<Settlement, InvalidInput | ReservationNotFound | StoreError>
  /** One agent's figures. */
  readonly agent: (agent: string) => Effect.Effect<AgentStatus, UnknownAgent | StoreError>
  /** The team's figures. */
  readonly dashboard: () => Effect.Effect<Dashboard, StoreError>
  /** Alerts raised by this instance's operations from the moment the stream starts. */
  readonly alerts: Stream.Stream<Alert>
  /** A subscription to the alerts, taken now, ended with the scope (no alert raised after this call is missed). */
  readonly subscribe: Effect.Effect<Queue.Dequeue<Alert>, never, Scope.Scope>
}

/**
 * @since 0.1.0
 * @category tags
 */
export class TokenBudget extends Context.Tag("@agentos/budget/TokenBudget")<TokenBudget, TokenBudgetService>() {}

/**
 * A budget kept in this process's memory. Takes ids from core's
 * `IdGenerator` when one is provided (otherwise a ULID drawn when the layer
 * is built, followed by a counter).
 *
 * @since 0.1.0
 * @category layers
 */
export const layerMemory = (options: Options): Layer.Layer<TokenBudget, InvalidOptions | StoreError> =>
  Layer.scoped(
    TokenBudget,
    Effect.flatMap(OptionsInternal.validate(options), (config) =>
      Service.make(
        config,
        MemoryStore.make({
          transferLimit: config.transferLimit,
          settlementRetentionMillis: config.settlementRetentionMillis
        }),
        "memory"
      ))
  )

/**
 * A budget kept in SQL (SQLite or Postgres) through `SqlClient`: runs its
 * migrations (table `agentos_budget_migrations`) and shares the team's
 * budget with every process that opens the same team on the same database.
 *
 * @since 0.1.0
 * @category layers
 */
export const layerSql = (
  options: Options
): Layer.Layer<TokenBudget, InvalidOptions | StoreError, SqlClient.SqlClient> =>
  Layer.scoped(
    TokenBudget,
    Effect.flatMap(OptionsInternal.validate(options), (config) =>
      Effect.flatMap(
        SqlStore.make({ team: config.team, settlementRetentionMillis: config.settlementRetentionMillis }),
        (store) => Service.make(config, store, "sql")
      ))
  )

/**
 * How the admission policy treats a task without an agent id or without an
 * estimate.
 *
 * @since 0.1.0
 * @category models
 */
export interface AdmissionOptions {
  /** A task without an agent id: refused (default), or admitted holding nothing. */
  readonly withoutAgent?: "refuse" | "admit"
  /** A task without an estimate: refused (default), or admitted reserving `defaultEstimate` tokens. */
  readonly withoutEstimate?: "refuse" | { readonly defaultEstimate: number }
}

/**
 * Core's `AdmissionPolicy` over a budget: a task's estimated tokens are
 * reserved for its agent at admission and held until the task ends (the
 * reservation does not expire); a task that cannot be granted is refused
 * with the scope that ran out and, with a period, the time to its reset.
 * `commit(id, usage)` charges the usage's input plus output tokens;
 * `release(id)` gives the tokens back; both are by id from any process that
 * opened the same team, and idempotent.
 *
 * @since 0.1.0
 * @category constructors
 */
export const makeAdmissionPolicy = (
  budget: TokenBudgetService,
  options: AdmissionOptions = {}
): Effect.Effect<AdmissionPolicy.AdmissionPolicyService, InvalidOptions> => Admission.make(budget, options)

/**
 * The admission policy as a layer over the context's `TokenBudget`.
 *
 * @since 0.1.0
 * @category layers
 */
export const layerAdmissionPolicy = (
  options: AdmissionOptions = {}
): Layer.Layer<AdmissionPolicy.AdmissionPolicy, InvalidOptions, TokenBudget> =>
  Layer.effect(
    AdmissionPolicy.AdmissionPolicy,
    Effect.flatMap(TokenBudget, (budget) => Admission.make(budget, options))
  )
