/**
 * The router: routes each request to the model the strategy prefers among
 * those that meet every constraint, explains every decision, and runs calls
 * under the spend ledger — reserve before, settle after.
 *
 * `route` computes every decision in full (each model's cost, latency and
 * reasons; no cache). When no model qualifies it fails with
 * `NoEligibleModel` and every model's reasons: there is no silent fallback.
 *
 * `layer(options)` needs a `SpendLedger`; it uses the `TokenCounter` and the
 * `ComplexityEstimator` of its context when given, else core's approximate
 * counter and the heuristic estimator.
 *
 * @since 0.1.0
 */
import type * as Complexity from "@agentos/core/Complexity"
import type * as TokenUsage from "@agentos/core/TokenUsage"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import type * as Stream from "effect/Stream"
import * as ComplexityEstimator from "./ComplexityEstimator.js"
import type {
  InvalidInput,
  InvalidOptions,
  ReservationExpired,
  ReservationNotFound,
  SpendLimitExceeded,
  StoreError
} from "./Errors.js"
import type { NoEligibleModel } from "./Errors.js"
import * as internal from "./internal/router.js"
import * as routing from "./internal/routing.js"
import type * as Model from "./Model.js"
import type * as ModelCatalog from "./ModelCatalog.js"
import type * as Route from "./Route.js"
import type * as Spend from "./Spend.js"
import * as SpendLedger from "./SpendLedger.js"

/**
 * A reservation for a routed call: the decision and the ledger's
 * reservation.
 *
 * @since 0.1.0
 * @category models
 */
export interface Hold {
  readonly decision: Route.RouteDecision
  readonly reservation: Spend.Reservation
}

/**
 * What a call reports: the provider's usage, or, when it reported none, the
 * output text (counted with the `TokenCounter`; the usage is then marked
 * estimated).
 *
 * @since 0.1.0
 * @category models
 */
export type Outcome = { readonly usage: TokenUsage.TokenUsage } | { readonly outputText: string }

/**
 * @since 0.1.0
 * @category models
 */
export interface RouterService {
  readonly catalog: ModelCatalog.ModelCatalog
  /**
   * Routes a request; with `scopes`, a model whose reservation would not fit
   * is `over-budget`. `exclude` adds reasons from outside the catalog for a
   * model (`tokens`: the request's input plus its output cap).
   */
  readonly route: (
    request: Route.RouteRequest,
    options?: {
      readonly exclude?: (model: Model.Model, tokens: number) => ReadonlyArray<Exclusion>
    }
  ) => Effect.Effect<Route.RouteDecision, NoEligibleModel | InvalidInput | StoreError>
  /** Reserves the decision's `reserveCost` in every scope. */
  readonly reserve: (
    decision: Route.RouteDecision,
    scopes: ReadonlyArray<string>
  ) => Effect.Effect<Hold, SpendLimitExceeded | InvalidInput | StoreError>
  /** Settles with the actual usage at the chosen model's prices (and the reference's, for the report). */
  readonly settle: (
    hold: Hold,
    outcome: Outcome
  ) => Effect.Effect<Spend.Settlement, ReservationNotFound | ReservationExpired | InvalidInput | StoreError>
  /**
   * Settles an interrupted call at its reservation (it may have spent it):
   * the ledger's rule for a call whose usage will never be known.
   *
   * @since 0.2.0
   */
  readonly settleInterrupted: (
    hold: Hold
  ) => Effect.Effect<Spend.Settlement, ReservationNotFound | ReservationExpired | InvalidInput | StoreError>
  /** Gives a reservation back in full: the call never went out. */
  readonly cancel: (hold: Hold) => Effect.Effect<void, ReservationNotFound | StoreError>
  /**
   * Routes, reserves, runs `call` with the decision (send `maxOutputTokens`
   * as the provider's `max_tokens`), and settles: with the outcome on
   * success; at the reservation when interrupted (the call may have spent
   * it); cancelled when `call` fails (a failed request is not billed).
   */
  readonly call: <A, E, R>(
    request: Route.RouteRequest & { readonly scopes: ReadonlyArray<string> },
    call: (decision: Route.RouteDecision) => Effect.Effect<{ readonly value: A; readonly outcome: Outcome }, E, R>
  ) => Effect.Effect<
    { readonly value: A; readonly decision: Route.RouteDecision; readonly settlement: Spend.Settlement },
    | E
    | NoEligibleModel
    | SpendLimitExceeded
    | ReservationNotFound
    | ReservationExpired
    | InvalidInput
    | StoreError,
    R
  >
  /** The ledger's report: every scope in the period containing `at` (default now). */
  readonly budgetReport: (options?: { readonly at?: number }) => Effect.Effect<Spend.BudgetReport, StoreError>
  readonly alerts: Stream.Stream<Spend.SpendAlert>
}

