/**
 * `@effect/ai`'s `LanguageModel` with the router underneath: every
 * `generateText`, `generateObject` and `streamText` is routed to a model of
 * the catalog (with every other model's reasons), reserved in the spend
 * ledger before it is sent, run by the `ModelProvider` that serves the
 * model with the decision's output cap as `max_tokens`, and settled after
 * it with the provider's reported usage.
 *
 * Settlement rules: usage reported in a finish part is charged as reported;
 * a response without one is charged at its input and its text counted with
 * the `TokenCounter`, marked estimated; a failed call is cancelled; an
 * interrupted call, or a stream its consumer stopped early, is charged its
 * reservation; a stream that fails midway is charged what it delivered
 * (estimated).
 *
 * Router failures (`NoEligibleModel`, `SpendLimitExceeded`, …) reach the
 * caller as `AiError.UnknownError` (the interface allows only `AiError`)
 * whose `cause` is the typed error: `routerError` gives it back.
 *
 * @since 0.2.0
 */
import type * as AiError from "@effect/ai/AiError"
import * as LanguageModel from "@effect/ai/LanguageModel"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import type * as Option from "effect/Option"
import * as Stream from "effect/Stream"
import type {
  InvalidInput,
  InvalidOptions,
  NoEligibleModel,
  ReservationExpired,
  ReservationNotFound,
  SpendLimitExceeded,
  StoreError
} from "./Errors.js"
import * as internal from "./internal/routed.js"
import * as ModelProvider from "./ModelProvider.js"
import * as Route from "./Route.js"
import * as Router from "./Router.js"

/**
 * Options of the routed model.
 *
 * - `scopes`: the spend scopes every call is charged to (a call's hints may
 *   name others);
 * - `outputTokens`: the expected output of a call that does not say
 *   (default 512);
 * - `maxOutputTokens`: the output cap of a call that does not say (default:
 *   its expected output).
 *
 * @since 0.2.0
 * @category models
 */
export interface Options {
  readonly scopes: ReadonlyArray<string>
  readonly outputTokens?: number
  readonly maxOutputTokens?: number
}

/**
 * The routed `LanguageModel`, over the `Router` and the `ModelProviders`.
 *
 * @since 0.2.0
 * @category layers
 */
export const layer = (
  options: Options
): Layer.Layer<LanguageModel.LanguageModel, InvalidOptions, Router.Router | ModelProvider.ModelProviders> =>
  Layer.effect(
    LanguageModel.LanguageModel,
    Effect.gen(function*() {
      const router = yield* Router.Router
      const providers = yield* ModelProvider.ModelProviders
      return yield* internal.make(options, router, providers)
    })
  )

/**
 * Runs `self` with these hints for its routed calls (expected output,
 * complexity, capabilities, ceilings, scopes…).
 *
 * @since 0.2.0
 * @category hints
 */
export const withRequest: {
  (hints: Route.CallHints): <A, E, R>(self: Effect.Effect<A, E, R>) => Effect.Effect<A, E, R>
  <A, E, R>(self: Effect.Effect<A, E, R>, hints: Route.CallHints): Effect.Effect<A, E, R>
} = ((...args: Array<any>) =>
  args.length === 1
    ? (self: Effect.Effect<any, any, any>) => Effect.provideService(self, Route.Hints, args[0])
    : Effect.provideService(args[0], Route.Hints, args[1])) as any

/**
 * `withRequest` for a stream (`LanguageModel.streamText`).
 *
 * @since 0.2.0
 * @category hints
 */
export const withRequestStream = (hints: Route.CallHints) => <A, E, R>(self: Stream.Stream<A, E, R>) =>
  Stream.provideService(self, Route.Hints, hints)

/**
 * The router's failure behind an `AiError` of the routed model, if it is
 * one.
 *
 * @since 0.2.0
 * @category errors
 */
export const routerError: (
  error: AiError.AiError
) => Option.Option<
  NoEligibleModel | SpendLimitExceeded | ReservationNotFound | ReservationExpired | InvalidInput | StoreError
> = internal.routerError
