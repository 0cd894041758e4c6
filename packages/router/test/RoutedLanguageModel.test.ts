// The routed LanguageModel over the simulated provider: each call routed,
// reserved and settled from the provider's usage, checked against the
// provider's billed log.
import * as LanguageModel from "@effect/ai/LanguageModel"
import * as NodeFileSystem from "@effect/platform-node/NodeFileSystem"
import * as FileSystem from "@effect/platform/FileSystem"
import { assert, describe, it } from "@effect/vitest"
import * as Chunk from "effect/Chunk"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Fiber from "effect/Fiber"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Schema from "effect/Schema"
import * as Stream from "effect/Stream"
import * as TestClock from "effect/TestClock"
import * as DecisionLog from "../src/DecisionLog.js"
import * as RoutedLanguageModel from "../src/RoutedLanguageModel.js"
import * as SimulatedProvider from "../src/SimulatedProvider.js"
import * as SpendLedger from "../src/SpendLedger.js"
import { costOf, routed, tempLog } from "./fixtures.js"

const spentOf = (scope: string) => Effect.flatMap(SpendLedger.SpendLedger, (l) => l.status(scope))

describe("RoutedLanguageModel", () => {
  it.effect("generateText: routed to the cheapest model, charged exactly what the provider billed", () => {
    const log = tempLog()
    return Effect.gen(function*() {
      const response = yield* LanguageModel.generateText({ prompt: "Summarise the quarterly revenue report" })
      assert.isAbove(response.text.length, 0)
      assert.strictEqual(response.finishReason, "stop")
      const [billed] = yield* SimulatedProvider.readBilledLog(log)
      assert.strictEqual(billed!.model, "small")
      assert.strictEqual(billed!.status, "completed")
      assert.strictEqual(billed!.outputTokens, response.usage.outputTokens)
      const team = yield* spentOf("team")
      assert.strictEqual(team.spent, costOf(billed!))
      assert.deepStrictEqual([team.reserved, team.calls], [0, 1])
      assert.isString(billed!.reservation)
    }).pipe(Effect.provide(routed({ seed: 7, billedLog: log })))
  })

  it.effect("the same seed and prompt give the same answer", () =>
    Effect.gen(function*() {
      const a = yield* LanguageModel.generateText({ prompt: "Explain caching" }).pipe(
        Effect.provide(routed({ seed: 3 }))
      )
      const b = yield* LanguageModel.generateText({ prompt: "Explain caching" }).pipe(
        Effect.provide(routed({ seed: 3 }))
      )
      const c = yield* LanguageModel.generateText({ prompt: "Explain caching" }).pipe(
        Effect.provide(routed({ seed: 4 }))
      )
      assert.strictEqual(a.text, b.text)
      assert.notStrictEqual(a.text, c.text)
    }))

  it.effect("hints route the call: a tools request skips the model without tools; the cap is sent as max_tokens", () => {
    const log = tempLog()
    return Effect.gen(function*() {
      const response = yield* LanguageModel.generateText({ prompt: "Plan the migration" }).pipe(
        RoutedLanguageModel.withRequest({ requires: ["tools"], outputTokens: 40 })
      )
      const [billed] = yield* SimulatedProvider.readBilledLog(log)
      assert.strictEqual(billed!.model, "mid")
      // Asked for 100–200 tokens, capped at 40: the provider stops at the cap.
      assert.strictEqual(billed!.outputTokens, 40)
      assert.strictEqual(response.finishReason, "length")
    }).pipe(Effect.provide(routed({ seed: 1, billedLog: log, defaults: { outputTokens: { min: 100, max: 200 } } })))
  })

  it.effect("generateObject: the json capability is required and the object decodes", () =>
    Effect.gen(function*() {
      const Ticket = Schema.Struct({ title: Schema.String, priority: Schema.Literal("low", "high") })
      const response = yield* LanguageModel.generateObject({ prompt: "File a ticket", schema: Ticket })
      assert.isTrue(Schema.is(Ticket)(response.value))
      const team = yield* spentOf("team")
      assert.strictEqual(team.calls, 1)
      assert.isAbove(team.spent, 0)
    }).pipe(Effect.provide(routed({ seed: 2 }))))

  it.effect("streamText: settled at the finish part's usage, equal to the billed log", () => {
    const log = tempLog()
    return Effect.gen(function*() {
      const parts = Chunk.toReadonlyArray(
        yield* Stream.runCollect(LanguageModel.streamText({ prompt: "Write a status update about the rollout" }))
      )
      const text = parts.flatMap((p) => p.type === "text-delta" ? [p.delta] : []).join("")
      assert.isAbove(text.length, 0)
      assert.strictEqual(parts.at(-1)?.type, "finish")
      const [billed] = yield* SimulatedProvider.readBilledLog(log)
      assert.strictEqual(billed!.status, "completed")
      const team = yield* spentOf("team")
      assert.strictEqual(team.spent, costOf(billed!))
      assert.strictEqual(team.reserved, 0)
    }).pipe(Effect.provide(routed({ seed: 5, billedLog: log })))
  })

  it.effect("a response without a finish part is counted and marked estimated", () =>
    Effect.gen(function*() {
      yield* LanguageModel.generateText({ prompt: "Say hello" })
      yield* Stream.runDrain(LanguageModel.streamText({ prompt: "Say hello again" }))
      const ledger = yield* SpendLedger.SpendLedger
      const report = yield* ledger.report()
      const team = report.scopes.find((s) => s.scope === "team")!
      assert.strictEqual(team.calls, 2)
      assert.strictEqual(team.byModel[0]?.estimatedCalls, 2)
      assert.isAbove(team.spent, 0)
    }).pipe(Effect.provide(routed({ seed: 9, defaults: { reportUsage: false } }))))

  it.effect("a stream its consumer stops early is charged its reservation; the provider billed less", () => {
    const log = tempLog()
    return Effect.gen(function*() {
      const parts = yield* Stream.runCollect(
        Stream.take(LanguageModel.streamText({ prompt: "List every step of the deployment" }), 3)
      )
      assert.strictEqual(Chunk.size(parts), 3)
      const [billed] = yield* SimulatedProvider.readBilledLog(log)
      assert.strictEqual(billed!.status, "interrupted")
      const team = yield* spentOf("team")
      assert.strictEqual(team.reserved, 0)
      assert.isAtLeast(team.spent, costOf(billed!))
      const report = yield* Effect.flatMap(SpendLedger.SpendLedger, (l) => l.report())
      assert.strictEqual(report.scopes.find((s) => s.scope === "team")!.byModel[0]?.estimatedCalls, 1)
    }).pipe(Effect.provide(routed({ seed: 5, billedLog: log, defaults: { outputTokens: { min: 200, max: 200 } } })))
  })

  it.effect("an interrupted call is charged its reservation; the provider billed what it wrote", () => {
    const log = tempLog()
    return Effect.gen(function*() {
      const fiber = yield* Effect.fork(
        LanguageModel.generateText({ prompt: "Draft the incident report" }).pipe(
          RoutedLanguageModel.withRequest({ outputTokens: 300 })
        )
      )
      // 200 ms to the first token, then 100 tokens/s: 1 s later, 80 tokens are written.
      yield* TestClock.adjust("1 second")
      yield* Fiber.interrupt(fiber)
      const [billed] = yield* SimulatedProvider.readBilledLog(log)
      assert.deepStrictEqual([billed!.status, billed!.outputTokens], ["interrupted", 80])
      const team = yield* spentOf("team")
      assert.strictEqual(team.reserved, 0)
      assert.isAbove(team.spent, costOf(billed!))
    }).pipe(Effect.provide(routed({
      seed: 5,
      billedLog: log,
      timing: "catalog",
      defaults: { outputTokens: { min: 300, max: 300 } }
    })))
  })

  it.effect("a failed call is cancelled: nothing charged, the provider's error reaches the caller", () =>
    Effect.gen(function*() {
      const failed = yield* Effect.either(LanguageModel.generateText({ prompt: "Anything" }))
      assert.isTrue(Either.isLeft(failed))
      if (Either.isLeft(failed)) {
        assert.strictEqual(failed.left._tag, "HttpResponseError")
        if (failed.left._tag === "HttpResponseError") assert.strictEqual(failed.left.response.status, 500)
      }
      const team = yield* spentOf("team")
      assert.deepStrictEqual([team.spent, team.reserved, team.calls], [0, 0, 0])
    }).pipe(Effect.provide(routed({ seed: 1, defaults: { failures: { serverError: 1 } } }))))

  it.effect("no model can take the request: NoEligibleModel behind the AiError, nothing reserved", () =>
    Effect.gen(function*() {
      const failed = yield* Effect.either(
        LanguageModel.generateText({ prompt: "Anything" }).pipe(
          RoutedLanguageModel.withRequest({ requires: ["vision"], maxCost: 1 })
        )
      )
      assert.isTrue(Either.isLeft(failed))
      if (Either.isLeft(failed)) {
        const cause = RoutedLanguageModel.routerError(failed.left)
        assert.isTrue(Option.isSome(cause) && cause.value._tag === "NoEligibleModel")
      }
      assert.strictEqual((yield* spentOf("team")).reserved, 0)
    }).pipe(Effect.provide(routed({ seed: 1 }))))

  it.effect("bad options are InvalidOptions when the layer is built", () =>
    Effect.gen(function*() {
      const bad = yield* Effect.either(Effect.provide(Effect.void, routed({ defaults: { failures: { timeout: 2 } } })))
      assert.isTrue(Either.isLeft(bad) && (bad.left as { _tag: string })._tag === "InvalidOptions")
      const noScope = yield* Effect.either(Effect.provide(Effect.void, routed({}, { routed: { scopes: [] } })))
      assert.isTrue(Either.isLeft(noScope) && (noScope.left as { _tag: string })._tag === "InvalidOptions")
    }))
})

