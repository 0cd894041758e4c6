import { assert, describe, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as DefaultCatalog from "../src/DefaultCatalog.js"
import * as ModelCatalog from "../src/ModelCatalog.js"

const row = (name: string, input: unknown, output: unknown) => ({
  name,
  provider: "p",
  pricing: { input, output },
  contextWindow: 100_000,
  maxOutputTokens: 4_000,
  outputTokensPerSecond: 100,
  timeToFirstTokenMillis: 500,
  complexity: { min: "trivial", max: "expert" },
  capabilities: ["tools"],
  sources: [{ url: "https://example.com", title: "t", asOf: "2026-12-06", covers: ["price"] }],
  verified: true
})

const load = (models: ReadonlyArray<unknown>, options?: ModelCatalog.LoadOptions) =>
  Effect.runSync(Effect.either(ModelCatalog.fromData({ asOf: "2026-12-06", models }, options)))

describe("ModelCatalog", () => {
  it("a bad row is InvalidCatalog naming the model and the field", () => {
    const bad = load([row("good", "1", "2"), { ...row("broken", "1", "2"), contextWindow: -3 }])
    assert.isTrue(Either.isLeft(bad))
    if (Either.isLeft(bad)) {
      assert.strictEqual(bad.left.model, "broken")
      assert.strictEqual(bad.left.field, "contextWindow")
    }
    const price = load([row("typo", "1.2345678", "2")])
    assert.isTrue(Either.isLeft(price) && price.left.model === "typo" && price.left.field === "pricing.input")
    const negative = load([row("neg", "-1", "2")])
    assert.isTrue(Either.isLeft(negative) && negative.left.field === "pricing.input")
    const range = load([{ ...row("range", "1", "2"), complexity: { min: "expert", max: "trivial" } }])
    assert.isTrue(Either.isLeft(range) && range.left.model === "range" && range.left.field === "complexity")
    const twice = load([row("x", "1", "2"), row("x", "1", "2")])
    assert.isTrue(Either.isLeft(twice) && twice.left.field === "name")
  })

  it("implausible prices are reported at load: zero, output below a thousandth of input, far off the median", () => {
    const zero = load([row("free", "0", "2")])
    assert.isTrue(Either.isLeft(zero) && zero.left.model === "free" && zero.left.field === "pricing.input")
    const inverted = load([row("inverted", "10", "0.001")])
    assert.isTrue(Either.isLeft(inverted) && inverted.left.field === "pricing.output")
    // $2,500 per million instead of $2.50: a thousand times the median
    const typo = load([row("a", "1", "4"), row("b", "2", "8"), row("c", "2500", "10")])
    assert.isTrue(Either.isLeft(typo) && typo.left.model === "c" && typo.left.field === "pricing.input")
    const allowed = load([row("a", "1", "4"), row("b", "2", "8"), row("c", "2500", "10")], { allowImplausible: true })
    assert.isTrue(Either.isRight(allowed) && allowed.right.warnings.length === 1)
  })

  it("loads JSON and YAML, prices in dollars read exactly", () => {
    const yaml = `
asOf: 2026-12-06
models:
  - name: m
    provider: p
    pricing: { input: 0.15, output: "0.60", cachedInput: 0.075 }
    contextWindow: 128000
    maxOutputTokens: 16384
    outputTokensPerSecond: 75
    timeToFirstTokenMillis: 800
    complexity: { min: trivial, max: moderate }
    capabilities: [tools, json]
    sources:
      - { url: "https://example.com", title: t, asOf: 2026-12-06, covers: [price] }
    verified: true
`
    const c = Effect.runSync(ModelCatalog.fromYaml(yaml))
    const p = c.models[0]!.pricing
    assert.deepStrictEqual([p.input, p.output, p.cachedInput, p.tiers], [150_000, 600_000, 75_000, undefined])
    const j = Effect.runSync(
      ModelCatalog.fromJson(JSON.stringify({ asOf: "2026-12-06", models: [row("j", 0.1, 0.4)] }))
    )
    assert.strictEqual(j.models[0]!.pricing.input, 100_000)
    const notYaml = Effect.runSync(Effect.either(ModelCatalog.fromYaml("models: [")))
    assert.isTrue(Either.isLeft(notYaml))
  })

  it("the default catalog: dated, every row cited, the article's four models present, unverified rows explained", () => {
    const c = DefaultCatalog.catalog
    assert.strictEqual(c.asOf, DefaultCatalog.asOf)
    assert.deepStrictEqual(c.warnings, [])
    for (const name of ["gpt-4.1-nano", "gpt-4.1-mini", "claude-sonnet-4", "claude-opus-4"]) {
      assert.isDefined(ModelCatalog.find(c, name), name)
    }
    for (const provider of ["openai", "anthropic", "google", "deepseek"]) {
      assert.isTrue(c.models.some((m) => m.provider === provider), provider)
    }
    for (const m of c.models) {
      assert.isTrue(m.sources.some((s) => s.covers.includes("price")), `${m.name} cites its price`)
      if (!m.verified) assert.isTrue((m.note ?? "").length > 0, `${m.name} says what is unverified`)
    }
    // The tier of Claude Sonnet 4 above 200k input tokens is in the catalog.
    assert.strictEqual(ModelCatalog.find(c, "claude-sonnet-4")!.pricing.tiers?.[0]?.input, 6_000_000)
  })
})
