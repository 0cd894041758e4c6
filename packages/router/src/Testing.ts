/**
 * The published conformance suite of the spend ledger: the cases every
 * `SpendLedger` layer passes (memory, SQLite, Postgres), as data, and the
 * harness a layer of your own needs to run them under your own vitest with
 * `@agentos/testkit`'s `Conformance`:
 *
 * ```ts
 * import { Conformance } from "@agentos/testkit"
 * import * as Testing from "@agentos/router/Testing"
 *
 * Conformance.conformance("my SpendLedger", {
 *   extra: { mine: Testing.harness((options) => myLayer(options)) }
 * }, Testing.suite)
 * ```
 *
 * Every case builds its ledgers through the harness, from a fresh harness
 * (so a fresh store). Needs the optional peer dependencies
 * `@agentos/testkit`, `@effect/vitest` and `vitest`. `index.ts` does not
 * re-export this module.
 *
 * @since 0.1.0
 */
import * as Money from "@agentos/core/Money"
import * as Conformance from "@agentos/testkit/Conformance"
import { assert } from "@effect/vitest"
import * as Chunk from "effect/Chunk"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Fiber from "effect/Fiber"
import * as Layer from "effect/Layer"
import type * as Scope from "effect/Scope"
import * as Stream from "effect/Stream"
import * as TestClock from "effect/TestClock"
import type * as Spend from "./Spend.js"
import * as SpendLedger from "./SpendLedger.js"

/**
 * What the cases use to build ledgers over the case's store.
 *
 * @since 0.1.0
 * @category models
 */
export interface HarnessService {
  readonly make: (options: SpendLedger.Options) => Effect.Effect<SpendLedger.SpendLedgerService, unknown, Scope.Scope>
}

/**
 * @since 0.1.0
 * @category tags
 */
export class Harness extends Context.Tag("@agentos/router/Testing/Harness")<Harness, HarnessService>() {}

/**
 * The harness of a layer: `makeLayer` builds a `SpendLedger` layer from a
 * case's options; what its layers need (`R`, e.g. a `SqlClient`) is
 * provided to the harness.
 *
 * @since 0.1.0
 * @category constructors
 */
export const harness = <E, R>(
  makeLayer: (options: SpendLedger.Options) => Layer.Layer<SpendLedger.SpendLedger, E, R>
): Layer.Layer<Harness, never, R> =>
  Layer.effect(
    Harness,
    Effect.map(Effect.context<R>(), (context) => ({
      make: (options) =>
        Effect.map(
          Layer.build(Layer.provide(makeLayer(options), Layer.succeedContext(context))),
          Context.get(SpendLedger.SpendLedger)
        )
    }))
  )

const DAY = { unit: "day" } as const
const MONTH = { unit: "month" } as const
const m = Money.micros

const ledger = (options: Partial<SpendLedger.Options> = {}) =>
  Effect.flatMap(Harness, (h) =>
    h.make({
      budgets: [
        { scope: "global", limit: 1_000_000, period: MONTH },
        { scope: "team:research", limit: 10_000, period: MONTH },
        { scope: "agent:alice", limit: 1_000, period: DAY }
      ],
      sweepInterval: 0,
      ...options
    }))

const call = (scopes: ReadonlyArray<string>, amount: number) => ({
  scopes,
  model: "gpt-4.1-mini",
  amount: m(amount),
  inputTokens: 1_000,
  maxOutputTokens: 500
})

/**
 * The cases.
 *
 * @since 0.1.0
 * @category suite
 */
