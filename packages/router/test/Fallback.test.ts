// Fallbacks, cooldowns, rate limits and the decision log of the routed
// model, over the simulated provider with injected failures.
import * as Pricing from "@agentos/core/Pricing"
import * as LanguageModel from "@effect/ai/LanguageModel"
import * as Tool from "@effect/ai/Tool"
import * as Toolkit from "@effect/ai/Toolkit"
import { assert, describe, it } from "@effect/vitest"
import * as Chunk from "effect/Chunk"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Fiber from "effect/Fiber"
import * as Layer from "effect/Layer"
import * as Schema from "effect/Schema"
import * as Stream from "effect/Stream"
import * as TestClock from "effect/TestClock"
import * as DecisionLog from "../src/DecisionLog.js"
import type { ReasonKind } from "../src/Errors.js"
import * as ModelCatalog from "../src/ModelCatalog.js"
import * as RoutedLanguageModel from "../src/RoutedLanguageModel.js"
import * as Router from "../src/Router.js"
import * as SimulatedProvider from "../src/SimulatedProvider.js"
import * as SpendLedger from "../src/SpendLedger.js"
import { budgets, model, routed, tempLog } from "./fixtures.js"

/** a has no tools; b, c, d have tools, each dearer than the last. */
const catalog = Effect.runSync(ModelCatalog.fromData({
  asOf: "2026-12-06",
  models: [
    model("a", "pa", "0.10", "0.40", 128_000, ["json", "streaming"]),
    model("b", "pb", "1", "4", 128_000, ["tools", "json", "streaming"]),
    model("c", "pc", "2", "8", 128_000, ["tools", "json", "streaming"]),
    model("d", "pd", "10", "40", 128_000, ["tools", "json", "streaming"])
  ]
}))

const reasonsIn = (attempt: DecisionLog.Attempt | undefined, name: string): ReadonlyArray<ReasonKind> =>
  attempt?.rejected.find((r) => r.model === name)?.reasons ?? []

const tools = RoutedLanguageModel.withRequest({ requires: ["tools"], outputTokens: 50 })
const latest = Effect.flatMap(DecisionLog.DecisionLog, (log) => log.recent({ limit: 1 })).pipe(
  Effect.map((entries) => entries[0]!)
)