describe("SimulatedProvider: billed log", () => {
  it.effect("a stream its consumer fails midway bills its input and the output delivered", () => {
    const log = tempLog()
    return Effect.gen(function*() {
      const failed = yield* Effect.either(Stream.runDrain(
        LanguageModel.streamText({ prompt: "List every step of the deployment" }).pipe(
          Stream.mapEffect((part) =>
            part.type === "text-delta" ? Effect.fail("consumer gave up") : Effect.succeed(part)
          )
        )
      ))
      assert.isTrue(Either.isLeft(failed))
      const [billed] = yield* SimulatedProvider.readBilledLog(log)
      // The request was answered: its input is billed, with the first delta's eight tokens.
      assert.deepStrictEqual([billed!.status, billed!.outputTokens], ["interrupted", 8])
      assert.isAbove(billed!.inputTokens, 0)
      const team = yield* spentOf("team")
      assert.strictEqual(team.reserved, 0)
    }).pipe(Effect.provide(routed({ seed: 5, billedLog: log, defaults: { outputTokens: { min: 200, max: 200 } } })))
  })
})

describe("SimulatedProvider: output cap", () => {
  it.effect("generateObject stops at the call's output cap, as a provider stops at max_tokens", () => {
    const log = tempLog()
    return Effect.gen(function*() {
      const Ticket = Schema.Struct({ title: Schema.String, priority: Schema.Literal("low", "high") })
      const failed = yield* Effect.either(
        LanguageModel.generateObject({ prompt: "File a ticket", schema: Ticket }).pipe(
          RoutedLanguageModel.withRequest({ outputTokens: 3 })
        )
      )
      // Cut short at three tokens, the JSON does not decode.
      assert.isTrue(Either.isLeft(failed) && failed.left._tag === "MalformedOutput")
      const [billed] = yield* SimulatedProvider.readBilledLog(log)
      assert.strictEqual(billed!.status, "completed")
      assert.isAtMost(billed!.outputTokens, 3)
      const team = yield* spentOf("team")
      assert.strictEqual(team.reserved, 0)
      assert.isAtLeast(team.spent, costOf(billed!))
    }).pipe(Effect.provide(routed({ seed: 2, billedLog: log })))
  })
})

