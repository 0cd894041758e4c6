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
 * The prices of a call whose input is above `aboveInputTokens` tokens (a
 * long-context tier: Gemini 2.5 Pro above 200k prompt tokens, Claude Sonnet 4
 * with more than 200k input tokens). The tier's prices apply to every token
 * of such a call, as those providers bill it.
 *
 * @since 0.3.0
 * @category schemas
 */
export const PriceTier = Schema.Struct({
  aboveInputTokens: Schema.NonNegativeInt,
  input: PricePerMillion,
  output: PricePerMillion,
  cachedInput: Schema.optional(PricePerMillion)
}).annotations({ identifier: "PriceTier" })

/**
 * @since 0.3.0
 * @category models
 */
export type PriceTier = typeof PriceTier.Type

/**
 * The prices of one model. `cachedInput` defaults to `input` when the model
 * has no cache discount. Reasoning tokens are billed as output tokens.
 * `tiers` (optional, thresholds strictly increasing) replace the base prices
 * for calls whose input is above a tier's threshold.
 *
 * @since 0.1.0
 * @category schemas
 */
export const ModelPricing = Schema.Struct({
  input: PricePerMillion,
  output: PricePerMillion,
  cachedInput: Schema.optional(PricePerMillion),
  tiers: Schema.optional(
    Schema.Array(PriceTier).pipe(
      Schema.filter((tiers) => {
        for (let i = 1; i < tiers.length; i++) {
          if (tiers[i]!.aboveInputTokens <= tiers[i - 1]!.aboveInputTokens) {
            return `tier thresholds must be strictly increasing (${tiers[i - 1]!.aboveInputTokens} then ${
              tiers[i]!.aboveInputTokens
            })`
          }
        }
        return undefined
      })
    )
  )
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
  prices: {
    readonly input: number
    readonly output: number
    readonly cachedInput?: number
    readonly tiers?: ReadonlyArray<
      {
        readonly aboveInputTokens: number
        readonly input: number
        readonly output: number
        readonly cachedInput?: number
      }
    >
  }
): ModelPricing => Schema.decodeUnknownSync(ModelPricing)(prices)

/**
 * The prices that apply to a call with `inputTokens` of input: the tier with
 * the highest threshold below the input, or the base prices.
 *
 * @since 0.3.0
 * @category cost
 */
export const pricesFor = (
  pricing: ModelPricing,
  inputTokens: number
): {
  readonly input: PricePerMillion
  readonly output: PricePerMillion
  readonly cachedInput?: PricePerMillion | undefined
} => {
  const tiers = pricing.tiers
  if (tiers !== undefined) {
    for (let i = tiers.length - 1; i >= 0; i--) {
      if (inputTokens > tiers[i]!.aboveInputTokens) return tiers[i]!
    }
  }
  return pricing
}

const MILLION = 1_000_000n

/**
 * The exact cost of a call, rounded up to the micro-dollar:
 * `ceil(((input − cached) × inputPrice + cached × cachedPrice + output × outputPrice) / 1e6)`,
 * at the prices of the call's tier (`pricesFor`).
 *
 * @since 0.1.0
 * @category cost
 */
export const cost = (pricing: ModelPricing, usage: TokenUsage): Money => {
  const prices = pricesFor(pricing, usage.inputTokens)
  // Exact in doubles while every term stays a safe integer (the common case:
  // a router prices fifty models per decision); BigInt otherwise.
  const cachedCount = usage.cachedInputTokens
  const a = (usage.inputTokens - cachedCount) * prices.input
  const b = cachedCount * (prices.cachedInput ?? prices.input)
  const c = usage.outputTokens * prices.output
  const total = a + b + c
  if (total <= Number.MAX_SAFE_INTEGER) {
    let q = Math.floor(total / 1_000_000)
    let rem = total - q * 1_000_000
    if (rem < 0) {
      q -= 1
      rem += 1_000_000
    } else if (rem >= 1_000_000) {
      q += 1
      rem -= 1_000_000
    }
    return (rem > 0 ? q + 1 : q) as Money
  }
  const cached = BigInt(usage.cachedInputTokens)
  const uncached = BigInt(usage.inputTokens) - cached
  const numerator = uncached * BigInt(prices.input) +
    cached * BigInt(prices.cachedInput ?? prices.input) +
    BigInt(usage.outputTokens) * BigInt(prices.output)
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
  const prices = pricesFor(pricing, inputTokens)
  const available = BigInt(budget) * MILLION - BigInt(inputTokens) * BigInt(prices.input)
  if (available < 0n) return 0
  if (prices.output === 0) return Number.MAX_SAFE_INTEGER
  const tokens = available / BigInt(prices.output)
  return tokens > BigInt(Number.MAX_SAFE_INTEGER) ? Number.MAX_SAFE_INTEGER : Number(tokens)
}
