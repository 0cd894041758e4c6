/**
 * A model of the catalog: prices (exact micro-dollars per million tokens,
 * with long-context tiers), limits, speed, the complexity range it is
 * trusted with, capabilities, tags, and where every figure comes from.
 *
 * In JSON and YAML a price is written in dollars per million tokens, as a
 * string or a number (`"2.50"`, `0.4`), and read exactly (at most six
 * decimals, never rounded).
 *
 * @since 0.1.0
 */
import * as Complexity from "@agentos/core/Complexity"
import * as Money from "@agentos/core/Money"
import * as Pricing from "@agentos/core/Pricing"
import * as Either from "effect/Either"
import * as ParseResult from "effect/ParseResult"
import * as Schema from "effect/Schema"

/**
 * A price in dollars per million tokens as written in a catalog (`"2.50"`
 * or `2.5`), decoded exactly into micro-dollars per million tokens.
 *
 * @since 0.1.0
 * @category schemas
 */
export const DollarsPerMillion: Schema.Schema<Pricing.PricePerMillion, string | number> = Schema.transformOrFail(
  Schema.Union(Schema.String, Schema.Number),
  Pricing.PricePerMillion,
  {
    strict: true,
    decode: (input, _, ast) => {
      const text = typeof input === "number" ? String(input) : input
      return Either.match(Money.parseDollars(text), {
        onLeft: (error) => ParseResult.fail(new ParseResult.Type(ast, input, error.message)),
        onRight: (micros) =>
          micros < 0
            ? ParseResult.fail(new ParseResult.Type(ast, input, "a price cannot be negative"))
            : ParseResult.succeed(micros as number)
      })
    },
    encode: (micros) => ParseResult.succeed(Money.format(micros as Money.Money).replace("$", ""))
  }
).annotations({ identifier: "DollarsPerMillion" })

/**
 * A long-context price tier as written in a catalog.
 *
 * @since 0.1.0
 * @category schemas
 */
export const PriceTier = Schema.Struct({
  aboveInputTokens: Schema.NonNegativeInt,
  input: DollarsPerMillion,
  output: DollarsPerMillion,
  cachedInput: Schema.optional(DollarsPerMillion)
})

/**
 * A model's prices as written in a catalog, decoded into core's
 * `ModelPricing`.
 *
 * @since 0.1.0
 * @category schemas
 */
export const Prices = Schema.Struct({
  input: DollarsPerMillion,
  output: DollarsPerMillion,
  cachedInput: Schema.optional(DollarsPerMillion),
  tiers: Schema.optional(Schema.Array(PriceTier))
}).pipe(Schema.compose(Schema.typeSchema(Pricing.ModelPricing) as Schema.Schema<Pricing.ModelPricing>, {
  strict: false
}))

/**
 * What a model can do beyond text in, text out.
 *
 * @since 0.1.0
 * @category schemas
 */
export const Capability = Schema.Literal("tools", "vision", "json", "streaming")

/**
 * @since 0.1.0
 * @category models
 */
export type Capability = typeof Capability.Type

/**
 * Where a model's figures come from: a provider's pricing page or a
 * published price list, and the date its figures were read.
 *
 * @since 0.1.0
 * @category schemas
 */
export const Source = Schema.Struct({
  /** An http(s) URL, or for a document without one, a reference to it. */
  url: Schema.NonEmptyTrimmedString,
  title: Schema.NonEmptyString,
  /** The date the figures are as of (`YYYY-MM-DD`, or `YYYY-MM` when the source gives only a month). */
  asOf: Schema.String.pipe(
    Schema.pattern(/^\d{4}-\d{2}(-\d{2})?$/, { message: () => "a date as YYYY-MM-DD or YYYY-MM" })
  ),
  /** Which figures it gives: prices, limits (context, output), speed. */
  covers: Schema.Array(Schema.Literal("price", "limits", "speed"))
})

/**
 * @since 0.1.0
 * @category models
 */
export type Source = typeof Source.Type

/**
 * The complexity levels a model is trusted with, `min` to `max` inclusive.
 *
 * @since 0.1.0
 * @category schemas
 */
export const ComplexityRange = Schema.Struct({
  min: Complexity.Complexity,
  max: Complexity.Complexity
}).pipe(
  Schema.filter((r) =>
    Complexity.rank(r.min) <= Complexity.rank(r.max) ? undefined : `min (${r.min}) is above max (${r.max})`
  )
)

/**
 * A model of the catalog.
 *
 * - `outputTokensPerSecond` and `timeToFirstTokenMillis` estimate a call's
 *   latency: time to first token plus the output tokens at output speed.
 * - `verified` is false when a figure could not be checked against the
 *   cited sources; `note` says which.
 *
 * @since 0.1.0
 * @category schemas
 */
export const Model = Schema.Struct({
  name: Schema.NonEmptyTrimmedString,
  provider: Schema.NonEmptyTrimmedString,
  pricing: Prices,
  contextWindow: Schema.Int.pipe(Schema.positive()),
  maxOutputTokens: Schema.Int.pipe(Schema.positive()),
  outputTokensPerSecond: Schema.Number.pipe(Schema.positive(), Schema.finite()),
  timeToFirstTokenMillis: Schema.Number.pipe(Schema.nonNegative(), Schema.finite()),
  complexity: ComplexityRange,
  capabilities: Schema.Array(Capability),
  tags: Schema.optionalWith(Schema.Array(Schema.String), { default: () => [] }),
  sources: Schema.NonEmptyArray(Source),
  verified: Schema.Boolean,
  note: Schema.optional(Schema.String)
}).annotations({ identifier: "Model" })

/**
 * @since 0.1.0
 * @category models
 */
export type Model = typeof Model.Type

/**
 * A model as written in a catalog file.
 *
 * @since 0.1.0
 * @category models
 */
export type ModelEncoded = typeof Model.Encoded
