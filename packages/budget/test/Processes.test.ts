// Two budgets on one database, each with its own SqlClient (its own pool and
// sessions, as two processes have), hammering one team budget with requests,
// reservations, commits above and below the estimate and releases, all at
// once: the invariants hold and the totals add up exactly.
import { Backends } from "@agentos/testkit"
import { assert, describe, it } from "@effect/vitest"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Layer from "effect/Layer"
import { checkInvariants } from "../src/Testing.js"
import * as TokenBudget from "../src/TokenBudget.js"

const TOTAL = 100_000
const options: TokenBudget.Options = { team: "hammer", total: TOTAL }

const build = (layer: Layer.Layer<TokenBudget.TokenBudget, unknown>) =>
  Effect.map(Layer.build(layer), Context.get(TokenBudget.TokenBudget))

const AGENTS = ["a", "b", "c", "d"]

const hammer = (budgets: ReadonlyArray<TokenBudget.TokenBudgetService>, n: number) =>
  Effect.gen(function*() {
    for (const [i, id] of AGENTS.entries()) yield* budgets[0]!.register({ id, weight: i + 1 })
    // Each job: a request of 300, or a reservation of 500 committed at 200 or
    // 700 (above the estimate) or released, through either budget.
    const results = yield* Effect.forEach(
      Array.from({ length: n }, (_, i) => i),
      (i) => {
        const budget = budgets[i % budgets.length]!
        const agent = AGENTS[i % AGENTS.length]!
        const job = i % 4 === 0
          ? Effect.map(budget.request(agent, 300), (g) => g.granted)
          : Effect.flatMap(budget.reserve(agent, 500), (r) =>
            i % 4 === 3
              ? Effect.map(budget.release(r.id), (s) => s.charged)
              : Effect.map(budget.commit(r.id, i % 4 === 1 ? 200 : 700), (s) => s.charged))
        return Effect.either(job)
      },
      { concurrency: 16 }
    )
    const unexpected = results.flatMap((r) =>
      Either.isLeft(r) && r.left._tag !== "BudgetExhausted" ? [String(r.left)] : []
    )
    assert.deepStrictEqual(unexpected, [])
    const charged = results.reduce((sum, r) => sum + (Either.isRight(r) ? r.right : 0), 0)
    for (const budget of budgets) {
      const d = yield* checkInvariants(budget)
      assert.strictEqual(d.used, charged, "every charged token is counted, once")
      assert.strictEqual(d.reserved, 0)
      assert.strictEqual(d.outstandingReservations, 0)
      assert.strictEqual(d.allocated, TOTAL)
    }
    // The budget ran out along the way: refusals happened and nothing passed it.
    assert.isTrue(results.some(Either.isLeft))
  })

describe("two SqlClients on one team budget", () => {
  it.scoped("SQLite: two connections on one file", () =>
    Effect.gen(function*() {
      const dir = yield* Backends.tempDirectory("agentos-budget")
      const filename = `${dir}/budget.db`
      const a = yield* build(TokenBudget.layerSql(options).pipe(Layer.provide(Backends.sqlite({ filename }))))
      const b = yield* build(TokenBudget.layerSql(options).pipe(Layer.provide(Backends.sqlite({ filename }))))
      yield* hammer([a, b], 600)
    }), 120_000)

  it.scopedLive.skipIf(Backends.skipPostgres())(
    "Postgres: two pools on one schema",
    () =>
      Effect.gen(function*() {
        const first = yield* Layer.build(Backends.postgres())
        const schema = Context.get(first, Backends.TestDatabase).schema!
        const a = yield* build(TokenBudget.layerSql(options).pipe(Layer.provide(Layer.succeedContext(first))))
        const b = yield* build(TokenBudget.layerSql(options).pipe(Layer.provide(Backends.postgres({ schema }))))
        yield* hammer([a, b], 600)
      }),
    120_000
  )
})
