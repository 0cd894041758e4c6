// 1,000 concurrent routed calls, then 1,000 concurrent routed streams, with
// injected failures (429, 500, timeouts), a third of them interrupted
// midway (and a fifth of the streams stopped early by their consumer):
// every completed call is charged exactly what the simulated provider
// billed, every interrupted one between what it billed and what it
// reserved, and the ledger's spend is the sum of the settlements. Real time (short), so interruptions land
// midway through calls.
import * as Pricing from "@agentos/core/Pricing"
import * as LanguageModel from "@effect/ai/LanguageModel"
import { assert, describe, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Stream from "effect/Stream"
import * as DecisionLog from "../src/DecisionLog.js"
import * as RoutedLanguageModel from "../src/RoutedLanguageModel.js"
import * as SimulatedProvider from "../src/SimulatedProvider.js"
import * as SpendLedger from "../src/SpendLedger.js"
import { catalog, routed, tempLog } from "./fixtures.js"

const CALLS = 1_000

const flaky = {
  failures: { rateLimited: 0.1, serverError: 0.1, timeout: 0.05 },
  retryAfterSeconds: 0,
  timeoutMillis: 3,
  timeToFirstTokenMillis: 1,
  outputTokensPerSecond: 20_000,
  outputTokens: { min: 20, max: 200 }
}

const price = (name: string) => catalog.models.find((m) => m.name === name)!.pricing
const costOf = (bill: SimulatedProvider.BilledCall) =>
  Pricing.cost(price(bill.model), {
    inputTokens: bill.inputTokens,
    outputTokens: bill.outputTokens,
    cachedInputTokens: 0,
    reasoningTokens: 0,
    source: "reported"
  })

describe("1,000 concurrent calls with injected failures", () => {
  it.live(
    "spend equals the billed log for completed calls, and lies between billed and reserved for interrupted ones",
    () => {
      const log = tempLog()
      return Effect.gen(function*() {
        const outcomes = yield* Effect.forEach(
          Array.from({ length: CALLS }, (_, i) => i),
          (i) => {
            const call = LanguageModel.generateText({ prompt: `Request ${i}: summarise ticket ${i * 7}` }).pipe(
              RoutedLanguageModel.withRequest({
                outputTokens: 120,
                ...(i % 4 === 0 ? { requires: ["tools"] as const } : {})
              })
            )
            // A third are interrupted a few milliseconds in.
            return Effect.either(
              i % 3 === 0 ? Effect.asVoid(Effect.timeoutOption(call, `${1 + (i % 5)} millis`)) : Effect.asVoid(call)
            )
          },
          { concurrency: "unbounded" }
        )
        assert.strictEqual(outcomes.length, CALLS)
        const entries = yield* Effect.flatMap(DecisionLog.DecisionLog, (l) => l.recent({ limit: CALLS }))
        assert.strictEqual(entries.length, CALLS)
        const billed = new Map(
          (yield* SimulatedProvider.readBilledLog(log)).flatMap((b) =>
            b.reservation === undefined ? [] : [[b.reservation, b]]
          )
        )
        let charged = 0
        const seen = { succeeded: 0, interrupted: 0, failed: 0 }
        for (const entry of entries) {
          for (const attempt of entry.attempts) {
            if (attempt.reservation === undefined) continue
            const bill = billed.get(attempt.reservation)
            assert.isDefined(bill, `no billed line for ${attempt.reservation}`)
            const cost = costOf(bill!)
            if (attempt.outcome === "succeeded") {
              seen.succeeded++
              assert.strictEqual(bill!.status, "completed")
              assert.strictEqual(attempt.charged, cost)
            } else if (attempt.outcome === "interrupted") {
              seen.interrupted++
              // The provider may have finished (and billed) just before the interruption landed.
              assert.isAtLeast(attempt.charged!, cost)
              assert.isAtMost(attempt.charged!, attempt.reserved)
            } else {
              seen.failed++
              assert.strictEqual(bill!.status, "failed")
              assert.strictEqual(cost, 0)
              assert.isUndefined(attempt.charged)
            }
            charged += attempt.charged ?? 0
          }
        }
        // Every kind happened, and the ledger holds exactly the settlements.
        assert.isAbove(seen.succeeded, 0)
        assert.isAbove(seen.interrupted, 0)
        assert.isAbove(seen.failed, 0)
        const team = yield* Effect.flatMap(SpendLedger.SpendLedger, (l) => l.status("team"))
        assert.strictEqual(team.reserved, 0)
        assert.strictEqual(team.spent, charged)
      }).pipe(Effect.provide(routed({ seed: 13, billedLog: log, defaults: flaky }, {
        routed: { cooldown: { failures: 1_000_000 } }
      })))
    },
    120_000
  )
})

describe("1,000 concurrent streams with injected failures", () => {
  it.live(
    "every completed stream is charged exactly what was billed; every interrupted or stopped one between billed and reserved",
    () => {
      const log = tempLog()
      return Effect.gen(function*() {
        const outcomes = yield* Effect.forEach(
          Array.from({ length: CALLS }, (_, i) => i),
          (i) => {
            const stream = LanguageModel.streamText({ prompt: `Stream ${i}: report on ticket ${i * 7}` }).pipe(
              RoutedLanguageModel.withRequestStream({
                outputTokens: 120,
                ...(i % 4 === 0 ? { requires: ["tools"] as const } : {})
              })
            )
            // A third are interrupted a few milliseconds in; a fifth are stopped
            // by their consumer after a few parts; the rest run to their end.
            return Effect.either(
              i % 3 === 0
                ? Effect.asVoid(Effect.timeoutOption(Stream.runDrain(stream), `${1 + (i % 5)} millis`))
                : i % 5 === 1
                ? Stream.runDrain(Stream.take(stream, 2 + (i % 4)))
                : Stream.runDrain(stream)
            )
          },
          { concurrency: "unbounded" }
        )
        assert.strictEqual(outcomes.length, CALLS)
        const entries = yield* Effect.flatMap(DecisionLog.DecisionLog, (l) => l.recent({ limit: CALLS }))
        assert.strictEqual(entries.length, CALLS)
        const billed = new Map(
          (yield* SimulatedProvider.readBilledLog(log)).flatMap((b) =>
            b.reservation === undefined ? [] : [[b.reservation, b]]
          )
        )
        let charged = 0
        const seen = { succeeded: 0, interrupted: 0, failed: 0 }
        for (const entry of entries) {
          assert.strictEqual(entry.method, "streamText")
          for (const attempt of entry.attempts) {
            if (attempt.reservation === undefined) continue
            const bill = billed.get(attempt.reservation)
            if (attempt.outcome === "succeeded") {
              seen.succeeded++
              assert.isDefined(bill, `no billed line for ${attempt.reservation}`)
              assert.strictEqual(bill!.status, "completed")
              assert.strictEqual(attempt.charged, costOf(bill!))
            } else if (attempt.outcome === "interrupted") {
              seen.interrupted++
              // No line: stopped before the provider's stream began, which billed nothing.
              const cost = bill === undefined ? 0 : costOf(bill)
              assert.isAtLeast(attempt.charged ?? 0, cost)
              assert.isAtMost(attempt.charged ?? 0, attempt.reserved)
            } else {
              seen.failed++
              assert.isDefined(bill, `no billed line for ${attempt.reservation}`)
              assert.strictEqual(bill!.status, "failed")
              assert.strictEqual(costOf(bill!), 0)
              assert.isUndefined(attempt.charged)
            }
            charged += attempt.charged ?? 0
          }
        }
        assert.isAbove(seen.succeeded, 0)
        assert.isAbove(seen.interrupted, 0)
        assert.isAbove(seen.failed, 0)
        const team = yield* Effect.flatMap(SpendLedger.SpendLedger, (l) => l.status("team"))
        assert.strictEqual(team.reserved, 0)
        assert.strictEqual(team.spent, charged)
      }).pipe(Effect.provide(routed({ seed: 17, billedLog: log, defaults: flaky }, {
        routed: { cooldown: { failures: 1_000_000 } }
      })))
    },
    120_000
  )
})
