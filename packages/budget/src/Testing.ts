/**
 * The published conformance suite of the token budget: the cases every
 * `TokenBudget` layer passes (memory, SQLite, Postgres), as data, and the
 * harness a layer of your own needs to run them under your own vitest with
 * `@agentos/testkit`'s `Conformance`:
 *
 * ```ts
 * import { Conformance } from "@agentos/testkit"
 * import * as Testing from "@agentos/budget/Testing"
 *
 * Conformance.conformance("my TokenBudget", {
 *   extra: { mine: Testing.harness((options) => myLayer(options)) }
 * }, Testing.suite)
 * ```
 *
 * Every case builds its budgets through the harness, from a fresh harness
 * (so a fresh store); two builds within one case share that store, as two
 * processes sharing a database do. The harness provides core's
 * `IdGenerator` (sequential ids). Cases that judge a reservation's expiry
 * run with the real clock (`live`), since SQL judges it by the database's.
 *
 * Needs the optional peer dependencies `@agentos/testkit`, `@effect/vitest`
 * and `vitest`. `index.ts` does not re-export this module.
 *
 * @since 0.1.0
 */
import * as AdmissionPolicy from "@agentos/core/AdmissionPolicy"
import * as IdGenerator from "@agentos/core/IdGenerator"
import * as Ids from "@agentos/core/Ids"
import * as TokenUsage from "@agentos/core/TokenUsage"
import * as Conformance from "@agentos/testkit/Conformance"
import { assert } from "@effect/vitest"
import * as Chunk from "effect/Chunk"
import * as Clock from "effect/Clock"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Layer from "effect/Layer"
import * as Queue from "effect/Queue"
import type * as Scope from "effect/Scope"
import * as TestClock from "effect/TestClock"
import type { Alert } from "./Budget.js"
import * as TokenBudget from "./TokenBudget.js"

/**
 * What the cases use to build budgets: `make(options)` builds a budget over
 * the case's store (each call a new layer build, within the case's scope).
 *
 * @since 0.1.0
 * @category models
 */
export interface HarnessService {
  readonly make: (options: TokenBudget.Options) => Effect.Effect<TokenBudget.TokenBudgetService, unknown, Scope.Scope>
}

/**
 * @since 0.1.0
 * @category tags
 */
export class Harness extends Context.Tag("@agentos/budget/Testing/Harness")<Harness, HarnessService>() {}

/**
 * The harness of a layer: `makeLayer` builds a `TokenBudget` layer from a
 * case's options. The harness is a layer itself, built afresh for every
 * case; what `makeLayer`'s layers need (`R`, e.g. a `SqlClient`) is provided
 * to the harness.
 *
 * @since 0.1.0
 * @category constructors
 */
export const harness = <E, R>(
  makeLayer: (options: TokenBudget.Options) => Layer.Layer<TokenBudget.TokenBudget, E, R>
): Layer.Layer<Harness, never, R> =>
  Layer.effect(
    Harness,
    Effect.map(Effect.context<R>(), (context) => {
      const ids = IdGenerator.makeSequential("rsv")
      return Harness.of({
        make: (options) =>
          Layer.build(Layer.provide(makeLayer(options), Layer.succeed(IdGenerator.IdGenerator, ids))).pipe(
            Effect.map((built) => Context.get(built, TokenBudget.TokenBudget)),
            Effect.provide(context)
          )
      })
    })
  )

/**
 * A budget of a case, built with `options` through the case's harness.
 *
 * @since 0.1.0
 * @category accessors
 */
export const budget = (
  options: TokenBudget.Options
): Effect.Effect<TokenBudget.TokenBudgetService, unknown, Harness | Scope.Scope> =>
  Effect.flatMap(Harness, (h) => h.make(options))

/**
 * The error of an effect that must fail (the case fails if it succeeds).
 *
 * @since 0.1.0
 * @category utils
 */
export const failure = <A, E, R>(effect: Effect.Effect<A, E, R>) =>
  Effect.map(Effect.either(effect), (either) => {
    assert.isTrue(Either.isLeft(either), "expected a failure")
    return (either as Either.Left<E, A>).left
  })

/**
 * Checks the invariants on a budget's dashboard: `0 ≤ used + reserved ≤
 * allocated` per agent, allocations within the total, use within the total.
 *
 * @since 0.1.0
 * @category utils
 */
export const checkInvariants = (b: TokenBudget.TokenBudgetService) =>
  Effect.gen(function*() {
    const d = yield* b.dashboard()
    let allocated = 0
    let used = d.retiredUsed
    for (const a of d.agents) {
      assert.isAtLeast(a.used, 0)
      assert.isAtLeast(a.reserved, 0)
      assert.isAtMost(a.used + a.reserved, a.allocated, `agent ${a.id}: used + reserved within allocated`)
      allocated += a.allocated
      used += a.used
    }
    assert.isAtMost(allocated + d.retiredUsed, d.total, "allocations within the total")
    assert.isAtMost(used, d.total, "use within the total")
    assert.strictEqual(d.used, used)
    return d
  })