describe("SimulatedProvider: a stream interrupted while its completed line is written", () => {
  // Node's file system, with a sync that takes a second of the TestClock.
  let syncing = 0
  let synced = 0
  const slowSync = Layer.effect(
    FileSystem.FileSystem,
    Effect.map(FileSystem.FileSystem, (fs): FileSystem.FileSystem => ({
      ...fs,
      open: (path, options) =>
        Effect.map(fs.open(path, options), (file) => {
          const slow: FileSystem.File = Object.create(file)
          Object.defineProperty(slow, "sync", {
            value: Effect.sync(() => syncing++).pipe(
              Effect.zipRight(Effect.sleep("1 second")),
              Effect.zipRight(file.sync),
              Effect.tap(() => Effect.sync(() => synced++))
            )
          })
          return slow
        })
    }))
  ).pipe(Layer.provide(NodeFileSystem.layer))

  it.effect("the interruption waits until the line is on disk", () => {
    const log = tempLog()
    return Effect.gen(function*() {
      const fiber = yield* Effect.fork(Stream.runDrain(LanguageModel.streamText({ prompt: "Write the summary" })))
      // Instant timing: the stream writes its completed line and waits for the sync.
      while (syncing === 0) yield* Effect.yieldNow()
      const interrupting = yield* Effect.fork(
        Effect.zipRight(Fiber.interrupt(fiber), Effect.sync(() => synced))
      )
      yield* TestClock.adjust("1 second")
      // Whenever the interruption returned, the call's line was already synced.
      assert.strictEqual(yield* Fiber.join(interrupting), 1)
      const [billed] = yield* SimulatedProvider.readBilledLog(log)
      assert.strictEqual(billed!.status, "completed")
      const team = yield* spentOf("team")
      assert.strictEqual(team.reserved, 0)
      assert.isAtLeast(team.spent, costOf(billed!))
    }).pipe(Effect.provide(routed({ seed: 5, billedLog: log }, { fileSystem: slowSync })))
  })
})

