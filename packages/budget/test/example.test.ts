import { assert, describe, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import { main } from "../examples/basic.js"

describe("the README example", () => {
  it.effect("runs: weighted shares, a settled reservation, an inclusive limit, a named scope", () =>
    Effect.gen(function*() {
      const { dashboard, grant, refused, settlement } = yield* main
      assert.deepStrictEqual(dashboard.agents.map((a) => [a.id, a.allocated]), [["lead", 75_000], [
        "helper",
        25_000
      ]])
      assert.deepInclude(settlement, { charged: 1_500, refunded: 500, overage: 0 })
      assert.strictEqual(refused._tag, "BudgetExhausted")
      assert.deepInclude(refused, { scope: "agent", agent: "helper", remaining: 0 })
      assert.deepInclude(grant, { granted: 73_500, partial: true })
      assert.strictEqual(dashboard.used, 100_000)
    }))
})
