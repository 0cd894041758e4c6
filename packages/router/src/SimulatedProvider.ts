/**
 * A simulated LLM provider, for tests, demos and benchmarks: no network,
 * deterministic for a seed, with per-model latency, time to first token,
 * output length and failure rates (429 with `Retry-After`, 500, timeout), a
 * slow mode, and plausible text built from the prompt (JSON from the schema
 * for `generateObject`). It speaks `@effect/ai`'s `LanguageModel` (built
 * with `LanguageModel.make`), reports usage in a finish part (or omits it,
 * like providers that report none), and sends at most the routed call's
 * output cap.
 *
 * With `billedLog`, every call appends one JSON line of what it billed —
 * input and output delivered, also for a call interrupted midway; a failed
 * call bills nothing — fsynced before the call returns: a witness of spend
 * outside the ledger.
 *
 * @since 0.2.0
 */
import * as LanguageModel from "@effect/ai/LanguageModel"
import type { PlatformError } from "@effect/platform/Error"
import * as FileSystem from "@effect/platform/FileSystem"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import type * as ParseResult from "effect/ParseResult"
import * as Schema from "effect/Schema"
import type { InvalidOptions } from "./Errors.js"
import * as internal from "./internal/simulated.js"
import type * as Model from "./Model.js"
import * as ModelProvider from "./ModelProvider.js"

/**
 * How a model behaves. Omitted fields take the provider's `defaults`, then:
 * timing from `timing`, 16–256 output tokens, no failures, `Retry-After: 1`,
 * a 30 s timeout, no slow mode, usage reported.
 *
 * - `timeToFirstTokenMillis`, `outputTokensPerSecond`: the call's timing;
 * - `outputTokens`: how many tokens it writes (drawn from `min`–`max`),
 *   at most the call's output cap (then its finish reason is `length`);
 *   `generateObject`'s JSON, as long as the schema makes it, is cut at the
 *   cap too (and then does not decode);
 * - `failures`: the share of calls failing with 429 (and `Retry-After:
 *   retryAfterSeconds`), 500 (after the time to first token), or a timeout
 *   (after `timeoutMillis`);
 * - `slowFactor`: slow mode — time to first token multiplied and output
 *   speed divided by it;
 * - `reportUsage: false`: no finish part, so no usage.
 *
 * @since 0.2.0
 * @category models
 */
export interface Behaviour {
  readonly timeToFirstTokenMillis?: number
  readonly outputTokensPerSecond?: number
  readonly outputTokens?: { readonly min: number; readonly max: number }
  readonly failures?: { readonly rateLimited?: number; readonly serverError?: number; readonly timeout?: number }
  readonly retryAfterSeconds?: number
  readonly timeoutMillis?: number
  readonly slowFactor?: number
  readonly reportUsage?: boolean
}

/**
 * Options of the simulated provider.
 *
 * - `seed`: the same seed, prompts and options give the same answers,
 *   failures and timings (default 0);
 * - `timing`: `"instant"` (default: no latency unless a behaviour sets it)
 *   or `"catalog"` (each model's time to first token and output speed);
 * - `serves`: the catalog providers it stands in for (default: every one);
 * - `defaults`, `models`: behaviours, per model name;
 * - `billedLog`: the path of the billed log (needs a `FileSystem`).
 *
 * @since 0.2.0
 * @category models
 */
export interface Options {
  readonly seed?: number
  readonly name?: string
  readonly timing?: "instant" | "catalog"
  readonly serves?: ReadonlyArray<string>
  readonly defaults?: Behaviour
  readonly models?: Readonly<Record<string, Behaviour>>
  readonly billedLog?: string
}

/**
 * One line of the billed log: the tokens a call billed, the reservation it
 * ran under (when routed) and how it ended. A failed call bills nothing.
 *
 * @since 0.2.0
 * @category schemas
 */
export const BilledCall = Schema.Struct({
  call: Schema.String,
  reservation: Schema.optional(Schema.String),
  model: Schema.String,
  inputTokens: Schema.NonNegativeInt,
  outputTokens: Schema.NonNegativeInt,
  status: Schema.Literal("completed", "interrupted", "failed"),
  at: Schema.Number
})

/**
 * @since 0.2.0
 * @category models
 */
export type BilledCall = typeof BilledCall.Type

/**
 * The simulated provider as a `ModelProvider` layer, for the routed model.
 *
 * @since 0.2.0
 * @category layers
 */
export const layer = (options: Options = {}): Layer.Layer<ModelProvider.ModelProviders, InvalidOptions> =>
  Layer.scoped(ModelProvider.ModelProviders, Effect.map(internal.make(options), (s) => [s.provider]))

/**
 * The simulated provider's `LanguageModel` for one model, called directly
 * (no routing, no ledger): what the routed model adds its overhead to.
 *
 * @since 0.2.0
 * @category layers
 */
export const layerLanguageModel = (
  model: Model.Model,
  options: Options = {}
): Layer.Layer<LanguageModel.LanguageModel, InvalidOptions> =>
  Layer.scoped(
    LanguageModel.LanguageModel,
    Effect.flatMap(internal.make(options), (s) => s.languageModel(model))
  )

/**
 * Reads a billed log.
 *
 * @since 0.2.0
 * @category reading
 */
export const readBilledLog = (
  path: string
): Effect.Effect<ReadonlyArray<BilledCall>, PlatformError | ParseResult.ParseError, FileSystem.FileSystem> =>
  Effect.flatMap(FileSystem.FileSystem, (fs) =>
    Effect.flatMap(fs.readFileString(path), (text) =>
      Effect.forEach(
        text.split("\n").filter((line) => line.length > 0),
        (line) => Schema.decode(Schema.parseJson(BilledCall))(line)
      )))
