// The fast paths (reserve and commit on one agent's row) interleaved with the
// whole rules (rebalances on register and remove, steals and reclaims,
// expiries by the database's clock, period rollovers) from two SqlClients on
// one team, as two processes; and the dashboard, read while they run, sees
// one state, never a commit half seen.
import { Backends } from "@agentos/testkit"
import * as SqlClient from "@effect/sql/SqlClient"
import { assert, describe, it } from "@effect/vitest"
import * as Clock from "effect/Clock"
import * as Context from "effect/Context"
import * as Deferred from "effect/Deferred"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Fiber from "effect/Fiber"
import * as Layer from "effect/Layer"
import { checkInvariants } from "../src/Testing.js"
import * as TokenBudget from "../src/TokenBudget.js"

const build = (layer: Layer.Layer<TokenBudget.TokenBudget, unknown>) =>
  Effect.map(Layer.build(layer), Context.get(TokenBudget.TokenBudget))

const MINUTE = 60_000
const DAY = 24 * 60 * MINUTE

/** Real time plus an offset the test moves forward: agents fall idle, days pass. */
const movableClock = () => {
  const live = Clock.make()
  let offset = 0
  const millis = () => live.unsafeCurrentTimeMillis() + offset
  const clock: Clock.Clock = {
    [Clock.ClockTypeId]: Clock.ClockTypeId,
    unsafeCurrentTimeMillis: millis,
    currentTimeMillis: Effect.sync(millis),
    unsafeCurrentTimeNanos: () => BigInt(millis()) * BigInt(1_000_000),
    currentTimeNanos: Effect.sync(() => BigInt(millis()) * BigInt(1_000_000)),
    sleep: (duration) => live.sleep(duration)
  }
  return {
    clock,
    advance: (ms: number) => {
      offset += ms
    }
  }
}

const TOTAL = 20_000
const AGENTS = ["a", "b", "c", "d"]
const EXPECTED = new Set(["BudgetExhausted", "AgentBusy", "UnknownAgent"])
const options: TokenBudget.Options = { team: "mixed", total: TOTAL, period: { unit: "day" }, idleAfter: "1 minute" }

const mixed = (budgets: ReadonlyArray<TokenBudget.TokenBudgetService>, n: number) =>
  Effect.gen(function*() {
    const time = movableClock()
    const timed = <A, E>(effect: Effect.Effect<A, E>) => Effect.withClock(effect, time.clock)
    for (const [i, id] of AGENTS.entries()) yield* timed(budgets[0]!.register({ id, weight: i + 1 }))
    let running = true
    // Dashboards read while everything runs hold the invariants.
    const checker = yield* Effect.fork(Effect.gen(function*() {
      for (let i = 0; running; i++) {
        yield* checkInvariants(budgets[i % budgets.length]!)
        yield* Effect.sleep("2 millis")
      }
    }))
    const results = yield* Effect.forEach(
      Array.from({ length: n }, (_, i) => i),
      (i) => {
        // Agents fall idle (steals, then reclaims when they are active again); now and then a day passes.
        if (i % 150 === 149) time.advance(DAY)
        else if (i % 5 === 4) time.advance(2 * MINUTE)
        const budget = budgets[i % budgets.length]!
        const agent = AGENTS[(i >> 1) % AGENTS.length]!
        const reserveThen = (estimate: number, settle: (id: string) => Effect.Effect<number, { _tag: string }>) =>
          Effect.flatMap(budget.reserve(agent, estimate), (r) => settle(r.id))
        const job: Effect.Effect<number, { readonly _tag: string }> = (() => {
          switch (i % 10) {
            case 0:
              return Effect.map(budget.request(agent, 300), (g) => g.granted)
            case 4: // above the estimate: overage, the whole rules
              return reserveThen(500, (id) => Effect.map(budget.commit(id, 700), (s) => s.charged))
            case 5:
              return reserveThen(500, (id) => Effect.map(budget.release(id), (s) => s.charged))
            case 6: // never settled: expires by the database's clock
              return Effect.as(budget.reserve(agent, 400, { timeout: "30 millis" }), 0)
            case 7: // a rebalance
              return Effect.as(budget.register({ id: "x", weight: 2 }), 0)
            case 8:
              return Effect.as(budget.remove("x"), 0)
            case 9:
              return Effect.flatMap(budget.reserve("x", 300), (r) =>
                Effect.map(budget.commit(r.id, 300), (s) => s.charged))
            default: // the fast paths
              return reserveThen(500, (id) =>
                Effect.map(budget.commit(id, 200), (s) => s.charged))
          }
        })()
        return Effect.either(timed(job))
      },
      { concurrency: 16 }
    )
    running = false
    yield* Fiber.join(checker)
    const unexpected = results.flatMap((r) => Either.isLeft(r) && !EXPECTED.has(r.left._tag) ? [String(r.left)] : [])
    assert.deepStrictEqual(unexpected, [])
    const charged = results.reduce((sum, r) => sum + (Either.isRight(r) ? r.right : 0), 0)
    // What expired is swept by the next transaction once the database's clock has passed it.
    yield* Effect.sleep("100 millis")
    yield* timed(budgets[0]!.request("a", 0))
    for (const budget of budgets) {
      const d = yield* checkInvariants(budget)
      let history = 0
      let steals = d.steals
      for (const h of d.history) {
        history += h.used
        steals += h.steals
      }
      assert.strictEqual(d.used + history, charged, "every charged token is counted once, in one period")
      assert.strictEqual(d.reserved, 0)
      assert.strictEqual(d.outstandingReservations, 0)
      // The run did cross periods and steal.
      assert.isAbove(d.history.length, 0)
      assert.isAbove(steals, 0)
    }
  })

