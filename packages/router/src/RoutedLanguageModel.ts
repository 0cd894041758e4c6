/**
 * `@effect/ai`'s `LanguageModel` with the router underneath: every
 * `generateText`, `generateObject` and `streamText` is routed to a model of
 * the catalog (with every other model's reasons), reserved in the spend
 * ledger before it is sent, run by the `ModelProvider` that serves the
 * model with the decision's output cap as `max_tokens`, and settled after
 * it with the provider's reported usage. A call asks for the capabilities
 * it needs: `json` for `generateObject`, `streaming` for `streamText`,
 * `tools` with a toolkit, `vision` when its prompt holds an image.
 *
 * Settlement rules: usage reported in a finish part is charged as reported;
 * a response without one is charged at its input and its text counted with
 * the `TokenCounter`, marked estimated; a call the provider refused (an
 * HTTP error status or a transport error), or that its adapter could not
 * encode and never sent (`MalformedInput`), is cancelled; an object that does
 * not decode is charged what its answer reports (its usage, or its text
 * counted, estimated); a call that failed otherwise after the provider may
 * have answered (a failing tool handler, a body or stream cut after a 2xx
 * status) is charged its reservation; a call interrupted
 * before it was sent is cancelled; an interrupted call, or a stream its
 * consumer stopped early, is charged its reservation; a stream that fails
 * midway is charged what it delivered (estimated). A stream in which the
 * provider reports an error (an `error` part, such as Anthropic's
 * `overloaded_error` after a 200) is charged what it delivered, logged as
 * failed and counted toward the model's cooldown; a retryable one
 * (overloaded, rate-limited, a server error) reported before anything was
 * delivered falls back like a 5xx, anything else is passed on as it is.
 *
 * Router failures (`NoEligibleModel`, `SpendLimitExceeded`, …) reach the
 * caller as `AiError.UnknownError` (the interface allows only `AiError`)
 * whose `cause` is the typed error: `routerError` gives it back.
 *
 * @since 0.2.0
 */
import type * as AiError from "@effect/ai/AiError"
import * as LanguageModel from "@effect/ai/LanguageModel"
import * as Context from "effect/Context"
import type * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import type * as Option from "effect/Option"
import * as Stream from "effect/Stream"
import * as DecisionLog from "./DecisionLog.js"
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
 *   its expected output);
 * - `maxAttempts`: attempts of a call, the first and its fallbacks
 *   (default 3). A retryable provider failure (429, 408, 409, 5xx, a
 *   transport error or timeout) is cancelled in the ledger and the call is
 *   routed again, with every model that failed it passed over
 *   (`failed-this-call`); each fallback reserves its own cost;
 * - `cooldown`: after `failures` retryable failures in a row (default 3) a
 *   model cools down for `duration` (default 1 minute); a `Retry-After`
 *   cools it down at least that long. A cooling model is passed over
 *   (`cooling-down`) by every call, fallbacks included;
 * - `limits`: requests and tokens (input plus output cap) per minute, per
 *   model name and per catalog provider, checked before a call is sent; a
 *   model over a limit is passed over (`rate-limited`);
 * - `decisionLogSize`: entries the decision log keeps (default 1,000);
 * - `timeout`: an attempt that has not answered (`generateText`,
 *   `generateObject`) or sent its next part (`streamText`) within it fails
 *   as a retryable timeout: the call falls back (a stream, while it has
 *   delivered nothing). It was sent, so it is charged its reservation (a
 *   stream that delivered, what it delivered). Default: none.
 *
 * @since 0.2.0
 * @category models
 */
export interface Options {
  readonly scopes: ReadonlyArray<string>
  readonly outputTokens?: number
  readonly maxOutputTokens?: number
  readonly maxAttempts?: number
  readonly cooldown?: { readonly failures?: number; readonly duration?: Duration.DurationInput }
  readonly limits?: {
    readonly models?: Readonly<Record<string, Limit>>
    readonly providers?: Readonly<Record<string, Limit>>
  }
  readonly decisionLogSize?: number
  readonly timeout?: Duration.DurationInput
}

/**
 * A rate limit: requests and tokens per sliding minute.
 *
 * @since 0.2.0
 * @category models
 */
export interface Limit {
  readonly requestsPerMinute?: number
  readonly tokensPerMinute?: number
}

/**
 * The routed `LanguageModel` and its `DecisionLog`, over the `Router` and
 * the `ModelProviders`.
 *
 * @since 0.2.0
 * @category layers
 */
export const layer = (
  options: Options
): Layer.Layer<
  LanguageModel.LanguageModel | DecisionLog.DecisionLog,
  InvalidOptions,
  Router.Router | ModelProvider.ModelProviders
> =>
  Layer.effectContext(
    Effect.gen(function*() {
      const router = yield* Router.Router
      const providers = yield* ModelProvider.ModelProviders
      const built = yield* internal.make(options, router, providers)
      return Context.make(LanguageModel.LanguageModel, built.model).pipe(
        Context.add(DecisionLog.DecisionLog, built.log)
      )
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