const allocations = (b: TokenBudget.TokenBudgetService) =>
  Effect.map(b.dashboard(), (d) => Object.fromEntries(d.agents.map((a) => [a.id, a.allocated])))

const team = (agents: ReadonlyArray<readonly [string, number]>, options: TokenBudget.Options) =>
  Effect.gen(function*() {
    const b = yield* budget(options)
    for (const [id, weight] of agents) yield* b.register({ id, weight })
    return b
  })

const admission = (agent: string | undefined, estimatedTokens: number | undefined) => ({
  taskId: Ids.TaskId.make("t1"),
  taskType: "search",
  ...(agent === undefined ? {} : { agentId: Ids.AgentId.make(agent) }),
  ...(estimatedTokens === undefined ? {} : { estimatedTokens })
})

/**
 * The cases every `TokenBudget` layer passes.
 *
 * @since 0.1.0
 * @category suites
 */
export const suite: Conformance.Suite<Harness> = [
  Conformance.test(
    "allocations follow the weights and add up to the total exactly",
    Effect.gen(function*() {
      const b = yield* team([["a", 1], ["b", 3]], { total: 1000 })
      assert.deepStrictEqual(yield* allocations(b), { a: 250, b: 750 })
      yield* b.register({ id: "c", weight: 1 })
      const shares = yield* allocations(b)
      assert.deepStrictEqual(shares, { a: 200, b: 600, c: 200 })
      const odd = yield* team([["x", 1], ["y", 1], ["z", 1]], { team: "odd", total: 1000 })
      const split = yield* allocations(odd)
      assert.strictEqual(split.x! + split.y! + split.z!, 1000)
      assert.deepStrictEqual(Object.values(split).sort(), [333, 333, 334])
      yield* checkInvariants(b)
    })
  ),
  Conformance.test(
    "registerAll registers many agents in one step, with the allocations of registering them one by one",
    Effect.gen(function*() {
      const one = yield* team([["a", 1], ["b", 3], ["c", 2]], { total: 1000 })
      const all = yield* budget({ team: "all", total: 1000 })
      yield* all.registerAll([{ id: "a" }, { id: "b", weight: 3 }, { id: "c", weight: 2 }])
      assert.deepStrictEqual(yield* allocations(all), yield* allocations(one))
      // registration order is kept, and registering again changes an agent's weight
      assert.deepStrictEqual((yield* all.dashboard()).agents.map((a) => a.id), ["a", "b", "c"])
      yield* all.registerAll([{ id: "c", weight: 1 }, { id: "d", weight: 2 }])
      assert.deepStrictEqual(yield* allocations(all), { a: 143, b: 428, c: 143, d: 286 })
      yield* all.registerAll([])
      yield* checkInvariants(all)
    })
  ),
  Conformance.test(
    "registerAll writes nothing when a spec is bad, an id is given twice or the minimum shares pass 1",
    Effect.gen(function*() {
      const b = yield* team([["a", 1]], { total: 1000, team: "bad" })
      const before = yield* b.dashboard()
      const bad = yield* failure(b.registerAll([{ id: "x" }, { id: "y", weight: -1 }]))
      assert.strictEqual(bad._tag, "InvalidInput")
      assert.include(bad.message, "agent 1")
      const twice = yield* failure(b.registerAll([{ id: "x" }, { id: "x", weight: 2 }]))
      assert.include(twice.message, "given twice")
      const shares = yield* failure(b.registerAll([{ id: "x", minShare: 0.6 }, { id: "y", minShare: 0.6 }]))
      assert.include(shares.message, "minimum shares")
      const notArray = yield* failure(b.registerAll({ id: "x" } as never))
      assert.strictEqual(notArray._tag, "InvalidInput")
      assert.deepStrictEqual(yield* b.dashboard(), before)
    })
  ),
  Conformance.test(
    "a team of 3,000 agents registers in one step and rebalances (every agent's row rewritten)",
    Effect.gen(function*() {
      const b = yield* budget({ team: "large", total: 3_000_000 })
      yield* b.registerAll(Array.from({ length: 3_000 }, (_, i) => ({ id: `agent-${i}` })))
      // a new lead halves nobody's use but moves every unused allocation
      yield* b.register({ id: "lead", weight: 1_000 })
      const d = yield* checkInvariants(b)
      assert.strictEqual(d.agents.length, 3_001)
      assert.strictEqual(d.agents.find((a) => a.id === "lead")!.allocated, 750_000)
      assert.strictEqual(d.agents.find((a) => a.id === "agent-0")!.allocated, 750)
    })
  ),
  Conformance.test(
    "the limit is inclusive: an agent with exactly N left is granted N, and N + 1 is refused naming the agent",
    Effect.gen(function*() {
      const b = yield* team([["a", 1], ["b", 1]], { total: 1000 })
      const first = yield* b.request("a", 300)
      assert.deepStrictEqual(first, { agent: "a", requested: 300, granted: 300, partial: false })
      const over = yield* failure(b.request("a", 201))
      assert.strictEqual(over._tag, "BudgetExhausted")
      if (over._tag === "BudgetExhausted") {
        assert.strictEqual(over.scope, "agent")
        assert.strictEqual(over.agent, "a")
        assert.strictEqual(over.requested, 201)
        assert.strictEqual(over.remaining, 200)
        assert.include(over.message, "\"a\"")
      }
      const exact = yield* b.request("a", 200)
      assert.strictEqual(exact.granted, 200)
      assert.strictEqual((yield* b.agent("a")).remaining, 0)
      yield* checkInvariants(b)
    })
  ),
  Conformance.test(
    "a request above what the whole team has left is refused with the team's scope and what it has left",
    Effect.gen(function*() {
      const b = yield* team([["a", 1], ["b", 1]], { total: 1000 })
      yield* b.request("b", 450)
      const error = yield* failure(b.request("a", 600))
      assert.strictEqual(error._tag, "BudgetExhausted")
      if (error._tag === "BudgetExhausted") {
        assert.strictEqual(error.scope, "team")
        assert.strictEqual(error.remaining, 550)
      }
    })
  ),
  Conformance.test(
    "partial: a request above what is left grants what is left; nothing left is still refused",
    Effect.gen(function*() {
      const b = yield* team([["a", 1]], { total: 100 })
      const grant = yield* b.request("a", 150, { partial: true })
      assert.deepStrictEqual(grant, { agent: "a", requested: 150, granted: 100, partial: true })
      const none = yield* failure(b.request("a", 1, { partial: true }))
      assert.strictEqual(none._tag, "BudgetExhausted")
      const zero = yield* b.request("a", 0)
      assert.strictEqual(zero.granted, 0)
    })
  ),
  Conformance.test(
    "registering rebalances only unused allocation: never below what an agent used or reserved",
    Effect.gen(function*() {
      const b = yield* team([["a", 1]], { total: 1000 })
      yield* b.request("a", 700)
      yield* b.reserve("a", 100)
      yield* b.register({ id: "b", weight: 1 })
      const shares = yield* allocations(b)
      assert.deepStrictEqual(shares, { a: 800, b: 200 })
      yield* b.register({ id: "c", weight: 1 })
      assert.deepStrictEqual(yield* allocations(b), { a: 800, b: 100, c: 100 })
      yield* checkInvariants(b)
    })
  ),
  Conformance.test(
    "removing an agent gives its unused allocation to the others; what it used stays counted",
    Effect.gen(function*() {
      const b = yield* team([["a", 1], ["b", 1]], { total: 1000 })
      yield* b.request("b", 200)
      yield* b.remove("b")
      const d = yield* checkInvariants(b)
      assert.deepStrictEqual(d.agents.map((a) => [a.id, a.allocated]), [["a", 800]])
      assert.strictEqual(d.used, 200)
      assert.strictEqual(d.retiredUsed, 200)
      assert.strictEqual(d.remaining, 800)
      const unknown = yield* failure(b.remove("b"))
      assert.strictEqual(unknown._tag, "UnknownAgent")
      const missing = yield* failure(b.request("nobody", 1))
      assert.strictEqual(missing._tag, "UnknownAgent")
    })
  ),
  Conformance.test(
    "an agent holding a reservation cannot be removed (AgentBusy)",
    Effect.gen(function*() {
      const b = yield* team([["a", 1], ["b", 1]], { total: 1000 })
      const r = yield* b.reserve("b", 10)
      const error = yield* failure(b.remove("b"))
      assert.strictEqual(error._tag, "AgentBusy")
      yield* b.release(r.id)
      yield* b.remove("b")
      assert.deepStrictEqual(yield* allocations(b), { a: 1000 })
    })
  ),
  Conformance.test(
    "guaranteed minimum and maximum shares bound the weighted allocation",
    Effect.gen(function*() {
      const b = yield* budget({ total: 1000 })
      yield* b.register({ id: "big", weight: 9 })
      yield* b.register({ id: "small", weight: 1, minShare: 0.3 })
      assert.deepStrictEqual(yield* allocations(b), { big: 700, small: 300 })
      yield* b.register({ id: "capped", weight: 10, maxShare: 0.1 })
      const shares = yield* allocations(b)
      assert.strictEqual(shares.capped, 100)
      assert.strictEqual(shares.small, 300)
      assert.strictEqual(shares.big, 600)
      const tooMuch = yield* failure(b.register({ id: "greedy", minShare: 0.8 }))
      assert.strictEqual(tooMuch._tag, "InvalidInput")
      const badWeight = yield* failure(b.register({ id: "zero", weight: 0 }))
      assert.strictEqual(badWeight._tag, "InvalidInput")
    })
  ),
  Conformance.test(
    "invalid token counts are a typed InvalidInput and change nothing",
    Effect.gen(function*() {
      const b = yield* team([["a", 1]], { total: 100 })
      for (const bad of [-1, 1.5, Number.NaN, Number.POSITIVE_INFINITY]) {
        const error = yield* failure(b.request("a", bad))
        assert.strictEqual(error._tag, "InvalidInput")
      }
      const r = yield* b.reserve("a", 10)
      assert.strictEqual((yield* failure(b.commit(r.id, -5)))._tag, "InvalidInput")
      assert.strictEqual((yield* b.agent("a")).used, 0)
    })
  ),
  Conformance.test(
    "commit charges the actual usage and returns the rest",
    Effect.gen(function*() {
      const b = yield* team([["a", 1]], { total: 1000 })
      const r = yield* b.reserve("a", 300)
      assert.strictEqual(r.amount, 300)
      assert.strictEqual(r.agent, "a")
      assert.isNotNull(r.expiresAt)
      let a = yield* b.agent("a")
      assert.strictEqual(a.reserved, 300)
      assert.strictEqual(a.remaining, 700)
      const s = yield* b.commit(r.id, 120)
      assert.deepStrictEqual(s, {
        id: r.id,
        agent: "a",
        state: "committed",
        reserved: 300,
        actual: 120,
        charged: 120,
        refunded: 180,
        overage: 0,
        repeated: false
      })
      a = yield* b.agent("a")
      assert.strictEqual(a.used, 120)
      assert.strictEqual(a.reserved, 0)
      assert.strictEqual(a.remaining, 880)
    })
  ),
  Conformance.test(
    "usage above the reservation is charged from what is left; what cannot be covered is overage, reported",
    Effect.gen(function*() {
      const b = yield* team([["a", 1]], { total: 1000 })
      const r1 = yield* b.reserve("a", 100)
      const s1 = yield* b.commit(r1.id, 250)
      assert.strictEqual(s1.charged, 250)
      assert.strictEqual(s1.overage, 0)
      assert.strictEqual(s1.refunded, 0)
      assert.strictEqual((yield* b.agent("a")).used, 250)
      yield* b.request("a", 700)
      const r2 = yield* b.reserve("a", 40)
      const s2 = yield* b.commit(r2.id, 100)
      assert.strictEqual(s2.charged, 50)
      assert.strictEqual(s2.overage, 50)
      const a = yield* b.agent("a")
      assert.strictEqual(a.used, 1000)
      assert.strictEqual(a.overage, 50)
      const d = yield* checkInvariants(b)
      assert.strictEqual(d.overage, 50)
      const r3 = yield* b.reserve("a", 0)
      assert.strictEqual(r3.amount, 0)
    })
  ),
  Conformance.test(
    "commit and release are idempotent: a second settlement returns the first, unchanged",
    Effect.gen(function*() {
      const b = yield* team([["a", 1]], { total: 1000 })
      const r = yield* b.reserve("a", 100)
      const first = yield* b.commit(r.id, 60)
      const again = yield* b.commit(r.id, 90)
      assert.deepStrictEqual(again, { ...first, repeated: true })
      const released = yield* b.release(r.id)
      assert.strictEqual(released.state, "committed")
      assert.isTrue(released.repeated)
      assert.strictEqual((yield* b.agent("a")).used, 60)
      const r2 = yield* b.reserve("a", 100)
      const rel = yield* b.release(r2.id)
      assert.strictEqual(rel.state, "released")
      assert.strictEqual(rel.refunded, 100)
      const rel2 = yield* b.release(r2.id)
      assert.isTrue(rel2.repeated)
      const afterRelease = yield* b.commit(r2.id, 10)
      assert.strictEqual(afterRelease.state, "released")
      assert.isTrue(afterRelease.repeated)
      const a = yield* b.agent("a")
      assert.strictEqual(a.used, 60)
      assert.strictEqual(a.reserved, 0)
      const missing = yield* failure(b.commit("no-such-reservation", 1))
      assert.strictEqual(missing._tag, "ReservationNotFound")
      assert.strictEqual((yield* failure(b.release("no-such-reservation")))._tag, "ReservationNotFound")
    })
  ),
  Conformance.test(
    "a reservation neither committed nor released expires and its tokens return (judged by the store's clock)",
    Effect.gen(function*() {
      const b = yield* team([["a", 1]], { total: 1000 })
      const r = yield* b.reserve("a", 1000, { timeout: "100 millis" })
      const held = yield* failure(b.request("a", 1))
      assert.strictEqual(held._tag, "BudgetExhausted")
      yield* Effect.sleep("400 millis")
      const grant = yield* b.request("a", 600)
      assert.strictEqual(grant.granted, 600)
      const d = yield* checkInvariants(b)
      assert.strictEqual(d.outstandingReservations, 0)
      assert.strictEqual(d.agents[0]!.reserved, 0)
      // Committing after expiry still charges the usage, from what is left.
      const late = yield* b.commit(r.id, 500)
      assert.strictEqual(late.state, "committed")
      assert.strictEqual(late.charged, 400)
      assert.strictEqual(late.overage, 100)
      const never = yield* b.reserve("a", 0, { timeout: "never" })
      assert.isNull(never.expiresAt)
    }),
    { live: true, timeout: 10_000 }
  ),
  Conformance.test(
    "an expiry is not lost to a refused operation: the expired tokens return at the next one",
    Effect.gen(function*() {
      const b = yield* team([["a", 1]], { total: 1000 })
      yield* b.reserve("a", 1000, { timeout: "100 millis" })
      yield* Effect.sleep("400 millis")
      // Refused even with the expired tokens back: it writes nothing, its expiry included.
      assert.strictEqual((yield* failure(b.request("a", 1001)))._tag, "BudgetExhausted")
      assert.strictEqual((yield* b.request("a", 1000)).granted, 1000)
      const d = yield* checkInvariants(b)
      assert.deepStrictEqual([d.used, d.reserved, d.outstandingReservations], [1000, 0, 0])
    }),
    { live: true, timeout: 10_000 }
  ),
  Conformance.test(
    "a timeout or an option beyond what the store can time is refused as invalid, and nothing is reserved",
    Effect.gen(function*() {
      const b = yield* team([["a", 1]], { total: 1000 })
      // One held first, so that a store's fast path would take the next ones.
      yield* b.reserve("a", 10)
      for (const timeout of [2 ** 53, 1e300]) {
        const error = yield* failure(b.reserve("a", 10, { timeout }))
        assert.strictEqual(error._tag, "InvalidInput")
      }
      const d = yield* checkInvariants(b)
      assert.deepStrictEqual([d.reserved, d.outstandingReservations], [10, 1])
      const invalid = yield* failure(budget({ total: 1000, reservationTimeout: 2 ** 53 }))
      assert.strictEqual((invalid as { readonly _tag: string })._tag, "InvalidOptions")
    })
  ),
  Conformance.test(
    "a settled reservation is remembered for the settlement retention, then forgotten (by the store's clock)",
    Effect.gen(function*() {
      const b = yield* team([["a", 1]], { total: 1000, settlementRetention: "300 millis" })
      const r = yield* b.reserve("a", 100)
      const first = yield* b.commit(r.id, 60)
      const again = yield* b.commit(r.id, 99)
      assert.deepStrictEqual([again.repeated, again.charged, again.actual], [true, 60, 60])
      const released = yield* b.reserve("a", 50)
      yield* b.release(released.id)
      yield* Effect.sleep("600 millis")
      // A later operation forgets them; a settlement asked after the retention finds nothing.
      yield* b.request("a", 1)
      assert.strictEqual((yield* failure(b.commit(r.id, 60)))._tag, "ReservationNotFound")
      assert.strictEqual((yield* failure(b.release(released.id)))._tag, "ReservationNotFound")
      const d = yield* checkInvariants(b)
      assert.deepStrictEqual([d.used, d.reserved, first.charged], [61, 0, 60])
    }),
    { live: true, timeout: 10_000 }
  ),
  Conformance.test(
    "an active agent steals from idle ones: idlest first, then lowest weight; a donor gives at most half of what it has left",
    Effect.gen(function*() {
      const b = yield* budget({ total: 1200, idleAfter: "1 minute" })
      yield* b.register({ id: "busy", weight: 1 })
      yield* b.register({ id: "heavy", weight: 1 })
      yield* b.register({ id: "light", weight: 1 })
      yield* TestClock.adjust("30 seconds")
      yield* b.request("heavy", 0)
      yield* TestClock.adjust("31 seconds")
      // light has been idle 61 s, heavy 31 s: only light is idle.
      const grant = yield* b.request("busy", 500)
      assert.strictEqual(grant.granted, 500)
      let d = yield* checkInvariants(b)
      assert.deepStrictEqual(d.transfers.map((t) => [t.kind, t.from, t.to, t.amount]), [[
        "steal",
        "light",
        "busy",
        100
      ]])
      assert.strictEqual(d.steals, 100)
      assert.deepStrictEqual(d.agents.map((a) => [a.id, a.allocated]), [["busy", 500], ["heavy", 400], ["light", 300]])
      // light keeps half of what it has left at most each time: 300 → gives 150 more.
      const more = yield* b.request("busy", 200, { partial: true })
      assert.strictEqual(more.granted, 150)
      d = yield* b.dashboard()
      assert.strictEqual(d.agents.find((a) => a.id === "light")!.allocated, 150)
      assert.strictEqual(d.agents.find((a) => a.id === "light")!.lent, 250)
      assert.strictEqual(d.agents.find((a) => a.id === "busy")!.borrowed, 250)
    })
  ),
  Conformance.test(
    "donors idle equally long give in order of lowest weight first",
    Effect.gen(function*() {
      const b = yield* budget({ total: 1000, idleAfter: "1 minute", donorShare: 1 })
      yield* b.register({ id: "asker", weight: 2 })
      yield* b.register({ id: "w2", weight: 2 })
      yield* b.register({ id: "w1", weight: 1 })
      yield* TestClock.adjust("2 minutes")
      yield* b.request("asker", 500)
      const d = yield* b.dashboard()
      assert.deepStrictEqual(d.transfers.map((t) => [t.from, t.amount]), [["w1", 100]])
    })
  ),
  Conformance.test(
    "a donor active again reclaims what its borrower has not used or reserved, and every move is recorded",
    Effect.gen(function*() {
      const b = yield* budget({ total: 1000, idleAfter: "1 minute", donorShare: 1 })
      yield* b.register({ id: "lender", weight: 1 })
      yield* b.register({ id: "borrower", weight: 1 })
      yield* TestClock.adjust("2 minutes")
      yield* b.request("borrower", 700)
      let d = yield* b.dashboard()
      assert.deepStrictEqual(d.transfers.map((t) => [t.kind, t.amount]), [["steal", 200]])
      yield* TestClock.adjust("1 second")
      const grant = yield* b.request("lender", 100)
      assert.strictEqual(grant.granted, 100)
      d = yield* checkInvariants(b)
      // The borrower used all it borrowed: nothing to reclaim.
      assert.deepStrictEqual(d.transfers.map((t) => t.kind), ["steal"])
      const b3 = yield* budget({ team: "third", total: 1000, idleAfter: "1 minute", donorShare: 1 })
      yield* b3.register({ id: "lender", weight: 1 })
      yield* b3.register({ id: "borrower", weight: 1 })
      yield* TestClock.adjust("2 minutes")
      const r = yield* b3.reserve("borrower", 800)
      yield* b3.commit(r.id, 550)
      // 300 lent; the borrower used 550 of 800: 250 free, all of it the lender's.
      yield* b3.request("lender", 10)
      d = yield* checkInvariants(b3)
      assert.deepStrictEqual(d.transfers.map((t) => [t.kind, t.from, t.to, t.amount]), [
        ["reclaim", "borrower", "lender", 250],
        ["steal", "lender", "borrower", 300]
      ])
      assert.strictEqual(d.reclaims, 250)
      const lender = d.agents.find((a) => a.id === "lender")!
      assert.strictEqual(lender.allocated, 450)
      assert.strictEqual(lender.lent, 50)
    })
  ),
  Conformance.test(
    "periods: use resets when the period ends; the ended period is kept in the history",
    Effect.gen(function*() {
      const b = yield* team([["a", 1], ["b", 1]], { total: 1000, period: { unit: "day" } })
      yield* b.request("a", 500)
      const r = yield* b.reserve("b", 100, { timeout: "2 days" })
      assert.strictEqual((yield* failure(b.request("a", 1)))._tag, "BudgetExhausted")
      yield* TestClock.adjust("1 day")
      const grant = yield* b.request("a", 450)
      assert.strictEqual(grant.granted, 450)
      const d = yield* checkInvariants(b)
      assert.strictEqual(d.period, "1970-01-02")
      assert.deepStrictEqual(d.history.map((h) => [h.period, h.used, h.total]), [["1970-01-01", 500, 1000]])
      // The held reservation carried over, still reserved.
      assert.strictEqual(d.agents.find((a) => a.id === "b")!.reserved, 100)
      assert.strictEqual(d.used, 450)
      const s = yield* b.commit(r.id, 100)
      assert.strictEqual(s.charged, 100)
    })
  ),
  Conformance.test(
    "a period never rolls back: an operation by a clock still in the ended period counts in the current one",
    Effect.gen(function*() {
      const b = yield* team([["a", 1]], { total: 1000, period: { unit: "day" } })
      yield* b.request("a", 100)
      yield* TestClock.adjust("1 day")
      const r = yield* b.reserve("a", 200)
      yield* b.request("a", 20)
      // A process whose clock lags (or that read it just before midnight) acts after the rollover.
      const outer = yield* Effect.clock
      const lagging: Clock.Clock = {
        [Clock.ClockTypeId]: Clock.ClockTypeId,
        unsafeCurrentTimeMillis: () => outer.unsafeCurrentTimeMillis() - 60_000,
        currentTimeMillis: Effect.sync(() => outer.unsafeCurrentTimeMillis() - 60_000),
        unsafeCurrentTimeNanos: () => outer.unsafeCurrentTimeNanos() - BigInt(60_000_000_000),
        currentTimeNanos: Effect.sync(() => outer.unsafeCurrentTimeNanos() - BigInt(60_000_000_000)),
        sleep: (duration) => outer.sleep(duration)
      }
      yield* Effect.withClock(Effect.zip(b.request("a", 50), b.commit(r.id, 150)), lagging)
      yield* b.request("a", 10)
      const d = yield* checkInvariants(b)
      assert.strictEqual(d.period, "1970-01-02")
      assert.deepStrictEqual(d.history.map((h) => [h.period, h.used]), [["1970-01-01", 100]])
      assert.strictEqual(d.used, 230)
    })
  ),
  Conformance.test(
    "alerts: use crossing 80% and 100% once per scope, and every steal",
    Effect.gen(function*() {
      const b = yield* team([["a", 1], ["b", 1]], { total: 1000, donorShare: 1 })
      const subscription = yield* b.subscribe
      yield* b.request("a", 400)
      yield* b.request("a", 50)
      yield* b.request("a", 10)
      yield* b.request("a", 40)
      yield* TestClock.adjust("2 minutes")
      // b is idle: a steals; a's thresholds were raised already this period.
      yield* b.request("a", 100)
      yield* b.request("b", 200)
      const alerts = Chunk.toReadonlyArray(yield* Queue.takeAll(subscription))
      assert.deepStrictEqual(
        alerts.map((alert) =>
          alert._tag === "ThresholdCrossed"
            ? `${alert.scope}:${alert.agent ?? ""}:${alert.threshold}:${alert.used}/${alert.limit}`
            : alert._tag === "Stolen"
            ? `stolen:${alert.transfer.from}>${alert.transfer.to}:${alert.transfer.amount}`
            : alert._tag
        ),
        ["agent:a:0.8:400/500", "agent:a:1:500/500", "stolen:b>a:100", "team::0.8:800/1000"]
      )
    })
  ),
  Conformance.test(
    "the dashboard has the article's figures and more",
    Effect.gen(function*() {
      const b = yield* team([["a", 1], ["b", 3]], { team: "dash", total: 1000 })
      yield* b.request("a", 100)
      yield* b.reserve("b", 50)
      const d = yield* checkInvariants(b)
      assert.strictEqual(d.team, "dash")
      assert.strictEqual(d.total, 1000)
      assert.strictEqual(d.allocated, 1000)
      assert.strictEqual(d.used, 100)
      assert.strictEqual(d.reserved, 50)
      assert.strictEqual(d.remaining, 850)
      assert.strictEqual(d.utilisation, 0.1)
      assert.strictEqual(d.outstandingReservations, 1)
      const a = d.agents.find((x) => x.id === "a")!
      assert.deepStrictEqual([a.allocated, a.used, a.remaining, a.utilisation, a.weight], [250, 100, 150, 0.4, 1])
    })
  ),
  Conformance.test(
    "the admission policy reserves a task's estimate, refuses with the scope and a retry-after, and settles once",
    Effect.gen(function*() {
      const b = yield* team([["a", 1], ["b", 1]], { team: "adm", total: 1000, period: { unit: "month" } })
      const policy = yield* TokenBudget.makeAdmissionPolicy(b)
      const grant = yield* policy.admit(admission("a", 400))
      const held = yield* b.agent("a")
      assert.strictEqual(held.reserved, 400)
      const refused = yield* failure(policy.admit(admission("a", 101)))
      assert.instanceOf(refused, AdmissionPolicy.AdmissionRejected)
      assert.strictEqual(refused.scope, "agent:a")
      // TestClock starts at 1970-01-01: the month resets in 31 days.
      assert.strictEqual(refused.retryAfterMillis, 31 * 24 * 3600 * 1000)
      yield* policy.commit(grant.id, TokenUsage.make({ inputTokens: 100, outputTokens: 50 }))
      yield* policy.commit(grant.id, TokenUsage.make({ inputTokens: 100, outputTokens: 50 }))
      const a = yield* b.agent("a")
      assert.deepStrictEqual([a.used, a.reserved], [150, 0])
      const noAgent = yield* failure(policy.admit(admission(undefined, 10)))
      assert.strictEqual(noAgent.policy, "TokenBudget")
      assert.strictEqual((yield* failure(policy.admit(admission("a", undefined))))._tag, "AdmissionRejected")
      const lenient = yield* TokenBudget.makeAdmissionPolicy(b, {
        withoutAgent: "admit",
        withoutEstimate: { defaultEstimate: 30 }
      })
      const g2 = yield* lenient.admit(admission("b", undefined))
      assert.strictEqual((yield* b.agent("b")).reserved, 30)
      yield* lenient.release(g2.id)
      yield* lenient.release(g2.id)
      assert.strictEqual((yield* b.agent("b")).reserved, 0)
      const g3 = yield* lenient.admit(admission(undefined, 10))
      yield* lenient.commit(g3.id, TokenUsage.empty)
      yield* policy.release("unknown-grant")
      const whole = yield* failure(policy.admit(admission("b", 900)))
      assert.strictEqual(whole._tag, "AdmissionRejected")
      assert.strictEqual(whole._tag === "AdmissionRejected" ? whole.scope : undefined, "team")
      // An admitted task's reservation never expires while it runs.
      const long = yield* policy.admit(admission("b", 100))
      yield* TestClock.adjust("1 day")
      assert.strictEqual((yield* b.agent("b")).reserved, 100)
      yield* policy.release(long.id)
      const bad = yield* failure(TokenBudget.makeAdmissionPolicy(b, { withoutAgent: "maybe" as "admit" }))
      assert.strictEqual(bad._tag, "InvalidOptions")
    })
  ),
  Conformance.test(
    "invalid options fail the layer when it is built",
    Effect.gen(function*() {
      for (
        const options of [
          { total: -1 },
          { total: 1.5 },
          { total: 10, donorShare: 2 },
          { total: 10, idleAfter: "0 millis" },
          { total: 10, alertThresholds: [0] },
          { total: 10, period: { unit: "week" } },
          { total: 10, team: "" }
        ]
      ) {
        const error = yield* failure(budget(options as TokenBudget.Options))
        assert.strictEqual((error as { _tag: string })._tag, "InvalidOptions", JSON.stringify(options))
      }
    })
  )
]