export const suite: Conformance.Suite<Harness> = [
  Conformance.test(
    "reserve holds the amount; settle charges the actual cost and gives the rest back",
    Effect.gen(function*() {
      const l = yield* ledger()
      const r = yield* l.reserve(call(["team:research"], 800))
      const held = yield* l.status("team:research")
      assert.strictEqual(held.reserved, 800)
      assert.strictEqual(held.remaining, 9_200)
      const s = yield* l.settle(r.id, { charged: m(300) })
      assert.deepStrictEqual([s.charged, s.refunded, s.overage], [300, 500, 0])
      const after = yield* l.status("team:research")
      assert.deepStrictEqual([after.spent, after.reserved, after.remaining, after.calls], [300, 0, 9_700, 1])
    })
  ),
  Conformance.test(
    "a reservation that does not fit fails with SpendLimitExceeded naming the scope and what is left",
    Effect.gen(function*() {
      const l = yield* ledger()
      yield* l.reserve(call(["agent:alice"], 700))
      const refused = yield* Effect.either(l.reserve(call(["agent:alice"], 400)))
      assert.isTrue(Either.isLeft(refused))
      if (Either.isLeft(refused)) {
        const e = refused.left
        assert.strictEqual(e._tag, "SpendLimitExceeded")
        if (e._tag === "SpendLimitExceeded") {
          assert.strictEqual(e.scope, "agent:alice")
          assert.strictEqual(e.remaining, 300)
          assert.strictEqual(e.committed, 700)
          assert.strictEqual(e.requested, 400)
          assert.strictEqual(e.retryAfterMillis, 86_400_000)
        }
      }
      assert.strictEqual((yield* l.status("agent:alice")).reserved, 700)
      // A reservation above the whole limit is refused before the store.
      const tooBig = yield* Effect.either(l.reserve(call(["agent:alice"], 1_001)))
      assert.isTrue(Either.isLeft(tooBig))
    })
  ),
  Conformance.test(
    "a reservation over several scopes is all or nothing",
    Effect.gen(function*() {
      const l = yield* ledger()
      yield* l.reserve(call(["agent:alice"], 900))
      const refused = yield* Effect.either(l.reserve(call(["team:research", "agent:alice", "global"], 200)))
      assert.isTrue(Either.isLeft(refused))
      assert.strictEqual((yield* l.status("team:research")).reserved, 0)
      assert.strictEqual((yield* l.status("global")).reserved, 0)
      const r = yield* l.reserve(call(["team:research", "global"], 200))
      assert.deepStrictEqual(r.scopes.map((s) => s.scope), ["global", "team:research"])
      yield* l.settle(r.id, { charged: m(150) })
      assert.strictEqual((yield* l.status("global")).spent, 150)
      assert.strictEqual((yield* l.status("team:research")).spent, 150)
    })
  ),
  Conformance.test(
    "usage beyond the reservation is charged and reported as overage, with an alert",
    Effect.gen(function*() {
      const l = yield* ledger()
      const alerts = yield* Effect.flatMap(l.subscribe, (s) => Effect.fork(Stream.runCollect(Stream.take(s, 1))))
      const r = yield* l.reserve(call(["team:research"], 100))
      const s = yield* l.settle(r.id, { charged: m(130), estimated: true })
      assert.deepStrictEqual([s.charged, s.refunded, s.overage, s.estimated], [130, 0, 30, true])
      const status = yield* l.status("team:research")
      assert.deepStrictEqual([status.spent, status.overage], [130, 30])
      const [alert] = Chunk.toReadonlyArray(yield* Fiber.join(alerts))
      assert.strictEqual(alert?._tag, "OverageRecorded")
      const report = yield* l.report()
      const team = report.scopes.find((s) => s.scope === "team:research")!
      assert.strictEqual(team.overage, 30)
      assert.strictEqual(team.byModel[0]?.estimatedCalls, 1)
    })
  ),
  Conformance.test(
    "settle and cancel act once: a second time is ReservationNotFound",
    Effect.gen(function*() {
      const l = yield* ledger()
      const a = yield* l.reserve(call(["team:research"], 100))
      yield* l.settle(a.id, { charged: m(50) })
      const again = yield* Effect.either(l.settle(a.id, { charged: m(50) }))
      assert.isTrue(Either.isLeft(again) && again.left._tag === "ReservationNotFound")
      const b = yield* l.reserve(call(["team:research"], 100))
      yield* l.cancel(b.id)
      const status = yield* l.status("team:research")
      assert.deepStrictEqual([status.spent, status.reserved, status.calls], [50, 0, 1])
      const twice = yield* Effect.either(l.cancel(b.id))
      assert.isTrue(Either.isLeft(twice) && twice.left._tag === "ReservationNotFound")
      const unknown = yield* Effect.either(l.settle("no-such-id", { charged: m(1) }))
      assert.isTrue(Either.isLeft(unknown) && unknown.left._tag === "ReservationNotFound")
    })
  ),
  Conformance.test(
    "a reservation whose holder died expires and is settled at its reserved amount",
    Effect.gen(function*() {
      const l = yield* ledger({ reservationTtl: "40 millis" })
      const r = yield* l.reserve(call(["team:research"], 600))
      yield* Effect.sleep("120 millis")
      // Until it is swept, an expired reservation still counts against the limit.
      assert.strictEqual((yield* l.status("team:research")).remaining, 9_400)
      const late = yield* Effect.either(l.settle(r.id, { charged: m(10) }))
      assert.isTrue(Either.isLeft(late))
      if (Either.isLeft(late)) {
        assert.strictEqual(late.left._tag, "ReservationExpired")
        if (late.left._tag === "ReservationExpired") assert.strictEqual(late.left.charged, 600)
      }
      const s = yield* l.status("team:research")
      assert.deepStrictEqual([s.spent, s.reserved, s.calls], [600, 0, 1])
      // The sweep settles expired reservations no one came back for.
      yield* l.reserve(call(["team:research"], 250))
      yield* Effect.sleep("120 millis")
      assert.strictEqual(yield* l.expire, 1)
      const swept = yield* l.status("team:research")
      assert.deepStrictEqual([swept.spent, swept.reserved], [850, 0])
    }),
    { live: true }
  ),
  Conformance.test(
    "finished reservations older than the retention window are purged; the report is unchanged",
    Effect.gen(function*() {
      // Margins of hundreds of milliseconds: the SQL clock and the test's sleeps
      // are judged apart, and a loaded machine delays both.
      const l = yield* ledger({ reservationTtl: "300 millis", retention: "1 second" })
      const a = yield* l.reserve({ ...call(["team:research", "global"], 500), model: "gpt-4.1-nano" })
      yield* l.settle(a.id, { charged: m(300), reference: m(900), estimated: true })
      yield* l.reserve(call(["team:research"], 200))
      const c = yield* l.reserve(call(["team:research"], 100))
      yield* l.cancel(c.id)
      yield* Effect.sleep("400 millis")
      assert.strictEqual(yield* l.expire, 1)
      // Past their expiry, but inside the retention window: kept.
      assert.strictEqual(yield* l.purge, 0)
      const kept = (r: Spend.BudgetReport) =>
        r.scopes.map((x) => ({ scope: x.scope, spent: x.spent, calls: x.calls, saving: x.saving, byModel: x.byModel }))
      const before = kept(yield* l.report())
      yield* Effect.sleep("1100 millis")
      // An open reservation is never purged.
      const open = yield* l.reserve(call(["team:research"], 50))
      assert.strictEqual(yield* l.purge, 3)
      yield* l.settle(open.id, { charged: m(50) })
      assert.strictEqual(yield* l.purge, 0)
      const after = kept(yield* l.report())
      const team = after.find((s) => s.scope === "team:research")!
      assert.deepStrictEqual(team.byModel.map((x) => [x.model, x.calls, x.spent, x.estimatedCalls]), [
        ["gpt-4.1-mini", 2, 250, 0],
        ["gpt-4.1-nano", 1, 300, 1]
      ])
      assert.deepStrictEqual(after.find((s) => s.scope === "global"), before.find((s) => s.scope === "global"))
      assert.strictEqual((yield* l.status("team:research")).spent, 550)
      // A purged reservation is gone.
      const again = yield* Effect.either(l.settle(a.id, { charged: m(1) }))
      assert.isTrue(Either.isLeft(again) && again.left._tag === "ReservationNotFound")
      // Purged totals and purged rows fold together in the report.
      yield* Effect.sleep("1400 millis")
      assert.strictEqual(yield* l.purge, 1)
      assert.deepStrictEqual(kept(yield* l.report()), after)
    }),
    { live: true }
  ),
  Conformance.test(
    "a period's spend resets when the Clock enters the next period",
    Effect.gen(function*() {
      yield* TestClock.setTime(Date.parse("2026-12-31T23:00:00Z"))
      const l = yield* ledger()
      const r = yield* l.reserve(call(["agent:alice", "global"], 900))
      yield* l.settle(r.id, { charged: m(900) })
      const refused = yield* Effect.either(l.reserve(call(["agent:alice"], 200)))
      assert.isTrue(Either.isLeft(refused))
      if (Either.isLeft(refused) && refused.left._tag === "SpendLimitExceeded") {
        assert.strictEqual(refused.left.retryAfterMillis, 3_600_000)
      }
      yield* TestClock.adjust("1 hour")
      const alice = yield* l.status("agent:alice")
      assert.deepStrictEqual([alice.period, alice.spent, alice.remaining], ["2027-01-01", 0, 1_000])
      assert.strictEqual((yield* l.status("global")).period, "2027-01")
      yield* l.reserve(call(["agent:alice"], 200))
      // The report of the past period: complete, so its projection is its spend.
      const past = yield* l.report({ at: Date.parse("2026-12-31T12:00:00Z") })
      const lastDay = past.scopes.find((s) => s.scope === "agent:alice")!
      assert.deepStrictEqual([lastDay.period, lastDay.spent, lastDay.projected, lastDay.calls], [
        "2026-12-31",
        900,
        900,
        1
      ])
      assert.deepStrictEqual(lastDay.byModel.map((m) => [m.model, m.spent]), [["gpt-4.1-mini", 900]])
    })
  ),
  Conformance.test(
    "alerts fire once per scope and period when spend crosses 80% and 100%",
    Effect.gen(function*() {
      const l = yield* ledger()
      const collected = yield* Effect.flatMap(l.subscribe, (s) => Effect.fork(Stream.runCollect(Stream.take(s, 2))))
      for (const amount of [500, 290, 10, 100, 100]) {
        const r = yield* l.reserve(call(["agent:alice"], amount))
        yield* l.settle(r.id, { charged: m(amount) })
      }
      const alerts = Chunk.toReadonlyArray(yield* Fiber.join(collected))
      assert.deepStrictEqual(
        alerts.map((a) => a._tag === "ThresholdCrossed" ? [a.scope, a.percent, a.spent] : []),
        [["agent:alice", 80, 800], ["agent:alice", 100, 1_000]]
      )
    })
  ),
  Conformance.test(
    "a threshold fires once per scope and period, by the first settlement at or past it, and anew next period",
    Effect.gen(function*() {
      yield* TestClock.setTime(Date.parse("2026-12-10T12:00:00Z"))
      const l = yield* ledger()
      const collected = yield* Effect.flatMap(l.subscribe, (s) => Effect.fork(Stream.runCollect(Stream.take(s, 4))))
      const pay = (amount: number, charged: number) =>
        Effect.flatMap(l.reserve(call(["agent:alice"], amount)), (r) => l.settle(r.id, { charged: m(charged) }))
      yield* pay(900, 900)
      yield* pay(50, 50)
      // 50 held, 100 charged: spend reaches 1,050 (100%), 50 of it overage.
      yield* pay(50, 100)
      yield* TestClock.adjust("1 day")
      yield* pay(850, 850)
      const alerts = Chunk.toReadonlyArray(yield* Fiber.join(collected))
      assert.deepStrictEqual(
        alerts.map((a) =>
          a._tag === "ThresholdCrossed" ? [a.period, a.percent, a.spent, a.limit] : [a.period, a._tag, a.overage]
        ),
        [
          ["2026-12-10", 80, 900, 1_000],
          ["2026-12-10", 100, 1_050, 1_000],
          ["2026-12-10", "OverageRecorded", 50],
          ["2026-12-11", 80, 850, 1_000]
        ]
      )
    })
  ),
  Conformance.test(
    "1,000 concurrent reservations against a budget that fits 100: exactly 100 pass, spend never passes the budget",
    Effect.gen(function*() {
      const l = yield* ledger({
        budgets: [{ scope: "team:research", limit: 100 * 1_000, period: MONTH }]
      })
      const results = yield* Effect.forEach(
        Array.from({ length: 1_000 }, (_, i) => i),
        () =>
          Effect.either(
            Effect.flatMap(
              l.reserve(call(["team:research"], 1_000)),
              (r) => Effect.as(l.settle(r.id, { charged: m(1_000) }), r)
            )
          ),
        { concurrency: "unbounded" }
      )
      const passed = results.filter(Either.isRight).length
      const refused = results.filter((r) => Either.isLeft(r) && r.left._tag === "SpendLimitExceeded").length
      const other = results.flatMap((r) => Either.isLeft(r) && r.left._tag !== "SpendLimitExceeded" ? [r.left] : [])
      assert.deepStrictEqual(other.map(String), [])
      assert.strictEqual(passed, 100)
      assert.strictEqual(refused, 900)
      const status = yield* l.status("team:research")
      assert.deepStrictEqual([status.spent, status.reserved, status.calls], [100_000, 0, 100])
    }),
    { timeout: 180_000 }
  ),
  Conformance.test(
    "the report gives spend, calls, utilisation, projection and saving per scope and model",
    Effect.gen(function*() {
      yield* TestClock.setTime(Date.parse("2026-12-11T00:00:00Z"))
      const l = yield* ledger()
      const a = yield* l.reserve({ ...call(["global"], 5_000), model: "gpt-4.1-nano" })
      yield* l.settle(a.id, { charged: m(1_000), reference: m(9_000) })
      const b = yield* l.reserve({ ...call(["global"], 5_000), model: "claude-opus-4" })
      yield* l.settle(b.id, { charged: m(4_000), reference: m(4_000) })
      const report = yield* l.report()
      const global = report.scopes.find((s) => s.scope === "global")!
      assert.strictEqual(global.spent, 5_000)
      assert.strictEqual(global.calls, 2)
      assert.strictEqual(global.utilisation, 0.005)
      // 10 days of 31 gone: 5,000 µ$ projects to 15,500 µ$.
      assert.strictEqual(global.projected, 15_500)
      assert.deepStrictEqual(global.byModel.map((x) => [x.model, x.calls, x.spent, x.saving]), [
        ["claude-opus-4", 1, 4_000, 0],
        ["gpt-4.1-nano", 1, 1_000, 8_000]
      ])
      assert.strictEqual(global.saving, 8_000)
    })
  ),
  Conformance.test(
    "a scope without a budget, or a negative amount, is InvalidInput",
    Effect.gen(function*() {
      const l = yield* ledger()
      const unknown = yield* Effect.either(l.reserve(call(["team:nobody"], 1)))
      assert.isTrue(Either.isLeft(unknown) && unknown.left._tag === "InvalidInput")
      const negative = yield* Effect.either(l.reserve(call(["global"], -1)))
      assert.isTrue(Either.isLeft(negative) && negative.left._tag === "InvalidInput")
    })
  )
]

