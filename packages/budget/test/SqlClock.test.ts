// Reservation expiry on SQL is judged by the database's clock, not the
// process's: with Effect's clock standing still (TestClock), a reservation
// on SQLite still expires once real time passes; in memory, Clock judges it.
// The team's metrics count what happened.
import { Backends } from "@agentos/testkit"
import { assert, describe, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Metric from "effect/Metric"
import * as TestClock from "effect/TestClock"
import * as TokenBudget from "../src/TokenBudget.js"

const realSleep = (ms: number) => Effect.promise(() => new Promise<void>((resolve) => setTimeout(resolve, ms)))

const counter = (name: string, tags: Record<string, string>) =>
  Effect.map(Metric.snapshot, (pairs) => {
    let total = 0
    for (const pair of pairs) {
      if (pair.metricKey.name !== name) continue
      const keyTags = Object.fromEntries(pair.metricKey.tags.map((t) => [t.key, t.value]))
      if (!Object.entries(tags).every(([k, v]) => keyTags[k] === v)) continue
      total += Number((pair.metricState as unknown as { count: number }).count)
    }
    return total
  })

describe("expiry by the store's clock", () => {
  it.effect("SQLite: a reservation expires by the database's clock while Effect's clock stands still", () =>
    Effect.gen(function*() {
      const budget = yield* TokenBudget.TokenBudget
      yield* budget.register({ id: "a" })
      const before = yield* counter("agentos_budget_expired_reservations_total", { backend: "sql" })
      yield* budget.reserve("a", 1000, { timeout: "100 millis" })
      yield* realSleep(300)
      const grant = yield* budget.request("a", 1000)
      assert.strictEqual(grant.granted, 1000)
      const after = yield* counter("agentos_budget_expired_reservations_total", { backend: "sql" })
      assert.strictEqual(after - before, 1)
    }).pipe(Effect.provide(TokenBudget.layerSql({ total: 1000 }).pipe(Layer.provide(Backends.sqlite())))))

  it.effect("memory: Effect's clock judges it (real time alone does not expire it)", () =>
    Effect.gen(function*() {
      const budget = yield* TokenBudget.TokenBudget
      yield* budget.register({ id: "a" })
      yield* budget.reserve("a", 1000, { timeout: "100 millis" })
      yield* realSleep(200)
      const refused = yield* Effect.flip(budget.request("a", 1000))
      assert.strictEqual(refused._tag, "BudgetExhausted")
      yield* TestClock.adjust("100 millis")
      assert.strictEqual((yield* budget.request("a", 1000)).granted, 1000)
    }).pipe(Effect.provide(TokenBudget.layerMemory({ total: 1000 }))))

  it.effect("metrics count grants, refusals by scope, overage and transfers", () =>
    Effect.gen(function*() {
      const budget = yield* TokenBudget.TokenBudget
      const granted0 = yield* counter("agentos_budget_granted_tokens_total", { backend: "memory" })
      const exhausted0 = yield* counter("agentos_budget_exhausted_total", { backend: "memory", scope: "team" })
      const overage0 = yield* counter("agentos_budget_overage_tokens_total", { backend: "memory" })
      const stolen0 = yield* counter("agentos_budget_transferred_tokens_total", { kind: "steal" })
      yield* budget.register({ id: "a" })
      yield* budget.register({ id: "b" })
      yield* TestClock.adjust("2 minutes")
      yield* budget.request("a", 600)
      yield* Effect.flip(budget.request("a", 1000))
      const r = yield* budget.reserve("b", 100)
      yield* budget.commit(r.id, 500)
      assert.strictEqual((yield* counter("agentos_budget_granted_tokens_total", { backend: "memory" })) - granted0, 700)
      assert.strictEqual(
        (yield* counter("agentos_budget_exhausted_total", { backend: "memory", scope: "team" })) - exhausted0,
        1
      )
      assert.strictEqual((yield* counter("agentos_budget_overage_tokens_total", { backend: "memory" })) - overage0, 100)
      assert.strictEqual((yield* counter("agentos_budget_transferred_tokens_total", { kind: "steal" })) - stolen0, 100)
    }).pipe(Effect.provide(TokenBudget.layerMemory({ total: 1000 }))))
})
