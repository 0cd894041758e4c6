// The spend history behind `GET /budget/history`: a sample at start, then one
// every interval, in a bounded ring (oldest first), under TestClock.
import { TokenBudget } from "@agentos/budget"
import type { Money } from "@agentos/core"
import { SpendLedger } from "@agentos/router"
import { assert, describe, it } from "@effect/vitest"
import { Effect, Layer, TestClock } from "effect"
import * as History from "../src/History.js"

const scope = "team:research"
const micros = (n: number) => n as Money.Money

const stores = Layer.merge(
  SpendLedger.layerMemory({ budgets: [{ scope, limit: micros(2_000_000), period: { unit: "day" } }] }),
  TokenBudget.layerMemory({ team: "research", total: 50_000, period: { unit: "day" } })
)

const charge = (charged: number, reference: number) =>
  Effect.gen(function*() {
    const ledger = yield* SpendLedger.SpendLedger
    const reservation = yield* ledger.reserve({
      scopes: [scope],
      model: "small",
      amount: micros(charged),
      inputTokens: 100,
      maxOutputTokens: 100
    })
    yield* ledger.settle(reservation.id, { charged: micros(charged), reference: micros(reference) })
  })

describe("spend history", () => {
  it.scoped("samples at start and every interval: spend, spend at the reference model, budgets; oldest first", () =>
    Effect.gen(function*() {
      const context = yield* Layer.build(
        History.layer({ scope, interval: "5 seconds", capacity: 3 }).pipe(Layer.provideMerge(stores))
      )
      const history = Effect.flatMap(History.SpendHistory, (h) => h.history).pipe(Effect.provide(context))
      const first = yield* history
      assert.deepStrictEqual([first.scope, first.intervalMillis, first.capacity], [scope, 5_000, 3])
      assert.deepStrictEqual(first.samples, [{
        at: 0,
        spentMicros: 0,
        referenceMicros: 0,
        budgetMicros: 2_000_000,
        tokensUsed: 0,
        tokenBudget: 50_000
      }])

      yield* charge(1_000, 5_000).pipe(Effect.provide(context))
      // Nothing new before the interval has passed.
      yield* TestClock.adjust("4 seconds")
      assert.strictEqual((yield* history).samples.length, 1)
      yield* TestClock.adjust("1 second")
      const second = (yield* history).samples.at(-1)!
      assert.deepStrictEqual([second.at, second.spentMicros, second.referenceMicros], [5_000, 1_000, 5_000])

      // Bounded: beyond the capacity the oldest samples go; the rest stay in order.
      yield* charge(500, 500).pipe(Effect.provide(context))
      yield* TestClock.adjust("10 seconds")
      const samples = (yield* history).samples
      assert.deepStrictEqual(samples.map((s) => s.at), [5_000, 10_000, 15_000])
      assert.deepStrictEqual(samples.map((s) => s.spentMicros), [1_000, 1_500, 1_500])
      assert.deepStrictEqual(samples.map((s) => s.referenceMicros), [5_000, 5_500, 5_500])
    }))
})