describe("a prompt with an image", () => {
  it.effect("needs vision: the models without it are passed over", () =>
    Effect.gen(function*() {
      yield* LanguageModel.generateText({
        prompt: [{
          role: "user",
          content: [
            { type: "text", text: "What is in this picture?" },
            { type: "file", mediaType: "image/png", data: "data:image/png;base64,iVBORw0KGgo=" }
          ]
        }]
      })
      const entry = (yield* Effect.flatMap(DecisionLog.DecisionLog, (l) => l.recent({ limit: 1 })))[0]!
      assert.strictEqual(entry.attempts[0]!.model, "big")
      for (const name of ["small", "mid"]) {
        assert.include(entry.attempts[0]!.rejected.find((r) => r.model === name)?.reasons ?? [], "missing-capability")
      }
    }).pipe(Effect.provide(routed({ seed: 1 }))))
})

describe("a prompt with tool calls and results", () => {
  it.effect("counts them as input: a tool result too large for a model's context passes it over", () =>
    Effect.gen(function*() {
      // About 10,000 tokens of tool result: too many for small's 8,000-token window.
      const rows = Array.from({ length: 800 }, (_, i) => ({ region: `region-${i}`, revenue: i * 1_000 }))
      yield* LanguageModel.generateText({
        prompt: [
          { role: "user", content: "Summarise the revenue by region" },
          {
            role: "assistant",
            content: [{ type: "tool-call", id: "call-1", name: "Revenue", params: { by: "region" } }]
          },
          {
            role: "tool",
            content: [{
              type: "tool-result",
              id: "call-1",
              name: "Revenue",
              result: rows,
              isFailure: false,
              providerExecuted: false
            }]
          }
        ]
      })
      const entry = (yield* Effect.flatMap(DecisionLog.DecisionLog, (l) => l.recent({ limit: 1 })))[0]!
      assert.strictEqual(entry.attempts[0]!.model, "mid")
      assert.deepStrictEqual(entry.attempts[0]!.rejected.find((r) => r.model === "small")?.reasons, [
        "context-too-small"
      ])
    }).pipe(Effect.provide(routed({ seed: 1 }))))
})