/**
 * The cases of a store that several budgets share (SQL: processes on one
 * database): two builds of the harness in one case open the same team. A
 * memory layer keeps each build's budget apart and does not run these.
 *
 * @since 0.1.0
 * @category suites
 */
export const sharedSuite: Conformance.Suite<Harness> = [
  Conformance.test(
    "two budgets on one store share the team: what one grants, the other sees and cannot grant again",
    Effect.gen(function*() {
      const one = yield* team([["a", 1]], { team: "shared", total: 1000 })
      const two = yield* budget({ team: "shared", total: 1000 })
      yield* one.request("a", 600)
      const r = yield* two.reserve("a", 400)
      assert.strictEqual((yield* failure(one.request("a", 1)))._tag, "BudgetExhausted")
      const s = yield* one.commit(r.id, 100)
      assert.strictEqual(s.refunded, 300)
      const d = yield* checkInvariants(two)
      assert.strictEqual(d.used, 700)
      const other = yield* budget({ team: "other", total: 10 })
      assert.deepStrictEqual((yield* other.dashboard()).agents, [])
    })
  ),
  Conformance.test(
    "a threshold alert is raised once per period across the budgets that share the team",
    Effect.gen(function*() {
      const one = yield* team([["a", 1]], { team: "alerts2", total: 1000 })
      const two = yield* budget({ team: "alerts2", total: 1000 })
      const first = yield* one.subscribe
      const second = yield* two.subscribe
      const r = yield* one.reserve("a", 900)
      yield* one.commit(r.id, 850)
      yield* two.request("a", 10)
      yield* two.request("a", 140)
      yield* one.request("a", 0)
      const seen = (alerts: Chunk.Chunk<Alert>) =>
        Chunk.toReadonlyArray(alerts).map((alert) =>
          alert._tag === "ThresholdCrossed" ? `${alert.scope}:${alert.agent ?? ""}:${alert.threshold}` : alert._tag
        )
      assert.deepStrictEqual(seen(yield* Queue.takeAll(first)), ["agent:a:0.8", "team::0.8"])
      assert.deepStrictEqual(seen(yield* Queue.takeAll(second)), ["agent:a:1", "team::1"])
    })
  ),
  Conformance.test(
    "an admitted task's grant is settled by id from another process's policy",
    Effect.gen(function*() {
      const one = yield* team([["a", 1]], { team: "adm2", total: 1000 })
      const two = yield* budget({ team: "adm2", total: 1000 })
      const grant = yield* (yield* TokenBudget.makeAdmissionPolicy(one)).admit(admission("a", 400))
      const other = yield* TokenBudget.makeAdmissionPolicy(two)
      yield* other.commit(grant.id, TokenUsage.make({ inputTokens: 100, outputTokens: 50 }))
      yield* other.commit(grant.id, TokenUsage.make({ inputTokens: 100, outputTokens: 50 }))
      const a = yield* one.agent("a")
      assert.deepStrictEqual([a.used, a.reserved], [150, 0])
    })
  )
]
