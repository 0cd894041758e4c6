/**
 * Token usage of one model call (or a sum of calls).
 *
 * `cachedInputTokens` is the part of `inputTokens` served from the provider's
 * prompt cache, and `reasoningTokens` the part of `outputTokens` spent on
 * hidden reasoning — the convention of the OpenAI APIs. `source` says whether
 * the provider reported the counts or they were estimated locally.
 *
 * @since 0.1.0
 */
import * as Schema from "effect/Schema"

const Count = Schema.NonNegativeInt

/**
 * Whether counts were reported by the provider or estimated.
 *
 * @since 0.1.0
 * @category schemas
 */
export const UsageSource = Schema.Literal("reported", "estimated")

/**
 * @since 0.1.0
 * @category models
 */
export type UsageSource = typeof UsageSource.Type

/**
 * @since 0.1.0
 * @category schemas
 */
export const TokenUsage = Schema.Struct({
  inputTokens: Count,
  outputTokens: Count,
  cachedInputTokens: Count,
  reasoningTokens: Count,
  source: UsageSource
}).pipe(
  Schema.filter((u) =>
    u.cachedInputTokens > u.inputTokens
      ? `cachedInputTokens (${u.cachedInputTokens}) exceeds inputTokens (${u.inputTokens})`
      : u.reasoningTokens > u.outputTokens
      ? `reasoningTokens (${u.reasoningTokens}) exceeds outputTokens (${u.outputTokens})`
      : undefined
  )
).annotations({ identifier: "TokenUsage" })

/**
 * @since 0.1.0
 * @category models
 */
export type TokenUsage = typeof TokenUsage.Type

/**
 * Makes a usage record; omitted counts are zero and the source defaults to
 * `"reported"`. Validates the record (throws a `ParseError` on bad counts).
 *
 * @since 0.1.0
 * @category constructors
 */
export const make = (fields: {
  readonly inputTokens: number
  readonly outputTokens: number
  readonly cachedInputTokens?: number
  readonly reasoningTokens?: number
  readonly source?: UsageSource
}): TokenUsage =>
  Schema.decodeUnknownSync(TokenUsage)({
    inputTokens: fields.inputTokens,
    outputTokens: fields.outputTokens,
    cachedInputTokens: fields.cachedInputTokens ?? 0,
    reasoningTokens: fields.reasoningTokens ?? 0,
    source: fields.source ?? "reported"
  })

/**
 * No usage.
 *
 * @since 0.1.0
 * @category constants
 */
export const empty: TokenUsage = {
  inputTokens: 0,
  outputTokens: 0,
  cachedInputTokens: 0,
  reasoningTokens: 0,
  source: "reported"
}

/**
 * Input plus output tokens.
 *
 * @since 0.1.0
 * @category getters
 */
export const total = (usage: TokenUsage): number => usage.inputTokens + usage.outputTokens

/**
 * Adds two usages; the sum is `"estimated"` if either side is.
 *
 * @since 0.1.0
 * @category combinators
 */
export const add = (a: TokenUsage, b: TokenUsage): TokenUsage => ({
  inputTokens: a.inputTokens + b.inputTokens,
  outputTokens: a.outputTokens + b.outputTokens,
  cachedInputTokens: a.cachedInputTokens + b.cachedInputTokens,
  reasoningTokens: a.reasoningTokens + b.reasoningTokens,
  source: a.source === "estimated" || b.source === "estimated" ? "estimated" : "reported"
})