describe("a stream interrupted at every point of its life", () => {
  // 200 ms to the first token, then 100 tokens/s in chunks of eight: parts
  // every 80 ms, the whole 40-token answer by 600 ms.
  const offsets = [0, 1, 100, 199, 200, 280, 281, 360, 440, 520, 599, 600, 601, 700]
  for (const at of offsets) {
    it.effect(`interrupted ${at} ms in: charged between what was billed and what was reserved`, () => {
      const log = tempLog()
      return Effect.gen(function*() {
        const fiber = yield* Effect.fork(
          Stream.runDrain(
            LanguageModel.streamText({ prompt: "Report the rollout" }).pipe(
              RoutedLanguageModel.withRequestStream({ outputTokens: 40 })
            )
          )
        )
        yield* TestClock.adjust(`${at} millis`)
        yield* Fiber.interrupt(fiber)
        const entry = (yield* Effect.flatMap(DecisionLog.DecisionLog, (l) => l.recent({ limit: 1 })))[0]!
        const attempt = entry.attempts[0]!
        const billed = yield* SimulatedProvider.readBilledLog(log)
        assert.isAtMost(billed.length, 1)
        const cost = billed.length === 0 ? 0 : costOf(billed[0]!)
        const team = yield* spentOf("team")
        assert.strictEqual(team.reserved, 0)
        assert.strictEqual(team.spent, attempt.charged ?? 0)
        if (attempt.outcome === "succeeded") {
          assert.strictEqual(billed[0]?.status, "completed")
          assert.strictEqual(team.spent, cost)
        } else {
          assert.strictEqual(attempt.outcome, "interrupted")
          assert.isAtLeast(team.spent, cost)
          assert.isAtMost(team.spent, attempt.reserved)
        }
      }).pipe(Effect.provide(routed({
        seed: 5,
        billedLog: log,
        timing: "catalog",
        defaults: { outputTokens: { min: 40, max: 40 } }
      })))
    })
  }
})

describe("SimulatedProvider: determinism", () => {
  it.live("the same seed gives the same answers, failures, fallbacks and billed tokens; another seed does not", () => {
    const run = (seed: number) => {
      const log = tempLog()
      return Effect.gen(function*() {
        const texts: Array<string> = []
        for (let i = 0; i < 40; i++) {
          const call = LanguageModel.generateText({ prompt: `Question ${i % 7}: the plan for step ${i % 5}` })
          const result = yield* Effect.either(call)
          texts.push(result._tag === "Right" ? result.right.text : result.left._tag)
          yield* Stream.runDrain(LanguageModel.streamText({ prompt: `Stream ${i % 3}` })).pipe(Effect.either)
        }
        const billed = (yield* SimulatedProvider.readBilledLog(log)).map((b) => [
          b.model,
          b.inputTokens,
          b.outputTokens,
          b.status
        ])
        const entries = (yield* Effect.flatMap(DecisionLog.DecisionLog, (l) => l.recent({ limit: 1_000 }))).map((e) =>
          e.attempts.map((a) => [a.model, a.outcome, a.charged])
        )
        return { texts, billed, entries }
      }).pipe(Effect.provide(routed({
        seed,
        billedLog: log,
        defaults: {
          failures: { rateLimited: 0.2, serverError: 0.2, timeout: 0.1 },
          retryAfterSeconds: 0,
          timeoutMillis: 0
        }
      })))
    }
    return Effect.gen(function*() {
      const [a, b, c] = [yield* run(11), yield* run(11), yield* run(12)]
      assert.deepStrictEqual(a, b)
      assert.notDeepEqual(a.billed, c.billed)
      // Failures happened, and fell back.
      assert.isTrue(a.billed.some((line) => line[3] === "failed"))
      assert.isTrue(a.entries.some((attempts) => attempts.length > 1))
    })
  })
})
