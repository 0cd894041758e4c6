// A user's own SpendLedger layer, run through the published conformance
// suite exactly as a user would: imported by package name, registered with
// @agentos/testkit's Conformance. The example layer wraps the memory layer
// and logs each reserve and settle (at debug level) before passing it on.
import { SpendLedger } from "@agentos/router"
import * as Testing from "@agentos/router/Testing"
import { Conformance } from "@agentos/testkit"
import { assert, describe, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Logger from "effect/Logger"
import * as LogLevel from "effect/LogLevel"

const logging = (options: SpendLedger.Options): Layer.Layer<SpendLedger.SpendLedger, unknown> =>
  Layer.effect(
    SpendLedger.SpendLedger,
    Effect.map(SpendLedger.SpendLedger, (inner): SpendLedger.SpendLedgerService => ({
      ...inner,
      reserve: (input) => Effect.zipRight(Effect.logDebug("SpendLedger.reserve"), inner.reserve(input)),
      settle: (id, actual) => Effect.zipRight(Effect.logDebug("SpendLedger.settle"), inner.settle(id, actual))
    }))
  ).pipe(Layer.provide(SpendLedger.layerMemory(options)))

Conformance.conformance("a custom SpendLedger layer (memory, logged)", {
  extra: { logging: Testing.harness(logging) }
}, Testing.suite)

describe("the custom layer", () => {
  it.effect("logs each reserve and settle before passing it on", () =>
    Effect.gen(function*() {
      const lines: Array<string> = []
      const capture = Logger.make(({ message }) => {
        lines.push(String(Array.isArray(message) ? message.join(" ") : message))
      })
      yield* Effect.gen(function*() {
        const ledger = yield* SpendLedger.SpendLedger
        const r = yield* ledger.reserve({
          scopes: ["global"],
          model: "m",
          amount: 10 as never,
          inputTokens: 1,
          maxOutputTokens: 1
        })
        yield* ledger.settle(r.id, { charged: 5 as never })
      }).pipe(
        Effect.provide(logging({ budgets: [{ scope: "global", limit: 100, period: { unit: "day" } }] })),
        Effect.provide(Logger.replace(Logger.defaultLogger, capture)),
        Logger.withMinimumLogLevel(LogLevel.Debug)
      )
      assert.deepStrictEqual(lines.filter((line) => line.startsWith("SpendLedger.")), [
        "SpendLedger.reserve",
        "SpendLedger.settle"
      ])
    }))
})
