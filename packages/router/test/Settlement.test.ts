// Settlement on the paths where a call fails or stops after the provider may
// have billed it, or before it was sent: the ledger never charges less than
// the provider's billed log, and never leaves a reservation open.
import * as LanguageModel from "@effect/ai/LanguageModel"
import type * as Prompt from "@effect/ai/Prompt"
import * as Telemetry from "@effect/ai/Telemetry"
import { assert, describe, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Fiber from "effect/Fiber"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as ParseResult from "effect/ParseResult"
import * as Schema from "effect/Schema"
import * as Stream from "effect/Stream"
import * as TestClock from "effect/TestClock"
import * as DecisionLog from "../src/DecisionLog.js"
import { StoreError } from "../src/Errors.js"
import * as RoutedLanguageModel from "../src/RoutedLanguageModel.js"
import * as Router from "../src/Router.js"
import * as SimulatedProvider from "../src/SimulatedProvider.js"
import * as SpendLedger from "../src/SpendLedger.js"
import { budgets, catalog, costOf, routed, tempLog } from "./fixtures.js"

const team = Effect.flatMap(SpendLedger.SpendLedger, (l) => l.status("team"))

// Encodes fine (the provider writes it) but never decodes: the answer is
// billed, then refused by `generateObject`.
const Refused = Schema.Struct({
  title: Schema.transformOrFail(Schema.String, Schema.String, {
    strict: true,
    decode: (s, _, ast) => ParseResult.fail(new ParseResult.Type(ast, s, "refused")),
    encode: ParseResult.succeed
  })
})

describe("settlement", () => {
  it.effect("an answer the provider billed but generateObject refuses is charged, not cancelled", () => {
    const log = tempLog()
    return Effect.gen(function*() {
      const failed = yield* Effect.either(LanguageModel.generateObject({ prompt: "File a ticket", schema: Refused }))
      assert.isTrue(Either.isLeft(failed) && failed.left._tag === "MalformedOutput")
      const [billed] = yield* SimulatedProvider.readBilledLog(log)
      assert.strictEqual(billed!.status, "completed")
      assert.isAbove(costOf(billed!), 0)
      const status = yield* team
      assert.strictEqual(status.reserved, 0)
      assert.isAtLeast(status.spent, costOf(billed!))
      assert.strictEqual(status.calls, 1)
    }).pipe(Effect.provide(routed({ seed: 2, billedLog: log })))
  })

  it.effect("an object that does not decode is charged what the provider reported, not its reservation", () => {
    const log = tempLog()
    let seen = 0
    return Effect.gen(function*() {
      const failed = yield* Effect.either(
        LanguageModel.generateObject({ prompt: "File a ticket", schema: Refused }).pipe(
          // The caller's own span transformer still sees the answer.
          Effect.provideService(Telemetry.CurrentSpanTransformer, (options) => {
            seen += options.response.length
          })
        )
      )
      assert.isTrue(Either.isLeft(failed) && failed.left._tag === "MalformedOutput")
      assert.isAbove(seen, 0)
      const [billed] = yield* SimulatedProvider.readBilledLog(log)
      const attempt = (yield* Effect.flatMap(DecisionLog.DecisionLog, (l) => l.recent({ limit: 1 })))[0]!.attempts[0]!
      assert.isBelow(costOf(billed!), attempt.reserved)
      assert.deepStrictEqual([attempt.outcome, attempt.charged, attempt.estimated], ["failed", costOf(billed!), false])
      const status = yield* team
      assert.deepStrictEqual([status.spent, status.reserved, status.calls], [costOf(billed!), 0, 1])
    }).pipe(Effect.provide(routed({ seed: 2, billedLog: log })))
  })

  // A router whose reserve takes a moment after the ledger has recorded it.
  const slowReserve = Layer.effect(
    Router.Router,
    Effect.map(Router.Router, (router): Router.RouterService => ({
      ...router,
      reserve: (decision, scopes) => Effect.zipLeft(router.reserve(decision, scopes), Effect.sleep("30 millis"))
    }))
  )
  const slow = () => {
    const ledger = SpendLedger.layerMemory({ budgets, sweepInterval: 0 })
    const router = slowReserve.pipe(Layer.provide(Router.layer({ catalog })), Layer.provideMerge(ledger))
    return RoutedLanguageModel.layer({ scopes: ["team"] }).pipe(
      Layer.provideMerge(Layer.merge(router, SimulatedProvider.layer({ seed: 3 })))
    )
  }
  const interruptedWhileReserving = (call: Effect.Effect<unknown, unknown, LanguageModel.LanguageModel>) =>
    Effect.gen(function*() {
      const fiber = yield* Effect.fork(call)
      yield* Effect.sleep("10 millis")
      yield* Fiber.interrupt(fiber)
      const status = yield* team
      assert.strictEqual(status.reserved, 0)
      // Nothing was sent: nothing is charged.
      assert.strictEqual(status.spent, 0)
    }).pipe(Effect.provide(slow()))

  it.live("a stream interrupted while its reservation is being made leaves no reservation open", () =>
    interruptedWhileReserving(Stream.runDrain(LanguageModel.streamText({ prompt: "Stream the notes" }))))

  it.live("a call interrupted before it is sent is cancelled, not charged its reservation", () =>
    interruptedWhileReserving(LanguageModel.generateText({ prompt: "Write the notes" })))

  // A ledger whose store fails the first settle and the first cancel it is asked for.
  const flakyLedger = () => {
    const failed = new Set<string>()
    const once = <A, E>(name: string, effect: Effect.Effect<A, E>) =>
      Effect.suspend((): Effect.Effect<A, E | StoreError> => {
        if (failed.has(name)) return effect
        failed.add(name)
        return Effect.fail(new StoreError({ operation: name, cause: new Error("connection reset") }))
      })
    return Layer.effect(
      SpendLedger.SpendLedger,
      Effect.map(SpendLedger.SpendLedger, (ledger): SpendLedger.SpendLedgerService => ({
        ...ledger,
        settle: (id, actual) => once("settle", ledger.settle(id, actual)),
        cancel: (id) => once("cancel", ledger.cancel(id))
      }))
    ).pipe(Layer.provideMerge(SpendLedger.layerMemory({ budgets, sweepInterval: 0 })))
  }

  it.live("a settlement the store fails once is retried: the answer is kept and charged what was billed", () => {
    const log = tempLog()
    return Effect.gen(function*() {
      const response = yield* LanguageModel.generateText({ prompt: "Summarise the incident" })
      assert.isAbove(response.text.length, 0)
      const [billed] = yield* SimulatedProvider.readBilledLog(log)
      const status = yield* team
      assert.deepStrictEqual([status.spent, status.reserved, status.calls], [costOf(billed!), 0, 1])
    }).pipe(Effect.provide(routed({ seed: 4, billedLog: log }, { ledger: flakyLedger() })))
  })

  it.live("a cancellation the store fails once is retried: a refused call leaves nothing reserved", () =>
    Effect.gen(function*() {
      const failed = yield* Effect.either(LanguageModel.generateText({ prompt: "Anything" }))
      assert.isTrue(Either.isLeft(failed))
      const status = yield* team
      assert.deepStrictEqual([status.spent, status.reserved], [0, 0])
    }).pipe(Effect.provide(routed({ seed: 1, defaults: { failures: { serverError: 1 } } }, { ledger: flakyLedger() }))))

  it.effect("a prompt that is not valid is InvalidInput behind the AiError, and nothing is reserved", () =>
    Effect.gen(function*() {
      const prompt = [{ role: "nobody", content: "Hello" }] as unknown as Prompt.RawInput
      const text = yield* Effect.either(Effect.asVoid(LanguageModel.generateText({ prompt })))
      const stream = yield* Effect.either(Stream.runDrain(LanguageModel.streamText({ prompt })))
      for (const failed of [text, stream]) {
        assert.isTrue(Either.isLeft(failed))
        if (Either.isLeft(failed)) {
          const cause = RoutedLanguageModel.routerError(failed.left)
          assert.isTrue(Option.isSome(cause) && cause.value._tag === "InvalidInput")
        }
      }
      const status = yield* team
      assert.deepStrictEqual([status.spent, status.reserved, status.calls], [0, 0, 0])
    }).pipe(Effect.provide(routed({ seed: 1 }))))

  it.effect("a call that outlives its reservation keeps its answer; the ledger charged the reservation", () =>
    Effect.gen(function*() {
      const fiber = yield* Effect.fork(
        LanguageModel.generateText({ prompt: "Draft the long report" }).pipe(
          RoutedLanguageModel.withRequest({ outputTokens: 300 })
        )
      )
      // 200 ms to the first token, then 300 tokens at 100/s: 3.2 s, past the 1 s reservation.
      yield* TestClock.adjust("4 seconds")
      const response = yield* Fiber.join(fiber)
      assert.isAbove(response.text.length, 0)
      const status = yield* team
      const entry = (yield* Effect.flatMap(DecisionLog.DecisionLog, (l) => l.recent({ limit: 1 })))[0]!
      assert.strictEqual(status.reserved, 0)
      assert.strictEqual(status.spent, entry.attempts[0]!.reserved)
      assert.match(entry.attempts[0]!.error ?? "", /expired/i)
    }).pipe(Effect.provide(routed({ seed: 5, timing: "catalog", defaults: { outputTokens: { min: 300, max: 300 } } }, {
      ledger: SpendLedger.layerMemory({ budgets, sweepInterval: 0, reservationTtl: "1 second" })
    }))))
})