describe("fallbacks", () => {
  it.effect("a failing model falls back to the next eligible one, which reserves its own cost", () => {
    const log = tempLog()
    return Effect.gen(function*() {
      const response = yield* LanguageModel.generateText({ prompt: "Plan the rollout" }).pipe(tools)
      assert.isAbove(response.text.length, 0)
      const entry = yield* latest
      assert.strictEqual(entry.outcome, "succeeded")
      assert.deepStrictEqual(entry.attempts.map((a) => [a.model, a.outcome, a.status]), [
        ["b", "failed", 500],
        ["c", "succeeded", undefined]
      ])
      // The fallback passed over what failed this call.
      assert.deepStrictEqual(reasonsIn(entry.attempts[1], "b"), ["failed-this-call"])
      assert.deepStrictEqual(reasonsIn(entry.attempts[1], "a"), ["missing-capability"])
      assert.notStrictEqual(entry.attempts[0]!.reservation, entry.attempts[1]!.reservation)
      // Only the call that went through is charged, and exactly what was billed.
      const billed = (yield* SimulatedProvider.readBilledLog(log)).filter((b) => b.status === "completed")
      assert.strictEqual(billed.length, 1)
      const c = catalog.models.find((m) => m.name === "c")!
      const cost = Pricing.cost(c.pricing, {
        ...billed[0]!,
        cachedInputTokens: 0,
        reasoningTokens: 0,
        source: "reported"
      })
      const team = yield* Effect.flatMap(SpendLedger.SpendLedger, (l) => l.status("team"))
      assert.deepStrictEqual([team.spent, team.reserved, team.calls], [cost, 0, 1])
      assert.strictEqual(entry.attempts[1]!.charged, cost)
    }).pipe(Effect.provide(routed({ seed: 1, billedLog: log, models: { b: { failures: { serverError: 1 } } } }, {
      router: { catalog }
    })))
  })

  it.effect("a fallback target that is over budget or too small is passed over with its reason", () =>
    Effect.gen(function*() {
      // About 10,000 input tokens: too many for small's 8,000-token window.
      const prompt = "the quarterly figures for every region ".repeat(1_100)
      const failed = yield* Effect.either(
        LanguageModel.generateText({ prompt }).pipe(RoutedLanguageModel.withRequest({ scopes: ["medium"] }))
      )
      assert.isTrue(Either.isLeft(failed))
      if (Either.isLeft(failed)) assert.strictEqual(failed.left._tag, "HttpResponseError")
      const entry = yield* latest
      assert.deepStrictEqual(entry.attempts.map((a) => [a.attempt, a.model, a.outcome]), [
        [1, "mid", "failed"],
        [2, undefined, "no-model"]
      ])
      assert.deepStrictEqual(reasonsIn(entry.attempts[0], "small"), ["context-too-small"])
      assert.deepStrictEqual(reasonsIn(entry.attempts[1], "small"), ["context-too-small"])
      assert.deepStrictEqual(reasonsIn(entry.attempts[1], "mid"), ["failed-this-call"])
      assert.deepStrictEqual(reasonsIn(entry.attempts[1], "big"), ["over-budget"])
      const medium = yield* Effect.flatMap(SpendLedger.SpendLedger, (l) => l.status("medium"))
      assert.deepStrictEqual([medium.spent, medium.reserved], [0, 0])
    }).pipe(Effect.provide(routed({ seed: 1, models: { mid: { failures: { serverError: 1 } } } }))))

  it.effect("a cooldown holds on fallback attempts; Retry-After is honoured", () =>
    Effect.gen(function*() {
      const call = LanguageModel.generateText({ prompt: "Write the migration" }).pipe(tools)
      // b fails (500), c answers 429 with Retry-After: 30 s, d answers.
      yield* call
      assert.deepStrictEqual((yield* latest).attempts.map((a) => [a.model, a.outcome, a.retryAfterMillis]), [
        ["b", "failed", undefined],
        ["c", "failed", 30_000],
        ["d", "succeeded", undefined]
      ])
      // b has failed once (3 make a cooldown): it is tried first again; its
      // fallback passes c over, still cooling down from its Retry-After.
      yield* call
      const second = yield* latest
      assert.deepStrictEqual(second.attempts.map((a) => [a.model, a.outcome]), [["b", "failed"], ["d", "succeeded"]])
      assert.deepStrictEqual(reasonsIn(second.attempts[1], "c"), ["cooling-down"])
      assert.deepStrictEqual(reasonsIn(second.attempts[1], "b"), ["failed-this-call"])
      // A third failure in a row: b cools down for a minute.
      yield* call
      yield* call
      const fourth = yield* latest
      assert.deepStrictEqual(fourth.attempts.map((a) => a.model), ["d"])
      assert.deepStrictEqual(reasonsIn(fourth.attempts[0], "b"), ["cooling-down"])
      assert.deepStrictEqual(reasonsIn(fourth.attempts[0], "c"), ["cooling-down"])
      // 31 s on, c's Retry-After has passed (b still cools down).
      yield* TestClock.adjust("31 seconds")
      yield* call
      assert.deepStrictEqual((yield* latest).attempts.map((a) => a.model), ["c", "d"])
    }).pipe(Effect.provide(routed({
      seed: 1,
      models: { b: { failures: { serverError: 1 } }, c: { failures: { rateLimited: 1 }, retryAfterSeconds: 30 } }
    }, { router: { catalog } }))))

  it.effect("requests- and tokens-per-minute limits pass a model over before the call is sent", () =>
    Effect.gen(function*() {
      const call = LanguageModel.generateText({ prompt: "Hello" }).pipe(tools)
      yield* call
      yield* call
      yield* call
      const entries = yield* Effect.flatMap(DecisionLog.DecisionLog, (log) => log.recent())
      assert.deepStrictEqual(entries.map((e) => e.attempts[0]!.model), ["c", "b", "b"])
      assert.deepStrictEqual(reasonsIn(entries[0]!.attempts[0], "b"), ["rate-limited"])
      yield* TestClock.adjust("61 seconds")
      yield* call
      assert.strictEqual((yield* latest).attempts[0]!.model, "b")
      // Provider pc allows 100 tokens a minute: a call of 50 output tokens and its input fits once.
      const big = LanguageModel.generateText({ prompt: "Hello" }).pipe(
        RoutedLanguageModel.withRequest({
          requires: ["tools"],
          outputTokens: 50,
          strategy: { _tag: "preference", models: ["c", "d"] }
        })
      )
      yield* big
      yield* big
      const two = yield* Effect.flatMap(DecisionLog.DecisionLog, (log) => log.recent({ limit: 2 }))
      assert.deepStrictEqual(two.map((e) => e.attempts[0]!.model), ["d", "c"])
      assert.deepStrictEqual(reasonsIn(two[0]!.attempts[0], "c"), ["rate-limited"])
    }).pipe(Effect.provide(routed({ seed: 1 }, {
      router: { catalog },
      routed: { limits: { models: { b: { requestsPerMinute: 2 } }, providers: { pc: { tokensPerMinute: 100 } } } }
    }))))

  it.effect("the decision log is queryable by model and outcome", () =>
    Effect.gen(function*() {
      yield* LanguageModel.generateText({ prompt: "One" }).pipe(tools)
      yield* Effect.either(
        LanguageModel.generateText({ prompt: "Two" }).pipe(
          RoutedLanguageModel.withRequest({ requires: ["vision"], maxCost: 1 })
        )
      )
      const log = yield* DecisionLog.DecisionLog
      assert.strictEqual((yield* log.recent()).length, 2)
      assert.strictEqual((yield* log.recent({ outcome: "failed" })).length, 1)
      assert.strictEqual((yield* log.recent({ model: "mid" })).length, 1)
      assert.strictEqual((yield* log.recent({ limit: 1 }))[0]!.attempts[0]!.outcome, "no-model")
    }).pipe(Effect.provide(routed({ seed: 1 }))))

  it.effect("streamText falls back when the chosen model fails before delivering anything", () =>
    Effect.gen(function*() {
      const parts = Chunk.toReadonlyArray(
        yield* Stream.runCollect(
          LanguageModel.streamText({ prompt: "Stream it" }).pipe(
            RoutedLanguageModel.withRequestStream({ requires: ["tools"], outputTokens: 50 })
          )
        )
      )
      assert.strictEqual(parts.at(-1)?.type, "finish")
      const entry = yield* latest
      assert.strictEqual(entry.method, "streamText")
      assert.deepStrictEqual(entry.attempts.map((a) => [a.model, a.outcome]), [["b", "failed"], ["c", "succeeded"]])
      const team = yield* Effect.flatMap(SpendLedger.SpendLedger, (l) => l.status("team"))
      assert.deepStrictEqual([team.spent, team.reserved, team.calls], [entry.attempts[1]!.charged, 0, 1])
    }).pipe(Effect.provide(routed({ seed: 1, models: { b: { failures: { serverError: 1 } } } }, {
      router: { catalog }
    }))))
})

