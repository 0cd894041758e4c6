// A period in a time zone rolls over at the zone's midnight, also on a day of
// 23 hours (Europe/Paris starts summer time on 2026-03-29): the service keeps
// the current window between operations and must leave it exactly at its end.
import { assert, describe, it } from "@effect/vitest"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as TestClock from "effect/TestClock"
import * as TokenBudget from "../src/TokenBudget.js"

const budget = Effect.map(
  Layer.build(TokenBudget.layerMemory({ total: 1000, period: { unit: "day", timeZone: "Europe/Paris" } })),
  Context.get(TokenBudget.TokenBudget)
)

describe("a zoned period", () => {
  it.scoped("rolls over at the zone's midnight, before and after a change of summer time", () =>
    Effect.gen(function*() {
      // 23:59:59 in Paris (UTC+1) on 2026-03-28.
      yield* TestClock.setTime(Date.UTC(2026, 2, 28, 22, 59, 59))
      const b = yield* budget
      yield* b.register({ id: "a" })
      yield* b.request("a", 10)
      assert.strictEqual((yield* b.dashboard()).period, "2026-03-28")
      yield* TestClock.adjust("1 second")
      yield* b.request("a", 20)
      const first = yield* b.dashboard()
      assert.strictEqual(first.period, "2026-03-29")
      assert.strictEqual(first.used, 20)
      assert.deepStrictEqual(first.history.map((h) => [h.period, h.used]), [["2026-03-28", 10]])
      // 23:59:59 in Paris (UTC+2 since 03:00) on 2026-03-29, a day of 23 hours.
      yield* TestClock.setTime(Date.UTC(2026, 2, 29, 21, 59, 59))
      yield* b.request("a", 30)
      assert.strictEqual((yield* b.dashboard()).period, "2026-03-29")
      yield* TestClock.adjust("1 second")
      yield* b.request("a", 40)
      const second = yield* b.dashboard()
      assert.strictEqual(second.period, "2026-03-30")
      assert.strictEqual(second.used, 40)
      assert.deepStrictEqual(second.history.map((h) => [h.period, h.used]), [["2026-03-28", 10], ["2026-03-29", 50]])
    }))
})
