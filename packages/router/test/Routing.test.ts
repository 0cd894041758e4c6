// The routing table: every constraint and strategy, and the article's own
// example on the article's catalog and on the default catalog.
import { assert, describe, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Layer from "effect/Layer"
import { ArticleRouter, fromModel } from "../bench/article.js"
import * as DefaultCatalog from "../src/DefaultCatalog.js"
import type { ReasonKind } from "../src/Errors.js"
import * as ModelCatalog from "../src/ModelCatalog.js"
import * as Router from "../src/Router.js"
import * as SpendLedger from "../src/SpendLedger.js"

const source = [{ url: "https://example.com/prices", title: "test prices", asOf: "2026-12-06", covers: ["price"] }]
const model = (
  name: string,
  provider: string,
  input: string,
  output: string,
  contextWindow: number,
  maxOutputTokens: number,
  outputTokensPerSecond: number,
  timeToFirstTokenMillis: number,
  min: string,
  max: string,
  capabilities: ReadonlyArray<string>,
  tags: ReadonlyArray<string> = []
) => ({
  name,
  provider,
  pricing: { input, output },
  contextWindow,
  maxOutputTokens,
  outputTokensPerSecond,
  timeToFirstTokenMillis,
  complexity: { min, max },
  capabilities,
  tags,
  sources: source,
  verified: true
})

const catalog = Effect.runSync(ModelCatalog.fromData({
  asOf: "2026-12-06",
  models: [
    model("small", "p1", "0.10", "0.40", 16_000, 4_000, 200, 100, "trivial", "simple", ["json"], ["cheap"]),
    model("mid", "p2", "1", "4", 128_000, 16_000, 100, 300, "trivial", "complex", ["tools", "json", "streaming"]),
    model("big", "p3", "10", "40", 200_000, 32_000, 50, 500, "moderate", "expert", [
      "tools",
      "vision",
      "json",
      "streaming"
    ]),
    model("fast", "p2", "2", "8", 128_000, 8_000, 400, 100, "trivial", "complex", ["tools", "json", "streaming"])
  ]
}))

const base = { inputTokens: 1_000, outputTokens: 200, complexity: "simple" } as const

const reasonsOf = (rejected: ReadonlyArray<{ model: string; reasons: ReadonlyArray<ReasonKind> }>) =>
  Object.fromEntries(rejected.map((r) => [r.model, [...r.reasons]]))

const chosen = (request: Router.KnownRequest, options: Router.Options & { remaining?: number } = {}) => {
  const result = Router.decide(catalog, request, options)
  if (Either.isLeft(result)) throw new Error(result.left.message)
  return result.right
}

const refused = (request: Router.KnownRequest, options: Router.Options & { remaining?: number } = {}) => {
  const result = Router.decide(catalog, request, options)
  if (Either.isRight(result)) throw new Error(`expected no model, got ${result.right.model.name}`)
  return reasonsOf(result.left.rejections)
}

describe("routing table", () => {
  it("cheapest by default: the lowest estimated cost, every other model outranked", () => {
    const d = chosen(base)
    assert.strictEqual(d.model.name, "small")
    // 1,000 × $0.10/M + 200 × $0.40/M = 100 + 80 µ$
    assert.strictEqual(d.estimatedCost, 180)
    assert.strictEqual(d.estimatedLatencyMillis, 100 + 1_000)
    assert.deepStrictEqual(reasonsOf(d.rejected), {
      mid: ["outranked"],
      big: ["complexity-out-of-range"],
      fast: ["outranked"]
    })
    // The reference is the most expensive model that can take the request.
    assert.deepStrictEqual(d.reference, { model: "big", estimatedCost: 18_000 })
    assert.strictEqual(d.saving, 18_000 - 180)
  })

  it("context: input plus the output cap must fit the window, and the cap the model's max output", () => {
    const d = chosen({ ...base, inputTokens: 15_000, outputTokens: 200, maxOutputTokens: 2_000 })
    assert.strictEqual(d.model.name, "mid")
    assert.deepStrictEqual(reasonsOf(d.rejected).small, ["context-too-small"])
    const capped = chosen({ ...base, maxOutputTokens: 10_000 })
    assert.strictEqual(capped.model.name, "mid")
    assert.deepStrictEqual(reasonsOf(capped.rejected).fast, ["context-too-small"])
  })

  it("complexity: a model outside its range is passed over", () => {
    const d = chosen({ ...base, complexity: "expert" })
    assert.strictEqual(d.model.name, "big")
    const reasons = reasonsOf(d.rejected)
    for (const name of ["small", "mid", "fast"]) assert.deepStrictEqual(reasons[name], ["complexity-out-of-range"])
  })

  it("capabilities are checked; with nothing left: NoEligibleModel with every model's reasons", () => {
    assert.strictEqual(chosen({ ...base, requires: ["tools"] }).model.name, "mid")
    assert.deepStrictEqual(refused({ ...base, requires: ["vision"] }), {
      small: ["missing-capability"],
      mid: ["missing-capability"],
      big: ["complexity-out-of-range"],
      fast: ["missing-capability"]
    })
  })

  it("latency is time to first token plus the output at output speed (input is not generated)", () => {
    const d = chosen({ ...base, inputTokens: 50_000, maxLatencyMillis: 1_000 })
    // fast: 100 + 200/400 s = 600 ms; small: 100 + 1,000 = 1,100 ms
    assert.strictEqual(d.model.name, "fast")
    assert.strictEqual(d.estimatedLatencyMillis, 600)
    assert.deepStrictEqual(reasonsOf(d.rejected), {
      small: ["context-too-small", "too-slow"],
      mid: ["too-slow"],
      big: ["complexity-out-of-range", "too-slow"]
    })
  })

  it("cost ceiling and budget: over-cost-ceiling and over-budget", () => {
    const d = chosen({ ...base, complexity: "moderate", maxCost: 1_999 })
    // mid costs 1,000 + 800 = 1,800 µ$; fast 2,000 + 1,600; big 18,000
    assert.strictEqual(d.model.name, "mid")
    assert.deepStrictEqual(reasonsOf(d.rejected), {
      small: ["complexity-out-of-range"],
      big: ["over-cost-ceiling"],
      fast: ["over-cost-ceiling"]
    })
    // mid's reservation: 1,100 input tokens (10% margin) and the 200-token cap: 1,100 + 800 µ$
    assert.strictEqual(d.reserveCost, 1_900)
    const tight = refused({ ...base, complexity: "moderate" }, { remaining: 1_899 })
    assert.deepStrictEqual(tight.mid, ["over-budget"])
    assert.strictEqual(chosen({ ...base, complexity: "moderate" }, { remaining: 1_900 }).model.name, "mid")
  })

  it("providers and tags", () => {
    const denied = chosen({ ...base, denyProviders: ["p1"] })
    assert.strictEqual(denied.model.name, "mid")
    assert.deepStrictEqual(reasonsOf(denied.rejected).small, ["provider-excluded"])
    const allowed = chosen({ ...base, allowProviders: ["p2"] })
    assert.strictEqual(allowed.model.name, "mid")
    assert.deepStrictEqual(reasonsOf(allowed.rejected).small, ["provider-excluded"])
    const tagged = chosen({ ...base, tags: ["cheap"] })
    assert.strictEqual(tagged.model.name, "small")
    assert.deepStrictEqual(reasonsOf(tagged.rejected).mid, ["missing-tag"])
  })

  it("strategies: fastest, and a preference list", () => {
    const fastest = chosen({ ...base, strategy: { _tag: "fastest" } })
    assert.strictEqual(fastest.model.name, "fast")
    const preferred = chosen({
      ...base,
      complexity: "moderate",
      strategy: { _tag: "preference", models: ["big", "mid"] }
    })
    assert.strictEqual(preferred.model.name, "big")
    assert.deepStrictEqual(reasonsOf(preferred.rejected), {
      small: ["complexity-out-of-range", "not-preferred"],
      mid: ["outranked"],
      fast: ["not-preferred"]
    })
  })

  it("ties are broken deterministically: cost, then latency, then name", () => {
    const twins = Effect.runSync(ModelCatalog.fromData({
      asOf: "2026-12-06",
      models: [
        model("zeta", "p", "1", "4", 100_000, 4_000, 100, 100, "trivial", "expert", []),
        model("alpha", "p", "1", "4", 100_000, 4_000, 100, 100, "trivial", "expert", []),
        model("slow-twin", "p", "1", "4", 100_000, 4_000, 50, 100, "trivial", "expert", [])
      ]
    }))
    for (let i = 0; i < 3; i++) {
      const d = Router.decide(twins, base)
      assert.isTrue(Either.isRight(d) && d.right.model.name === "alpha")
    }
  })

  it("the reference model is configurable", () => {
    const d = chosen(base, { reference: "mid" })
    assert.deepStrictEqual(d.reference, { model: "mid", estimatedCost: 1_800 })
    assert.strictEqual(d.saving, 1_620)
  })
})

describe("the article's example: 2,000 input tokens, 500 output, simple, 3,000 ms", () => {
  const task = { inputTokens: 2_000, outputTokens: 500, complexity: "simple", maxLatencyMillis: 3_000 } as const

  it("on the article's own catalog, we choose gpt-4.1-nano on its merits; the article reaches it only by its fallback", () => {
    const d = Router.decide(DefaultCatalog.article, task)
    assert.isTrue(Either.isRight(d))
    if (Either.isLeft(d)) return
    // 500 tokens at 300 tokens/s: 1,667 ms (the article has no time to first token)
    assert.strictEqual(d.right.model.name, "gpt-4.1-nano")
    assert.strictEqual(d.right.estimatedCost, 400)
    assert.closeTo(d.right.estimatedLatencyMillis, 1_666.7, 0.1)
    assert.deepStrictEqual(reasonsOf(d.right.rejected), {
      "gpt-4.1-mini": ["outranked"],
      "claude-sonnet-4": ["complexity-out-of-range", "too-slow"],
      "claude-opus-4": ["complexity-out-of-range", "too-slow"]
    })
    // The article counts input tokens at output speed: 2,500 / 300 s = 8,333 ms > 3,000 for nano
    // (12,500 ms for mini), so no model qualifies, and its fallback picks the cheapest input
    // price — nano — without checking anything, and charges nothing to the month's spend.
    const article = new ArticleRouter(DefaultCatalog.article.models.map(fromModel), 50)
    const routed = article.route({
      estimatedInputTokens: 2_000,
      estimatedOutputTokens: 500,
      complexity: 2,
      maxLatencyMs: 3_000
    })
    assert.strictEqual(routed.model.name, "gpt-4.1-nano")
    assert.isTrue(routed.fallback)
    assert.strictEqual(article.monthSpend, 0)
  })

  it("on the default catalog (measured speeds), no model writes 500 tokens in 3 s: NoEligibleModel, every one too slow", () => {
    const d = Router.decide(DefaultCatalog.catalog, task)
    assert.isTrue(Either.isLeft(d))
    if (Either.isRight(d)) return
    const reasons = reasonsOf(d.left.rejections)
    assert.strictEqual(Object.keys(reasons).length, DefaultCatalog.catalog.models.length)
    for (const [name, rs] of Object.entries(reasons)) assert.include(rs, "too-slow", name)
    // gpt-4.1-nano: 1 s to the first token, then 500 tokens at 82 tokens/s
    const nano = d.left.rejections.find((r) => r.model === "gpt-4.1-nano")!
    assert.deepStrictEqual([...nano.reasons], ["too-slow"])
    assert.closeTo(nano.estimatedLatencyMillis, 1_000 + 500_000 / 82, 0.01)
    // Without the latency ceiling the cheapest simple-capable model is chosen.
    const relaxed = Router.decide(DefaultCatalog.catalog, { ...task, maxLatencyMillis: undefined })
    assert.isTrue(Either.isRight(relaxed) && relaxed.right.model.name === "gpt-5-nano")
  })
})

describe("decide and route share one rule", () => {
  it.effect("the output cap defaults to the expected output, at least one token, in both", () =>
    Effect.gen(function*() {
      const request = { inputTokens: 1_000, outputTokens: 0, complexity: "simple" } as const
      const decided = chosen(request)
      const router = yield* Router.Router
      const routed = yield* router.route(request)
      assert.strictEqual(routed.maxOutputTokens, 1)
      assert.strictEqual(decided.maxOutputTokens, routed.maxOutputTokens)
      assert.strictEqual(decided.reserveCost, routed.reserveCost)
    }).pipe(
      Effect.provide(
        Router.layer({ catalog }).pipe(Layer.provide(SpendLedger.layerMemory({ budgets: [], sweepInterval: 0 })))
      )
    ))
})
