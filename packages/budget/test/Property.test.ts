// The invariants after every step of random sequences of register, remove,
// request, reserve, commit, release, expire, steal (idle time, then
// requests), reclaim (a lender's next request) and period reset, on memory
// and SQLite:
//   0 ≤ used + reserved ≤ allocated per agent; Σ allocated + retired = total
//   (conservation, every agent without a maximum share); Σ used ≤ total;
//   and what the team counts as used is exactly what was granted and charged.
import { Backends } from "@agentos/testkit"
import { assert, describe, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as FastCheck from "effect/FastCheck"
import * as Layer from "effect/Layer"
import * as TestClock from "effect/TestClock"
import * as TestContext from "effect/TestContext"
import * as TokenBudget from "../src/TokenBudget.js"

type Op =
  | { readonly op: "register"; readonly agent: number; readonly weight: number; readonly minShare: number }
  | { readonly op: "remove"; readonly agent: number }
  | { readonly op: "request"; readonly agent: number; readonly tokens: number; readonly partial: boolean }
  | { readonly op: "reserve"; readonly agent: number; readonly tokens: number; readonly partial: boolean }
  | { readonly op: "commit"; readonly which: number; readonly actual: number }
  | { readonly op: "release"; readonly which: number }
  | { readonly op: "expire" }
  | { readonly op: "idle" }
  | { readonly op: "reset" }
  | { readonly op: "steal"; readonly agent: number }
  | { readonly op: "reclaim"; readonly agent: number }

const agent = FastCheck.integer({ min: 0, max: 2 })
const tokens = FastCheck.integer({ min: 0, max: 700 })

const op: FastCheck.Arbitrary<Op> = FastCheck.oneof(
  {
    arbitrary: FastCheck.record({
      op: FastCheck.constant("register" as const),
      agent,
      weight: FastCheck.integer({ min: 1, max: 4 }),
      minShare: FastCheck.constantFrom(0, 0, 0.1, 0.3)
    }),
    weight: 1
  },
  { arbitrary: FastCheck.record({ op: FastCheck.constant("remove" as const), agent }), weight: 1 },
  {
    arbitrary: FastCheck.record({
      op: FastCheck.constant("request" as const),
      agent,
      tokens,
      partial: FastCheck.boolean()
    }),
    weight: 4
  },
  {
    arbitrary: FastCheck.record({
      op: FastCheck.constant("reserve" as const),
      agent,
      tokens,
      partial: FastCheck.boolean()
    }),
    weight: 4
  },
  {
    arbitrary: FastCheck.record({
      op: FastCheck.constant("commit" as const),
      which: FastCheck.nat(),
      actual: FastCheck.integer({ min: 0, max: 600 })
    }),
    weight: 3
  },
  { arbitrary: FastCheck.record({ op: FastCheck.constant("release" as const), which: FastCheck.nat() }), weight: 2 },
  { arbitrary: FastCheck.constant({ op: "expire" as const }), weight: 1 },
  { arbitrary: FastCheck.constant({ op: "idle" as const }), weight: 3 },
  { arbitrary: FastCheck.constant({ op: "reset" as const }), weight: 1 },
  { arbitrary: FastCheck.record({ op: FastCheck.constant("steal" as const), agent }), weight: 2 },
  { arbitrary: FastCheck.record({ op: FastCheck.constant("reclaim" as const), agent }), weight: 2 }
)

const TOTAL = 1000
const EXPECTED = new Set(["BudgetExhausted", "UnknownAgent", "AgentBusy", "InvalidInput", "ReservationNotFound"])

// Lets real time pass while TestClock stands still: SQL judges expiry by the database's clock.
const realSleep = (ms: number) => Effect.promise(() => new Promise<void>((resolve) => setTimeout(resolve, ms)))

// Steps that stole or reclaimed, per backend.
const stats = { steals: 0, reclaims: 0 }

const run = (ops: ReadonlyArray<Op>) =>
  Effect.gen(function*() {
    const b = yield* TokenBudget.TokenBudget
    const outstanding: Array<{ readonly id: string; readonly resets: number }> = []
    let resets = 0
    let seen = { steals: 0, reclaims: 0 }
    let charged = 0
    const expected = <A, E extends { readonly _tag: string }>(effect: Effect.Effect<A, E>) =>
      Effect.catchIf(
        Effect.asSome(effect),
        (error) => EXPECTED.has(error._tag),
        () => Effect.succeedNone
      )
    for (const step of ops) {
      switch (step.op) {
        case "register":
          yield* expected(b.register({ id: `a${step.agent}`, weight: step.weight, minShare: step.minShare }))
          break
        case "remove":
          yield* expected(b.remove(`a${step.agent}`))
          break
        case "request": {
          const grant = yield* expected(b.request(`a${step.agent}`, step.tokens, { partial: step.partial }))
          if (grant._tag === "Some") charged += grant.value.granted
          break
        }
        case "reserve": {
          const r = yield* expected(
            b.reserve(`a${step.agent}`, step.tokens, { partial: step.partial, timeout: "30 millis" })
          )
          if (r._tag === "Some") outstanding.push({ id: r.value.id, resets })
          break
        }
        case "commit":
        case "release": {
          if (outstanding.length === 0) break
          const { id, resets: at } = outstanding.splice(step.which % outstanding.length, 1)[0]!
          const settled = yield* Effect.either(step.op === "commit" ? b.commit(id, step.actual) : b.release(id))
          if (settled._tag === "Left") {
            // A new period forgets the last one's settled (here: expired) reservations.
            assert.strictEqual(settled.left._tag, "ReservationNotFound")
            assert.isAbove(resets, at)
            break
          }
          const s = settled.right
          // Settled once by this test; only an expiry (the store's) came first.
          if (s.repeated) assert.strictEqual(s.state, "expired")
          charged += s.charged
          break
        }
        case "expire":
          yield* TestClock.adjust("31 millis")
          yield* realSleep(35)
          break
        case "idle":
          yield* TestClock.adjust("2 minutes")
          break
        case "steal": {
          // Every other agent idle, then a reservation above what this one has.
          yield* TestClock.adjust("2 minutes")
          const r = yield* expected(b.reserve(`a${step.agent}`, 600, { partial: true, timeout: "30 millis" }))
          if (r._tag === "Some") outstanding.push({ id: r.value.id, resets })
          break
        }
        case "reclaim":
          // Any activity of a lender reclaims what its borrowers have free.
          yield* expected(b.request(`a${step.agent}`, 0))
          break
        case "reset":
          resets++
          yield* TestClock.adjust("1 day")
          break
      }
      const d = yield* b.dashboard()
      let allocated = 0
      let used = d.retiredUsed
      for (const a of d.agents) {
        assert.isAtLeast(a.used, 0)
        assert.isAtLeast(a.reserved, 0)
        assert.isAtMost(a.used + a.reserved, a.allocated, `${JSON.stringify(step)}: agent ${a.id}`)
        allocated += a.allocated
        used += a.used
      }
      assert.strictEqual(d.used, used)
      assert.isAtMost(used, TOTAL)
      if (d.agents.length > 0) assert.strictEqual(allocated + d.retiredUsed, TOTAL, `conservation after ${step.op}`)
      if (d.steals > seen.steals) stats.steals++
      if (d.reclaims > seen.reclaims) stats.reclaims++
      seen = d
      let history = 0
      for (const h of d.history) history += h.used
      assert.strictEqual(used + history, charged, `charged tokens after ${step.op}`)
    }
  })

const backends = [
  { name: "memory", layer: () => TokenBudget.layerMemory(options) },
  { name: "sqlite", layer: () => TokenBudget.layerSql(options).pipe(Layer.provide(Backends.sqlite())) }
] as const

const options: TokenBudget.Options = { total: TOTAL, period: { unit: "day" }, idleAfter: "1 minute" }

describe("invariants over random operation sequences", () => {
  for (const backend of backends) {
    it.live(`hold after every step (${backend.name})`, () =>
      Effect.promise(() =>
        FastCheck.assert(
          FastCheck.asyncProperty(FastCheck.array(op, { minLength: 1, maxLength: 60 }), (body) => {
            const ops: Array<Op> = [
              { op: "register", agent: 0, weight: 1, minShare: 0 },
              { op: "register", agent: 1, weight: 2, minShare: 0 },
              { op: "register", agent: 2, weight: 1, minShare: 0.1 },
              ...body
            ]
            return Effect.runPromise(
              run(ops).pipe(Effect.provide(backend.layer()), Effect.scoped, Effect.provide(TestContext.TestContext))
            )
          }),
          { numRuns: backend.name === "memory" ? 200 : 100 }
        )
      ).pipe(Effect.tap(() => {
        // The sequences did exercise steals and reclaims.
        assert.isAbove(stats.steals, 0)
        assert.isAbove(stats.reclaims, 0)
        stats.steals = 0
        stats.reclaims = 0
      })), 120_000)
  }
})
