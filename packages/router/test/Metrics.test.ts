import * as Money from "@agentos/core/Money"
import { assert, describe, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Metric from "effect/Metric"
import * as metrics from "../src/internal/metrics.js"
import * as SpendLedger from "../src/SpendLedger.js"

describe("metrics", () => {
  it.effect("count reservations, refusals, settlements, charges and overage", () =>
    Effect.gen(function*() {
      const read = Effect.all({
        reserved: Metric.value(metrics.reserved),
        refused: Metric.value(metrics.refused),
        settled: Metric.value(metrics.settled),
        charged: Metric.value(metrics.charged),
        overage: Metric.value(metrics.overage)
      })
      const before = yield* read
      const ledger = yield* SpendLedger.SpendLedger
      const input = { scopes: ["s"], model: "m", amount: Money.micros(60), inputTokens: 1, maxOutputTokens: 1 }
      const r = yield* ledger.reserve(input)
      yield* Effect.either(ledger.reserve(input))
      yield* ledger.settle(r.id, { charged: Money.micros(75) })
      const after = yield* read
      assert.strictEqual(after.reserved.count - before.reserved.count, 1)
      assert.strictEqual(after.refused.count - before.refused.count, 1)
      assert.strictEqual(after.settled.count - before.settled.count, 1)
      assert.strictEqual(after.charged.count - before.charged.count, 75)
      assert.strictEqual(after.overage.count - before.overage.count, 15)
    }).pipe(Effect.provide(SpendLedger.layerMemory({
      budgets: [{ scope: "s", limit: 100, period: { unit: "day" } }],
      sweepInterval: 0
    }))))
})