describe("streamText with a toolkit", () => {
  const Now = Tool.make("Now", { success: Schema.String })
  const Tools = Toolkit.make(Now)
  const handlers = Tools.toLayer({ Now: () => Effect.succeed("noon") })

  it.effect("requires the tools capability, as generateText does: the model without tools is passed over", () =>
    Effect.gen(function*() {
      yield* Stream.runDrain(LanguageModel.streamText({ prompt: "What time is it?", toolkit: Tools }))
      const entry = yield* latest
      assert.strictEqual(entry.attempts[0]!.model, "b")
      assert.deepStrictEqual(reasonsIn(entry.attempts[0], "a"), ["missing-capability"])
    }).pipe(Effect.provide(handlers), Effect.provide(routed({ seed: 1 }, { router: { catalog } }))))
})

describe("a call interrupted while its fallback is routed", () => {
  // A router whose second route of a call takes a moment.
  const slowFallbackRoute = Layer.effect(
    Router.Router,
    Effect.map(Router.Router, (router): Router.RouterService => {
      let routes = 0
      return {
        ...router,
        route: (request, options) =>
          ++routes === 2
            ? Effect.zipRight(Effect.sleep("1 second"), router.route(request, options))
            : router.route(request, options)
      }
    })
  )
  const layer = () => {
    const ledger = SpendLedger.layerMemory({ budgets, sweepInterval: 0 })
    const router = slowFallbackRoute.pipe(Layer.provide(Router.layer({ catalog })), Layer.provideMerge(ledger))
    return RoutedLanguageModel.layer({ scopes: ["team"] }).pipe(
      Layer.provideMerge(
        Layer.merge(router, SimulatedProvider.layer({ seed: 1, models: { b: { failures: { serverError: 1 } } } }))
      )
    )
  }

  it.effect("is still in the decision log, with the attempt that failed", () =>
    Effect.gen(function*() {
      const fiber = yield* Effect.fork(LanguageModel.generateText({ prompt: "Plan the rollout" }).pipe(tools))
      yield* TestClock.adjust("100 millis")
      yield* Fiber.interrupt(fiber)
      const entries = yield* Effect.flatMap(DecisionLog.DecisionLog, (log) => log.recent())
      assert.strictEqual(entries.length, 1)
      assert.strictEqual(entries[0]!.outcome, "interrupted")
      assert.deepStrictEqual(entries[0]!.attempts.map((a) => [a.model, a.outcome]), [
        ["b", "failed"],
        [undefined, "interrupted"]
      ])
    }).pipe(Effect.provide(layer())))
})

