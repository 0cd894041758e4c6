import { assert, describe, it } from "@effect/vitest"
import * as Money from "../src/Money.js"
import * as Pricing from "../src/Pricing.js"
import * as TokenUsage from "../src/TokenUsage.js"

describe("Pricing tiers", () => {
  // Claude Sonnet 4: $3 / $15 up to 200k input tokens, $6 / $22.50 above.
  const sonnet = Pricing.make({
    input: 3_000_000,
    output: 15_000_000,
    cachedInput: 300_000,
    tiers: [{ aboveInputTokens: 200_000, input: 6_000_000, output: 22_500_000, cachedInput: 600_000 }]
  })

  it("bills every token of a call above the threshold at the tier's prices", () => {
    // exactly at the threshold: base prices
    assert.strictEqual(Pricing.cost(sonnet, TokenUsage.make({ inputTokens: 200_000, outputTokens: 1_000 })), 615_000)
    // one token above: the whole call at the tier's prices
    assert.strictEqual(
      Pricing.cost(sonnet, TokenUsage.make({ inputTokens: 200_001, outputTokens: 1_000 })),
      1_200_006 + 22_500
    )
    // cached input at the tier's cached price
    assert.strictEqual(
      Pricing.cost(sonnet, TokenUsage.make({ inputTokens: 300_000, cachedInputTokens: 100_000, outputTokens: 0 })),
      200_000 * 6 + 100_000 * 0.6
    )
  })

  it("picks the highest tier below the input", () => {
    const p = Pricing.make({
      input: 1_000_000,
      output: 1_000_000,
      tiers: [
        { aboveInputTokens: 100, input: 2_000_000, output: 2_000_000 },
        { aboveInputTokens: 1_000, input: 3_000_000, output: 3_000_000 }
      ]
    })
    assert.strictEqual(Pricing.pricesFor(p, 50).input, 1_000_000)
    assert.strictEqual(Pricing.pricesFor(p, 101).input, 2_000_000)
    assert.strictEqual(Pricing.pricesFor(p, 1_001).input, 3_000_000)
  })

  it("maxOutputTokensWithin uses the tier of the input", () => {
    const tokens = Pricing.maxOutputTokensWithin(sonnet, 250_000, Money.micros(1_600_000))
    // 250k × $6/M = $1.50; $0.10 left at $22.50/M = 4444 tokens
    assert.strictEqual(tokens, 4_444)
  })

  it("rejects tiers whose thresholds do not increase", () => {
    assert.throws(
      () =>
        Pricing.make({
          input: 1,
          output: 1,
          tiers: [
            { aboveInputTokens: 10, input: 2, output: 2 },
            { aboveInputTokens: 10, input: 3, output: 3 }
          ]
        }),
      /strictly increasing/
    )
  })
})

describe("Pricing.cost beyond safe doubles", () => {
  it("is exact when a product passes 2^53 (BigInt path) and agrees with the fast path below it", () => {
    const p = Pricing.make({ input: 999_999_999, output: 999_999_937 })
    const usage = TokenUsage.make({ inputTokens: 9_999_999, outputTokens: 7_777_777 })
    const exact = (9_999_999n * 999_999_999n + 7_777_777n * 999_999_937n + 999_999n) / 1_000_000n
    assert.strictEqual(BigInt(Pricing.cost(p, usage)), exact)
    const small = TokenUsage.make({ inputTokens: 3, outputTokens: 7 })
    assert.strictEqual(Pricing.cost(p, small), Math.ceil((3 * 999_999_999 + 7 * 999_999_937) / 1e6))
  })
})
