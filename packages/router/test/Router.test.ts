// The router over a ledger: prompts counted, over-budget models passed over,
// and the reserve → call → settle life of a call.
import * as TokenCounter from "@agentos/core/TokenCounter"
import * as TokenUsage from "@agentos/core/TokenUsage"
import { assert, describe, it } from "@effect/vitest"
import * as Deferred from "effect/Deferred"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Fiber from "effect/Fiber"
import * as Layer from "effect/Layer"
import * as ComplexityEstimator from "../src/ComplexityEstimator.js"
import * as DefaultCatalog from "../src/DefaultCatalog.js"
import * as Router from "../src/Router.js"
import * as SpendLedger from "../src/SpendLedger.js"

const ledger = SpendLedger.layerMemory({
  budgets: [
    { scope: "team:research", limit: 50_000, period: { unit: "month" } },
    { scope: "agent:alice", limit: 2_000, period: { unit: "day" } }
  ],
  sweepInterval: 0
})
const layer = Router.layer({ catalog: DefaultCatalog.article }).pipe(Layer.provideMerge(ledger))

describe("Router", () => {
  it.effect("counts a prompt with the TokenCounter and estimates its complexity", () =>
    Effect.gen(function*() {
      const router = yield* Router.Router
      const d = yield* router.route({ prompt: "Classify this ticket: 'my invoice is wrong'", outputTokens: 5 })
      assert.strictEqual(d.complexity, "trivial")
      assert.strictEqual(d.inputTokens, TokenCounter.approximate.count("Classify this ticket: 'my invoice is wrong'"))
      assert.strictEqual(d.model.name, "gpt-4.1-nano")
    }).pipe(Effect.provide(layer)))

  it.effect("a model whose reservation does not fit a scope's remaining budget is over-budget", () =>
    Effect.gen(function*() {
      const router = yield* Router.Router
      const request = { inputTokens: 2_000, outputTokens: 500, complexity: "complex" as const, scopes: ["agent:alice"] }
      const d = yield* Effect.either(router.route(request))
      // opus would reserve 2,200 × $15/M + 500 × $75/M = 33,000 + 37,500 µ$; sonnet 6,600 + 7,500: both over 2,000 µ$
      assert.isTrue(Either.isLeft(d))
      if (Either.isLeft(d) && d.left._tag === "NoEligibleModel") {
        const sonnet = d.left.rejections.find((r) => r.model === "claude-sonnet-4")!
        assert.deepStrictEqual([...sonnet.reasons], ["over-budget"])
      }
      const team = yield* router.route({ ...request, scopes: ["team:research"] })
      assert.strictEqual(team.model.name, "claude-sonnet-4")
    }).pipe(Effect.provide(layer)))

  it.effect("call reserves, runs and settles with the reported usage at the chosen model's prices", () =>
    Effect.gen(function*() {
      const router = yield* Router.Router
      const result = yield* router.call(
        { inputTokens: 1_000, outputTokens: 300, complexity: "simple", scopes: ["team:research"] },
        (decision) => {
          assert.strictEqual(decision.maxOutputTokens, 300)
          return Effect.succeed({
            value: "ok",
            outcome: { usage: TokenUsage.make({ inputTokens: 1_000, outputTokens: 120 }) }
          })
        }
      )
      assert.strictEqual(result.decision.model.name, "gpt-4.1-nano")
      // 1,000 × 0.10 + 120 × 0.40 = 148 µ$; reserved 1,100 × 0.10 + 300 × 0.40 = 230 µ$
      assert.deepStrictEqual([result.settlement.charged, result.settlement.refunded], [148, 82])
      const report = yield* router.budgetReport()
      const team = report.scopes.find((s) => s.scope === "team:research")!
      assert.strictEqual(team.spent, 148)
      // The reference (opus) for the same usage: 15,000 + 9,000 µ$
      assert.deepStrictEqual(team.byModel.map((m) => [m.model, m.reference, m.saving]), [[
        "gpt-4.1-nano",
        24_000,
        24_000 - 148
      ]])
    }).pipe(Effect.provide(layer)))

  it.effect("usage the provider did not report is counted and marked estimated", () =>
    Effect.gen(function*() {
      const router = yield* Router.Router
      const result = yield* router.call(
        { inputTokens: 1_000, outputTokens: 300, complexity: "simple", scopes: ["team:research"] },
        () => Effect.succeed({ value: 1, outcome: { outputText: "x".repeat(400) } })
      )
      // 400 bytes → 100 tokens (approximate counter): 100 + 40 µ$
      assert.strictEqual(result.settlement.charged, 140)
      assert.isTrue(result.settlement.estimated)
    }).pipe(Effect.provide(layer), Effect.provide(Layer.succeed(TokenCounter.TokenCounter, TokenCounter.approximate))))

  it.effect("an interrupted call is settled at its reservation; a failed one is given back", () =>
    Effect.gen(function*() {
      const router = yield* Router.Router
      const request = { inputTokens: 1_000, outputTokens: 300, complexity: "simple", scopes: ["agent:alice"] } as const
      const started = yield* Deferred.make<void>()
      const fiber = yield* Effect.fork(
        router.call(request, () => Effect.zipRight(Deferred.succeed(started, void 0), Effect.never))
      )
      yield* Deferred.await(started)
      yield* Fiber.interrupt(fiber)
      const afterInterrupt = yield* (yield* SpendLedger.SpendLedger).status("agent:alice")
      assert.deepStrictEqual([afterInterrupt.spent, afterInterrupt.reserved], [230, 0])
      const failed = yield* Effect.either(router.call(request, () => Effect.fail("provider 500" as const)))
      assert.isTrue(Either.isLeft(failed) && failed.left === "provider 500")
      const afterFailure = yield* (yield* SpendLedger.SpendLedger).status("agent:alice")
      assert.deepStrictEqual([afterFailure.spent, afterFailure.reserved], [230, 0])
    }).pipe(Effect.provide(layer)))

  it.effect("bad options fail the layer with InvalidOptions", () =>
    Effect.gen(function*() {
      const bad = yield* Effect.either(Layer.build(Router.layer({ reference: "gpt-99" }).pipe(Layer.provide(ledger))))
      assert.isTrue(Either.isLeft(bad) && bad.left._tag === "InvalidOptions")
      const margin = yield* Effect.either(Layer.build(Router.layer({ marginPercent: -1 }).pipe(Layer.provide(ledger))))
      assert.isTrue(Either.isLeft(margin) && margin.left._tag === "InvalidOptions")
      const budgets = yield* Effect.either(Layer.build(SpendLedger.layerMemory({
        budgets: [{ scope: "x", limit: -5, period: { unit: "day" } }]
      })))
      assert.isTrue(Either.isLeft(budgets) && budgets.left._tag === "InvalidOptions")
    }).pipe(Effect.scoped))

  it.effect("a request without tokens or prompt is InvalidInput", () =>
    Effect.gen(function*() {
      const router = yield* Router.Router
      const r = yield* Effect.either(router.route({ outputTokens: 10 }))
      assert.isTrue(Either.isLeft(r) && r.left._tag === "InvalidInput")
    }).pipe(Effect.provide(layer)))
})

describe("ComplexityEstimator.heuristic", () => {
  it("reads question type, code, length and tools", () => {
    const h = ComplexityEstimator.heuristic
    assert.strictEqual(h({ prompt: "Classify the sentiment of: great product" }), "trivial")
    assert.strictEqual(h({ prompt: "Summarise this paragraph for a newsletter." }), "simple")
    assert.strictEqual(h({ prompt: "Debug this:\n```ts\nconst x = f()\n```" }), "complex")
    assert.strictEqual(h({ prompt: "Summarise the meeting notes.", requiresTools: true }), "moderate")
    assert.strictEqual(
      h({ prompt: "Design a system architecture for payments; prove it is safe.", requiresTools: true }),
      "expert"
    )
    assert.strictEqual(h({ prompt: "word ".repeat(10_000) }), "complex")
  })
})