/**
 * A reason from outside the catalog to pass a model over (the routed
 * model's cooldowns, rate limits and fallbacks).
 *
 * @since 0.2.0
 * @category models
 */
export type Exclusion = "cooling-down" | "rate-limited" | "failed-this-call" | "no-provider"

/**
 * @since 0.1.0
 * @category tags
 */
export class Router extends Context.Tag("@agentos/router/Router")<Router, RouterService>() {}

/**
 * Options of the router.
 *
 * - `catalog`: default `DefaultCatalog.catalog`;
 * - `strategy`: default `{ _tag: "cheapest" }`;
 * - `reference`: the model a team would use without routing, for savings;
 *   default the most expensive model that can take each request;
 * - `marginPercent`: extra input tokens reserved for tokenizer differences
 *   (default 10).
 *
 * @since 0.1.0
 * @category models
 */
export interface Options {
  readonly catalog?: ModelCatalog.ModelCatalog
  readonly strategy?: Route.Strategy
  readonly reference?: string
  readonly marginPercent?: number
}

/**
 * The router over a `SpendLedger`.
 *
 * @since 0.1.0
 * @category layers
 */
export const layer = (options: Options = {}): Layer.Layer<Router, InvalidOptions, SpendLedger.SpendLedger> =>
  Layer.effect(
    Router,
    Effect.gen(function*() {
      const ledger = yield* SpendLedger.SpendLedger
      const estimator = Option.getOrElse(
        yield* Effect.serviceOption(ComplexityEstimator.ComplexityEstimator),
        () => ({ estimate: ComplexityEstimator.heuristic })
      )
      return yield* internal.make(options, ledger, estimator)
    })
  )

/**
 * A request whose input tokens and complexity are known.
 *
 * @since 0.1.0
 * @category models
 */
export type KnownRequest = Route.RouteRequest & {
  readonly inputTokens: number
  readonly complexity: Complexity.Complexity
}

/**
 * Decides a request without a ledger or services, synchronously: the rule
 * `route` uses, for offline tools (cost reports, tests). `remaining`, when
 * given, is what the tightest spend scope has left.
 *
 * @since 0.1.0
 * @category routing
 */
export const decide = (
  catalog: ModelCatalog.ModelCatalog,
  request: KnownRequest,
  options: Options & { readonly remaining?: number } = {}
): Either.Either<Route.RouteDecision, NoEligibleModel> => {
  const outcome = routing.decide(catalog.models, {
    inputTokens: request.inputTokens,
    outputTokens: request.outputTokens,
    maxOutputTokens: routing.maxOutputTokensOf(request),
    complexity: request.complexity,
    request
  }, {
    strategy: options.strategy ?? CHEAPEST,
    reference: options.reference,
    marginPercent: options.marginPercent ?? 10
  }, options.remaining)
  return outcome._tag === "Chosen"
    ? Either.right(outcome.decision)
    : Either.left(routing.noEligibleModel(outcome.rejections))
}

const CHEAPEST: Route.Strategy = { _tag: "cheapest" }