/**
 * The cases of ledgers that share one store (SQL): two ledgers built by
 * the harness on the same database, as two processes are.
 *
 * @since 0.1.0
 * @category suite
 */
export const sharedSuite: Conformance.Suite<Harness> = [
  Conformance.test(
    "a threshold fires once per scope and period across the ledgers on a store, even when their limits differ",
    Effect.gen(function*() {
      // The limit was raised to 1,250 in the second process only (a rolling
      // deploy): its 80% is the first one's 100%.
      const one = yield* ledger({ budgets: [{ scope: "team:research", limit: 1_000, period: MONTH }] })
      const two = yield* ledger({ budgets: [{ scope: "team:research", limit: 1_250, period: MONTH }] })
      // Each ledger's last settlement records overage: its alerts end there.
      const untilOverage = (l: SpendLedger.SpendLedgerService) =>
        Effect.flatMap(
          l.subscribe,
          (s) => Effect.fork(Stream.runCollect(Stream.takeUntil(s, (a) => a._tag === "OverageRecorded")))
        )
      const first = yield* untilOverage(one)
      const second = yield* untilOverage(two)
      const pay = (l: SpendLedger.SpendLedgerService, amount: number, charged: number) =>
        Effect.flatMap(l.reserve(call(["team:research"], amount)), (r) => l.settle(r.id, { charged: m(charged) }))
      yield* pay(one, 850, 850) // 850: the first's 80%
      yield* pay(two, 150, 150) // 1,000: the second's 80%, fired already
      yield* pay(one, 0, 10) // 1,010: the first's 100%
      yield* pay(two, 240, 250) // 1,260: the second's 100%, fired already
      const seen = (alerts: Chunk.Chunk<Spend.SpendAlert>) =>
        Chunk.toReadonlyArray(alerts).map((a) => a._tag === "ThresholdCrossed" ? [a.percent, a.spent] : [a._tag])
      assert.deepStrictEqual(seen(yield* Fiber.join(first)), [[80, 850], [100, 1_010], ["OverageRecorded"]])
      assert.deepStrictEqual(seen(yield* Fiber.join(second)), [["OverageRecorded"]])
    })
  )
]
