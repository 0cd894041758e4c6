/**
 * Model prices in integer micro-dollars per million tokens, and the exact
 * cost of a call.
 *
 * The cost is computed with integer (BigInt) arithmetic and rounded up to the
 * micro-dollar once, for the whole call, so that no call is ever free and no
 * rounding error accumulates across a call's token classes.
 *
 * @since 0.1.0
 */
import * as Schema from "effect/Schema"
import type { Money } from "./Money.js"
import type { TokenUsage } from "./TokenUsage.js"

/**
 * A price in micro-dollars per million tokens; `$2.50 / 1M tokens` is
 * `2_500_000`.
 *
 * @since 0.1.0
 * @category schemas
 */
export const PricePerMillion = Schema.NonNegativeInt.pipe(Schema.brand("@agentos/MicroDollarsPerMillionTokens"))
  .annotations({ identifier: "PricePerMillion", description: "micro-dollars per million tokens" })

/**
 * @since 0.1.0
 * @category models
 */
export type PricePerMillion = typeof PricePerMillion.Type

/**
 * The prices of one model. `cachedInput` defaults to `input` when the model
 * has no cache discount. Reasoning tokens are billed as output tokens.
 *
 * @since 0.1.0
 * @category schemas
 */
export const ModelPricing = Schema.Struct({
  input: PricePerMillion,
  output: PricePerMillion,
  cachedInput: Schema.optional(PricePerMillion)
}).annotations({ identifier: "ModelPricing" })

/**
 * @since 0.1.0
 * @category models
 */
export type ModelPricing = typeof ModelPricing.Type

/**
 * Makes a pricing from dollars per million tokens given as integers of
 * micro-dollars (validated).
 *
 * @since 0.1.0
 * @category constructors
 */
export const make = (
  prices: { readonly input: number; readonly output: number; readonly cachedInput?: number }
): ModelPricing => Schema.decodeUnknownSync(ModelPricing)(prices)

const MILLION = 1_000_000n

/**
 * The exact cost of a call, rounded up to the micro-dollar:
 * `ceil(((input − cached) × inputPrice + cached × cachedPrice + output × outputPrice) / 1e6)`.
 *
 * @since 0.1.0
 * @category cost
 */
export const cost = (pricing: ModelPricing, usage: TokenUsage): Money => {
  const cached = BigInt(usage.cachedInputTokens)
  const uncached = BigInt(usage.inputTokens) - cached
  const numerator = uncached * BigInt(pricing.input) +
    cached * BigInt(pricing.cachedInput ?? pricing.input) +
    BigInt(usage.outputTokens) * BigInt(pricing.output)
  const micros = (numerator + MILLION - 1n) / MILLION
  if (micros > BigInt(Number.MAX_SAFE_INTEGER)) {
    throw new RangeError(`Pricing.cost: ${micros} micro-dollars is not a safe integer`)
  }
  return Number(micros) as Money
}

/**
 * The largest number of output tokens whose cost stays within `budget` after
 * `inputTokens` of input (none cached). Useful to cap `max_tokens`.
 *
 * @since 0.1.0
 * @category cost
 */
export const maxOutputTokensWithin = (pricing: ModelPricing, inputTokens: number, budget: Money): number => {
  const available = BigInt(budget) * MILLION - BigInt(inputTokens) * BigInt(pricing.input)
  if (available < 0n) return 0
  if (pricing.output === 0) return Number.MAX_SAFE_INTEGER
  const tokens = available / BigInt(pricing.output)
  return tokens > BigInt(Number.MAX_SAFE_INTEGER) ? Number.MAX_SAFE_INTEGER : Number(tokens)
}