describe("fast paths interleaved with the whole rules, two SqlClients on one team", () => {
  it.scopedLive("SQLite: two connections on one file", () =>
    Effect.gen(function*() {
      const dir = yield* Backends.tempDirectory("agentos-budget")
      const filename = `${dir}/budget.db`
      const a = yield* build(TokenBudget.layerSql(options).pipe(Layer.provide(Backends.sqlite({ filename }))))
      const b = yield* build(TokenBudget.layerSql(options).pipe(Layer.provide(Backends.sqlite({ filename }))))
      yield* mixed([a, b], 600)
    }), 120_000)

  it.scopedLive.skipIf(Backends.skipPostgres())("Postgres: two pools on one schema", () =>
    Effect.gen(function*() {
      const first = yield* Layer.build(Backends.postgres())
      const schema = Context.get(first, Backends.TestDatabase).schema!
      const a = yield* build(TokenBudget.layerSql(options).pipe(Layer.provide(Layer.succeedContext(first))))
      const b = yield* build(TokenBudget.layerSql(options).pipe(Layer.provide(Backends.postgres({ schema }))))
      yield* mixed([a, b], 600)
    }), 120_000)
})

describe("the dashboard on Postgres", () => {
  it.scopedLive.skipIf(Backends.skipPostgres())(
    "reads one snapshot: a commit that lands between its reads is seen whole or not at all",
    () =>
      Effect.gen(function*() {
        const first = yield* Layer.build(Backends.postgres())
        const schema = Context.get(first, Backends.TestDatabase).schema!
        const budget = yield* build(
          TokenBudget.layerSql({ team: "view", total: 1000 }).pipe(Layer.provide(Layer.succeedContext(first)))
        )
        yield* budget.register({ id: "a" })
        const r = yield* budget.reserve("a", 100)
        // Another process: it holds the agents' table, so that a dashboard started now reads the
        // team's row and then waits to read the agents; it then commits the reservation as the fast
        // path does (the agent's and the team's use in one transaction) and lets the dashboard go on.
        const other = Context.get(yield* Layer.build(Backends.postgres({ schema })), SqlClient.SqlClient)
        const locked = yield* Deferred.make<void>()
        const waiting = yield* Deferred.make<void>()
        const writer = yield* Effect.fork(other.withTransaction(Effect.gen(function*() {
          yield* other`LOCK TABLE agentos_budget_agents IN ACCESS EXCLUSIVE MODE`
          yield* Deferred.succeed(locked, undefined)
          yield* Deferred.await(waiting)
          yield* other`UPDATE agentos_budget_agents SET used = used + 60, reserved = reserved - 100
            WHERE team = 'view' AND id = 'a'`
          yield* other`UPDATE agentos_budget_teams SET used = used + 60 WHERE team = 'view'`
          yield* other`UPDATE agentos_budget_reservations SET state = 'committed', actual = 60, charged = 60,
            refunded = 40 WHERE team = 'view' AND id = ${r.id}`
        })))
        yield* Deferred.await(locked)
        const dashboard = yield* Effect.fork(budget.dashboard())
        // The dashboard waits for the agents' table, its read of the team's row done.
        for (let blocked = false; !blocked;) {
          yield* Effect.sleep("5 millis")
          const rows = yield* other<{ n: number | string }>`SELECT count(*) AS n FROM pg_stat_activity
            WHERE wait_event_type = 'Lock' AND query LIKE '%FROM agentos_budget_agents%' AND pid <> pg_backend_pid()`
          blocked = Number(rows[0]!.n) > 0
        }
        yield* Deferred.succeed(waiting, undefined)
        yield* Fiber.join(writer)
        const d = yield* Fiber.join(dashboard)
        const agent = d.agents[0]!
        assert.strictEqual(d.used, agent.used, "the team's use and its agent's, from one state")
        assert.strictEqual(d.reserved + d.used, 100)
        // Read again, the commit is seen whole.
        const after = yield* checkInvariants(budget)
        assert.deepStrictEqual([after.used, after.reserved], [60, 0])
      })
  )
})

describe("the fast paths' compiled statements", () => {
  it.scoped("bind every call's own arguments, whatever a team is named (even like a placeholder)", () =>
    Effect.gen(function*() {
      const dir = yield* Backends.tempDirectory("agentos-budget")
      const filename = `${dir}/budget.db`
      const sqlite = () => Backends.sqlite({ filename })
      // The team named "a" and a team whose name is what a statement's second argument (the agent) once
      // stood for while it was compiled, each with an agent "a".
      const odd = "\u0000agentos_budget:1\u0000"
      const plain = yield* build(TokenBudget.layerSql({ team: "a", total: 1000 }).pipe(Layer.provide(sqlite())))
      const strange = yield* build(TokenBudget.layerSql({ team: odd, total: 1000 }).pipe(Layer.provide(sqlite())))
      yield* plain.register({ id: "a" })
      yield* strange.register({ id: "a" })
      // A first reservation sets each team's next expiry, so the next one takes the fast path.
      yield* plain.reserve("a", 10)
      yield* strange.reserve("a", 10)
      const r = yield* strange.reserve("a", 100)
      assert.strictEqual((yield* strange.agent("a")).reserved, 110)
      assert.strictEqual((yield* plain.agent("a")).reserved, 10)
      const s = yield* strange.commit(r.id, 60)
      assert.deepStrictEqual([s.charged, s.refunded], [60, 40])
      yield* checkInvariants(strange)
      yield* checkInvariants(plain)
    }))
})
