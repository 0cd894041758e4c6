/**
 * What a caller asks the router (`RouteRequest`), how it chooses among the
 * models that qualify (`Strategy`), and what it answers (`RouteDecision`).
 *
 * @since 0.1.0
 */
import * as Complexity from "@agentos/core/Complexity"
import type * as Money from "@agentos/core/Money"
import * as Context from "effect/Context"
import * as Schema from "effect/Schema"
import type { Rejection } from "./Errors.js"
import * as Model from "./Model.js"

/**
 * How the router chooses among the models that qualify:
 *
 * - `cheapest` (default): the lowest estimated cost; ties by latency, then
 *   by name;
 * - `fastest`: the lowest estimated latency; ties by cost, then by name;
 * - `preference`: the first of `models` that qualifies (models not listed
 *   are passed over as `not-preferred`).
 *
 * @since 0.1.0
 * @category schemas
 */
export const Strategy = Schema.Union(
  Schema.TaggedStruct("cheapest", {}),
  Schema.TaggedStruct("fastest", {}),
  Schema.TaggedStruct("preference", { models: Schema.NonEmptyArray(Schema.String) })
)

/**
 * @since 0.1.0
 * @category models
 */
export type Strategy = typeof Strategy.Type

/**
 * A request to route.
 *
 * - `inputTokens`, or `prompt` (counted with core's `TokenCounter`);
 * - `outputTokens`: the expected output, for the cost and latency estimates;
 * - `maxOutputTokens`: the output cap the call enforces as `max_tokens`
 *   (default `outputTokens`, at least 1), checked against the model's limits and
 *   reserved in full;
 * - `complexity`: when omitted, the `ComplexityEstimator` judges the prompt;
 * - `requires`: capabilities the model must have;
 * - `maxLatencyMillis`, `maxCost` (micro-dollars): ceilings;
 * - `allowProviders` / `denyProviders`, `tags` (all required);
 * - `scopes`: the spend scopes the call will be charged to; a model whose
 *   reservation does not fit what a scope has left is `over-budget`;
 * - `strategy`: overrides the router's.
 *
 * @since 0.1.0
 * @category schemas
 */
export const RouteRequest = Schema.Struct({
  inputTokens: Schema.optional(Schema.NonNegativeInt),
  prompt: Schema.optional(Schema.String),
  outputTokens: Schema.NonNegativeInt,
  maxOutputTokens: Schema.optional(Schema.Int.pipe(Schema.positive())),
  complexity: Schema.optional(Complexity.Complexity),
  requires: Schema.optional(Schema.Array(Model.Capability)),
  maxLatencyMillis: Schema.optional(Schema.Number.pipe(Schema.positive())),
  maxCost: Schema.optional(Schema.NonNegativeInt),
  allowProviders: Schema.optional(Schema.Array(Schema.String)),
  denyProviders: Schema.optional(Schema.Array(Schema.String)),
  tags: Schema.optional(Schema.Array(Schema.String)),
  scopes: Schema.optional(Schema.Array(Schema.NonEmptyTrimmedString)),
  strategy: Schema.optional(Strategy)
}).annotations({ identifier: "RouteRequest" })

/**
 * @since 0.1.0
 * @category models
 */
export type RouteRequest = typeof RouteRequest.Type

/**
 * The router's answer: the chosen model with its estimates, what the
 * reference model would cost for the same call, and every other model with
 * the reasons it was passed over.
 *
 * @since 0.1.0
 * @category models
 */
export interface RouteDecision {
  readonly model: Model.Model
  /** The cost of the expected usage (input plus `outputTokens`), rounded up once. */
  readonly estimatedCost: Money.Money
  /** Time to first token plus `outputTokens` at the model's output speed. */
  readonly estimatedLatencyMillis: number
  /** What a reservation for this call holds: input plus the margin, and the whole output cap. */
  readonly reserveCost: Money.Money
  readonly inputTokens: number
  readonly outputTokens: number
  readonly maxOutputTokens: number
  readonly complexity: Complexity.Complexity
  /** The reference model (what a team would use without routing) and its cost for the same call. */
  readonly reference: { readonly model: string; readonly estimatedCost: Money.Money } | undefined
  /** `reference.estimatedCost − estimatedCost` (0 without a reference). */
  readonly saving: Money.Money
  readonly rejected: ReadonlyArray<Rejection>
}

/**
 * What a caller of the routed `LanguageModel` says about a call beyond its
 * prompt (the prompt is counted; the rest is a `RouteRequest`): expected
 * output, output cap, complexity, capabilities, ceilings, providers, tags,
 * spend scopes, strategy.
 *
 * @since 0.2.0
 * @category models
 */
export type CallHints = Omit<RouteRequest, "prompt" | "inputTokens" | "outputTokens"> & {
  readonly outputTokens?: number
}

/**
 * The hints of the calls run inside an effect or stream (see
 * `RoutedLanguageModel.withRequest`).
 *
 * @since 0.2.0
 * @category tags
 */
export class Hints extends Context.Tag("@agentos/router/Route/Hints")<Hints, CallHints>() {}
