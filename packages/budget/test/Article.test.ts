// One test per defect of the source article's allocator (pattern 6) and of
// the budget edges issue 14 names, each showing it fixed.
import { assert, describe, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as TestClock from "effect/TestClock"
import { checkInvariants, failure } from "../src/Testing.js"
import * as TokenBudget from "../src/TokenBudget.js"

const layer = (options: Partial<TokenBudget.Options> = {}) => TokenBudget.layerMemory({ total: 1000, ...options })

describe("the article's allocator defects, fixed", () => {
  it.effect("registering an agent never cuts another's allocation below what it already used", () =>
    Effect.gen(function*() {
      // The article resets every agent to total / n on register: agent a,
      // having used 900 of 1000, would be left with 500 allocated.
      const b = yield* TokenBudget.TokenBudget
      yield* b.register({ id: "a" })
      yield* b.request("a", 900)
      yield* b.register({ id: "b" })
      const a = yield* b.agent("a")
      assert.strictEqual(a.allocated, 900)
      assert.strictEqual(a.remaining, 0)
      assert.strictEqual((yield* b.agent("b")).allocated, 100)
      yield* checkInvariants(b)
    }).pipe(Effect.provide(layer())))

  it.effect("reported usage is charged (the article's report_usage does nothing)", () =>
    Effect.gen(function*() {
      const b = yield* TokenBudget.TokenBudget
      yield* b.register({ id: "a" })
      const r = yield* b.reserve("a", 100)
      yield* b.commit(r.id, 340)
      const a = yield* b.agent("a")
      assert.strictEqual(a.used, 340)
      assert.strictEqual(a.remaining, 660)
    }).pipe(Effect.provide(layer())))

  it.effect("priority drives allocation (the article never uses it when allocating)", () =>
    Effect.gen(function*() {
      const b = yield* TokenBudget.TokenBudget
      yield* b.register({ id: "lead", weight: 3 })
      yield* b.register({ id: "helper", weight: 1 })
      assert.strictEqual((yield* b.agent("lead")).allocated, 750)
      assert.strictEqual((yield* b.agent("helper")).allocated, 250)
    }).pipe(Effect.provide(layer())))

  it.effect("shares never over-allocate the total (the article's percentages can)", () =>
    Effect.gen(function*() {
      // In the article, three agents registered at 60% each hold 1800 of 1000.
      const b = yield* TokenBudget.TokenBudget
      yield* b.register({ id: "a", minShare: 0.6 })
      const refused = yield* failure(b.register({ id: "b", minShare: 0.6 }))
      assert.strictEqual(refused._tag, "InvalidInput")
      yield* b.register({ id: "b", maxShare: 0.6 })
      yield* b.register({ id: "c", maxShare: 0.6 })
      const d = yield* checkInvariants(b)
      assert.strictEqual(d.allocated, 1000)
      assert.strictEqual(d.agents.find((x) => x.id === "a")!.allocated, 600)
    }).pipe(Effect.provide(layer())))

  it.effect("only idle agents are stolen from (the article takes from any agent with tokens left)", () =>
    Effect.gen(function*() {
      const b = yield* TokenBudget.TokenBudget
      yield* b.register({ id: "a" })
      yield* b.register({ id: "b" })
      yield* b.request("b", 1)
      const refused = yield* failure(b.request("a", 600))
      assert.strictEqual(refused._tag, "BudgetExhausted")
      assert.strictEqual((yield* b.agent("b")).allocated, 500)
      yield* TestClock.adjust("2 minutes")
      const grant = yield* b.request("a", 600)
      assert.strictEqual(grant.granted, 600)
    }).pipe(Effect.provide(layer())))
})

describe("budget edges", () => {
  it.effect("the limit is inclusive: exactly what is left is granted", () =>
    Effect.gen(function*() {
      const b = yield* TokenBudget.TokenBudget
      yield* b.register({ id: "a" })
      assert.strictEqual((yield* b.request("a", 1000)).granted, 1000)
    }).pipe(Effect.provide(layer())))

  it.effect("the error says which budget ran out and what is left", () =>
    Effect.gen(function*() {
      const b = yield* TokenBudget.TokenBudget
      yield* b.register({ id: "a" })
      yield* b.register({ id: "b" })
      yield* b.request("a", 480)
      const agent = yield* failure(b.request("a", 21))
      assert.deepInclude(agent, { scope: "agent", agent: "a", requested: 21, remaining: 20 })
      yield* b.request("b", 500)
      const team = yield* failure(b.request("a", 21))
      assert.deepInclude(team, { scope: "team", remaining: 20 })
    }).pipe(Effect.provide(layer())))

  it.effect("in-flight reservations never overshoot the cap: 100 concurrent reservations of 30 against 1000", () =>
    Effect.gen(function*() {
      const b = yield* TokenBudget.TokenBudget
      yield* b.register({ id: "a" })
      const results = yield* Effect.forEach(
        Array.from({ length: 100 }),
        () => Effect.either(b.reserve("a", 30)),
        { concurrency: "unbounded" }
      )
      const held = results.filter((r) => r._tag === "Right").length
      assert.strictEqual(held, 33)
      const d = yield* checkInvariants(b)
      assert.strictEqual(d.reserved, 990)
    }).pipe(Effect.provide(layer())))
})