describe("timeout", () => {
  const slowB = () =>
    routed({ seed: 1, models: { b: { timeToFirstTokenMillis: 10_000 } } }, {
      router: { catalog },
      routed: { timeout: "1 second" }
    })

  it.effect("an attempt that does not answer in time falls back; it was sent, so it is charged its reservation", () =>
    Effect.gen(function*() {
      const fiber = yield* Effect.fork(LanguageModel.generateText({ prompt: "Plan the rollout" }).pipe(tools))
      yield* TestClock.adjust("1 second")
      const response = yield* Fiber.join(fiber)
      assert.isAbove(response.text.length, 0)
      const entry = yield* latest
      assert.deepStrictEqual(entry.attempts.map((a) => [a.model, a.outcome, a.retryable]), [
        ["b", "failed", true],
        ["c", "succeeded", undefined]
      ])
      assert.strictEqual(entry.attempts[0]!.charged, entry.attempts[0]!.reserved)
      const team = yield* Effect.flatMap(SpendLedger.SpendLedger, (l) => l.status("team"))
      assert.deepStrictEqual([team.reserved, team.spent], [
        0,
        entry.attempts[0]!.charged! + entry.attempts[1]!.charged!
      ])
    }).pipe(Effect.provide(slowB())))

  it.effect("a stream that sends nothing in time falls back", () =>
    Effect.gen(function*() {
      const fiber = yield* Effect.fork(Stream.runCollect(
        LanguageModel.streamText({ prompt: "Stream it" }).pipe(
          RoutedLanguageModel.withRequestStream({ requires: ["tools"], outputTokens: 50 })
        )
      ))
      yield* TestClock.adjust("1 second")
      const parts = Chunk.toReadonlyArray(yield* Fiber.join(fiber))
      assert.strictEqual(parts.at(-1)?.type, "finish")
      const entry = yield* latest
      assert.deepStrictEqual(entry.attempts.map((a) => [a.model, a.outcome, a.retryable]), [
        ["b", "failed", true],
        ["c", "succeeded", undefined]
      ])
      const team = yield* Effect.flatMap(SpendLedger.SpendLedger, (l) => l.status("team"))
      assert.strictEqual(team.reserved, 0)
    }).pipe(Effect.provide(slowB())))

  it.effect("a timeout that is not a positive, finite duration is InvalidOptions", () =>
    Effect.gen(function*() {
      for (const timeout of ["0 millis", "Infinity", "nonsense"]) {
        const bad = yield* Effect.either(Effect.provide(
          Effect.void,
          routed({}, { routed: { timeout: timeout as "0 millis" } })
        ))
        assert.isTrue(Either.isLeft(bad) && (bad.left as { _tag: string })._tag === "InvalidOptions", timeout)
      }
    }))
})
