import { assert, describe, it } from "@effect/vitest"
import * as Either from "effect/Either"
import * as FastCheck from "effect/FastCheck"
import * as Schema from "effect/Schema"
import * as Money from "../src/Money.js"
import * as Pricing from "../src/Pricing.js"
import * as TokenUsage from "../src/TokenUsage.js"

const parse = (input: string) => Either.getOrThrow(Money.parseDollars(input))

describe("Money", () => {
  it("parses dollars exactly, to the micro-dollar", () => {
    assert.strictEqual(parse("12.5"), 12_500_000)
    assert.strictEqual(parse("$0.000125"), 125)
    assert.strictEqual(parse("-3"), -3_000_000)
    assert.strictEqual(parse("1_000.01"), 1_000_010_000)
    // 0.1 + 0.2 as floats is 0.30000000000000004; as money it is exact.
    assert.strictEqual(Money.add(parse("0.1"), parse("0.2")), parse("0.3"))
  })

  it("rejects malformed amounts and more than six decimals with a typed error", () => {
    for (const input of ["", "abc", "1.2345678", "1e3", "$", "1.", "--1", "NaN"]) {
      const result = Money.parseDollars(input)
      assert.isTrue(Either.isLeft(result), input)
      if (Either.isLeft(result)) {
        assert.strictEqual(result.left._tag, "MoneyParseError")
        assert.strictEqual(result.left.input, input)
      }
    }
  })

  it("formats with two to six decimals", () => {
    assert.strictEqual(Money.format(Money.micros(1_500_000)), "$1.50")
    assert.strictEqual(Money.format(Money.micros(125)), "$0.000125")
    assert.strictEqual(Money.format(Money.micros(-3_000_000)), "-$3.00")
    assert.strictEqual(Money.format(Money.zero), "$0.00")
  })

  it.prop("format then parse is the identity", [FastCheck.integer({ min: -(10 ** 15), max: 10 ** 15 })], ([n]) => {
    const money = Money.micros(n)
    assert.strictEqual(parse(Money.format(money)), money)
  })

  it.prop(
    "allocate splits exactly, shares differ by at most one micro-dollar",
    [FastCheck.integer({ min: 0, max: 10 ** 12 }), FastCheck.integer({ min: 1, max: 1000 })],
    ([amount, parts]) => {
      const shares = Money.allocate(Money.micros(amount), parts)
      assert.strictEqual(Money.sum(shares), amount)
      assert.isAtMost(Math.max(...shares) - Math.min(...shares), 1)
    }
  )

  it("arithmetic that leaves the safe-integer range is a defect, never a wrong number", () => {
    assert.throws(() => Money.add(Money.micros(Number.MAX_SAFE_INTEGER), Money.micros(1)), RangeError)
    assert.throws(() => Money.micros(0.5), RangeError)
    assert.throws(() => Money.multiply(Money.micros(10), 1.5), RangeError)
  })

  it("FromDollars decodes config strings and reports bad ones", () => {
    assert.strictEqual(Schema.decodeUnknownSync(Money.FromDollars)("2.50"), 2_500_000)
    assert.strictEqual(Schema.encodeSync(Money.FromDollars)(Money.micros(2_500_000)), "$2.50")
    assert.throws(() => Schema.decodeUnknownSync(Money.FromDollars)("2.5000001"), /at most 6 decimals/)
  })
})

describe("Pricing", () => {
  // $2.50 / 1M input, $1.25 / 1M cached input, $10 / 1M output
  const pricing = Pricing.make({ input: 2_500_000, cachedInput: 1_250_000, output: 10_000_000 })

  it("computes the exact cost and rounds up once per call", () => {
    const usage = TokenUsage.make({ inputTokens: 1_000, outputTokens: 500 })
    // 1000 × 2.5 + 500 × 10 = 7500 µ$ exactly
    assert.strictEqual(Pricing.cost(pricing, usage), 7_500)
    // 1 input token costs 2.5 µ$ → rounded up to 3
    assert.strictEqual(Pricing.cost(pricing, TokenUsage.make({ inputTokens: 1, outputTokens: 0 })), 3)
    assert.strictEqual(Pricing.cost(pricing, TokenUsage.empty), 0)
  })

  it("bills cached input at the cached price and reasoning as output", () => {
    const usage = TokenUsage.make({
      inputTokens: 1_000,
      cachedInputTokens: 800,
      outputTokens: 100,
      reasoningTokens: 60
    })
    // 200 × 2.5 + 800 × 1.25 + 100 × 10 = 500 + 1000 + 1000
    assert.strictEqual(Pricing.cost(pricing, usage), 2_500)
    const noCacheDiscount = Pricing.make({ input: 2_500_000, output: 10_000_000 })
    assert.strictEqual(Pricing.cost(noCacheDiscount, usage), 3_500)
  })

  it.prop(
    "cost is the exact ceiling of the sum",
    [
      FastCheck.integer({ min: 0, max: 10 ** 7 }),
      FastCheck.integer({ min: 0, max: 10 ** 7 }),
      FastCheck.integer({ min: 0, max: 10 ** 8 }),
      FastCheck.integer({ min: 0, max: 10 ** 8 })
    ],
    ([input, output, inputPrice, outputPrice]) => {
      const p = Pricing.make({ input: inputPrice, output: outputPrice })
      const cost = Pricing.cost(p, TokenUsage.make({ inputTokens: input, outputTokens: output }))
      const exact = BigInt(input) * BigInt(inputPrice) + BigInt(output) * BigInt(outputPrice)
      assert.isTrue(BigInt(cost) * 1_000_000n >= exact)
      assert.isTrue((BigInt(cost) - 1n) * 1_000_000n < exact || cost === 0)
    }
  )

  it("maxOutputTokensWithin never exceeds the budget", () => {
    const tokens = Pricing.maxOutputTokensWithin(pricing, 1_000, Money.micros(10_000))
    assert.strictEqual(tokens, 750)
    assert.isAtMost(Pricing.cost(pricing, TokenUsage.make({ inputTokens: 1_000, outputTokens: tokens })), 10_000)
    assert.isAbove(Pricing.cost(pricing, TokenUsage.make({ inputTokens: 1_000, outputTokens: tokens + 1 })), 10_000)
    assert.strictEqual(Pricing.maxOutputTokensWithin(pricing, 10_000, Money.micros(1)), 0)
  })

  it("rejects negative or fractional prices", () => {
    assert.throws(() => Pricing.make({ input: -1, output: 0 }))
    assert.throws(() => Pricing.make({ input: 1.5, output: 0 }))
  })
})

describe("TokenUsage", () => {
  it("validates counts", () => {
    assert.throws(() => TokenUsage.make({ inputTokens: -1, outputTokens: 0 }))
    assert.throws(
      () => TokenUsage.make({ inputTokens: 10, outputTokens: 0, cachedInputTokens: 11 }),
      /cachedInputTokens/
    )
    assert.throws(() => TokenUsage.make({ inputTokens: 0, outputTokens: 5, reasoningTokens: 6 }), /reasoningTokens/)
  })

  it("adds usages; the sum is estimated if any part is", () => {
    const a = TokenUsage.make({ inputTokens: 10, outputTokens: 5 })
    const b = TokenUsage.make({ inputTokens: 1, outputTokens: 2, source: "estimated" })
    assert.deepStrictEqual(TokenUsage.add(a, b), {
      inputTokens: 11,
      outputTokens: 7,
      cachedInputTokens: 0,
      reasoningTokens: 0,
      source: "estimated"
    })
    assert.strictEqual(TokenUsage.total(a), 15)
  })
})
