import { assert, describe, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import { main } from "../examples/basic.js"
import { main as routedMain } from "../examples/routed.js"

describe("the README example", () => {
  it.effect("runs: the cheapest capable model is chosen, charged its actual usage, and reported", () =>
    Effect.gen(function*() {
      const { decision, settlement, team } = yield* main
      // gpt-5-nano: the cheapest model with tools for a simple request
      assert.strictEqual(decision.model.name, "gpt-5-nano")
      // 2,000 × $0.05/M + 180 × $0.40/M = 100 + 72 µ$
      assert.strictEqual(settlement.charged, 172)
      assert.strictEqual(team.spent, 172)
      assert.strictEqual(team.calls, 1)
      assert.isAbove(team.saving, 0)
    }))
})

describe("the README's routed-model example", () => {
  it.effect("runs: the call is routed, and charged the simulated provider's reported usage", () =>
    Effect.gen(function*() {
      const { team, text, usage } = yield* routedMain
      assert.isAbove(text.length, 0)
      assert.strictEqual(team.calls, 1)
      assert.strictEqual(team.reserved, 0)
      // gpt-5-nano ($0.05/M input, $0.40/M output) for a simple request
      const expected = Math.ceil((usage.inputTokens! * 50_000 + usage.outputTokens! * 400_000) / 1e6)
      assert.strictEqual(team.spent, expected)
    }))
})
