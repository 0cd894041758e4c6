/**
 * The typed errors of the router. They are `Schema.TaggedError`s, so they
 * serialise across HTTP and files.
 *
 * @since 0.1.0
 */
import * as StoreFailure from "@agentos/core/StoreFailure"
import * as Schema from "effect/Schema"

/**
 * A call's argument is not valid (a request with negative tokens, an unknown
 * scope, a settle with an impossible usage). Nothing was changed.
 *
 * @since 0.1.0
 * @category errors
 */
export class InvalidInput extends Schema.TaggedError<InvalidInput>()("InvalidInput", {
  message: Schema.String
}) {}

/**
 * A layer's options are not valid (a budget of negative money, a margin
 * that is not a percentage, a reference model that is not in the catalog).
 * The layer fails when it is built.
 *
 * @since 0.1.0
 * @category errors
 */
export class InvalidOptions extends Schema.TaggedError<InvalidOptions>()("InvalidOptions", {
  message: Schema.String
}) {}

/**
 * A catalog is not valid, or one of its prices is implausible: `model` and
 * `field` say where (`model` is empty for a problem of the whole catalog).
 *
 * @since 0.1.0
 * @category errors
 */
export class InvalidCatalog extends Schema.TaggedError<InvalidCatalog>()("InvalidCatalog", {
  model: Schema.String,
  field: Schema.String,
  problem: Schema.String
}) {
  /** @since 0.1.0 */
  override get message(): string {
    return this.model === ""
      ? `invalid catalog: ${this.field}: ${this.problem}`
      : `invalid catalog: model "${this.model}", ${this.field}: ${this.problem}`
  }
}

/**
 * Why a model was passed over for a request.
 *
 * - `context-too-small`: input plus the output cap exceed its context window
 *   (or the output cap exceeds its maximum output);
 * - `complexity-out-of-range`: the request's complexity is outside its range;
 * - `missing-capability`: it lacks a required capability;
 * - `too-slow`: its estimated latency exceeds the request's maximum;
 * - `over-cost-ceiling`: its estimated cost exceeds the request's maximum;
 * - `over-budget`: its estimated cost exceeds what a spend scope has left;
 * - `provider-excluded`: its provider is denied, or not among the allowed;
 * - `missing-tag`: it lacks a tag the request requires;
 * - `not-preferred`: the preference strategy does not list it;
 * - `outranked`: it qualified, and the strategy chose another (more
 *   expensive, slower, or later in the preference list);
 * - `cooling-down` (routed calls): it failed repeatedly, or answered 429
 *   with a `Retry-After` that has not passed;
 * - `rate-limited` (routed calls): the call would pass its model's or
 *   provider's requests- or tokens-per-minute limit;
 * - `failed-this-call` (routed calls): it already failed this call, which
 *   falls back to another model;
 * - `no-provider` (routed calls): no provider of the application serves it.
 *
 * @since 0.1.0
 * @category models
 */
export const ReasonKind = Schema.Literal(
  "context-too-small",
  "complexity-out-of-range",
  "missing-capability",
  "too-slow",
  "over-cost-ceiling",
  "over-budget",
  "provider-excluded",
  "missing-tag",
  "not-preferred",
  "outranked",
  "cooling-down",
  "rate-limited",
  "failed-this-call",
  "no-provider"
)

/**
 * @since 0.1.0
 * @category models
 */
export type ReasonKind = typeof ReasonKind.Type

/**
 * A model passed over: every reason that applies, and its estimates for the
 * request (micro-dollars, milliseconds).
 *
 * @since 0.1.0
 * @category models
 */
export const Rejection = Schema.Struct({
  model: Schema.String,
  reasons: Schema.Array(ReasonKind),
  estimatedCost: Schema.Int,
  estimatedLatencyMillis: Schema.Number
}).annotations({ identifier: "Rejection" })

/**
 * @since 0.1.0
 * @category models
 */
export type Rejection = typeof Rejection.Type

/**
 * A rejection as a sentence: `"gpt-4o: too-slow, over-cost-ceiling (est. 7500 µ$, 9616 ms)"`.
 *
 * @since 0.1.0
 * @category models
 */
export const describeRejection = (rejection: Rejection): string =>
  `${rejection.model}: ${rejection.reasons.join(", ")} (est. ${rejection.estimatedCost} µ$, ${
    Math.round(rejection.estimatedLatencyMillis)
  } ms)`

/**
 * No model of the catalog can take the request. `rejections` holds every
 * model with the reasons it was passed over; there is no silent fallback.
 *
 * @since 0.1.0
 * @category errors
 */
export class NoEligibleModel extends Schema.TaggedError<NoEligibleModel>()("NoEligibleModel", {
  rejections: Schema.Array(Rejection)
}) {
  /** @since 0.1.0 */
  override get message(): string {
    return `no model can take the request: ${this.rejections.map(describeRejection).join("; ")}`
  }
}

/**
 * A spend scope cannot hold the reservation: `scope` names it, `limit`,
 * `committed` (charged plus held) and `remaining` are micro-dollars of its
 * current period, which resets in `retryAfterMillis`.
 *
 * @since 0.1.0
 * @category errors
 */
export class SpendLimitExceeded extends Schema.TaggedError<SpendLimitExceeded>()("SpendLimitExceeded", {
  scope: Schema.String,
  period: Schema.String,
  limit: Schema.Int,
  committed: Schema.Int,
  remaining: Schema.Int,
  requested: Schema.Int,
  retryAfterMillis: Schema.Int
}) {
  /** @since 0.1.0 */
  override get message(): string {
    return `spend scope "${this.scope}" (${this.period}) has ${this.remaining} µ$ left of ${this.limit} µ$; ` +
      `${this.requested} µ$ requested; it resets in ${this.retryAfterMillis} ms`
  }
}

/**
 * No open reservation has this id (never made, already settled or
 * cancelled).
 *
 * @since 0.1.0
 * @category errors
 */
export class ReservationNotFound extends Schema.TaggedError<ReservationNotFound>()("ReservationNotFound", {
  id: Schema.String
}) {
  /** @since 0.1.0 */
  override get message(): string {
    return `no open reservation with id "${this.id}"`
  }
}

/**
 * The reservation expired before it was settled: it was settled at its
 * reserved amount (`charged`), as a holder that died would be.
 *
 * @since 0.1.0
 * @category errors
 */
export class ReservationExpired extends Schema.TaggedError<ReservationExpired>()("ReservationExpired", {
  id: Schema.String,
  charged: Schema.Int
}) {
  /** @since 0.1.0 */
  override get message(): string {
    return `reservation "${this.id}" expired before it was settled and was charged its reserved ${this.charged} µ$`
  }
}

/**
 * The spend ledger's backend failed.
 *
 * @since 0.1.0
 * @category errors
 */
export class StoreError extends Schema.TaggedError<StoreError>()("StoreError", StoreFailure.fields) {
  /** @since 0.1.0 */
  override get message(): string {
    return StoreFailure.message("router", this)
  }
}
