// A user's own DeadLetterQueue layer, run through the published conformance
// suite exactly as a user would: imported by package name, registered with
// @agentos/testkit's Conformance. The example layer wraps the memory layer
// and logs each call (at debug level) before passing it on.
import { DeadLetterQueue } from "@agentos/dlq"
import * as Testing from "@agentos/dlq/Testing"
import { Conformance } from "@agentos/testkit"
import { assert, describe, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Logger from "effect/Logger"
import * as LogLevel from "effect/LogLevel"

const logging = (options: DeadLetterQueue.Options): Layer.Layer<DeadLetterQueue.DeadLetterQueue, unknown> =>
  Layer.effect(
    DeadLetterQueue.DeadLetterQueue,
    Effect.map(DeadLetterQueue.DeadLetterQueue, (inner): DeadLetterQueue.DeadLetterQueueService => {
      const logged = <A, E, R>(method: string, effect: Effect.Effect<A, E, R>) =>
        Effect.zipRight(Effect.logDebug(`DeadLetterQueue.${method}`), effect)
      return {
        add: (input) => logged("add", inner.add(input)),
        get: (id) => logged("get", inner.get(id)),
        list: (filter) => logged("list", inner.list(filter)),
        replay: (id, handler, options) => logged("replay", inner.replay(id, handler, options)),
        replayMany: (filter, handler, options) => logged("replayMany", inner.replayMany(filter, handler, options)),
        resolve: (id, resolution) => logged("resolve", inner.resolve(id, resolution)),
        purge: (options) => logged("purge", inner.purge(options)),
        summary: () => logged("summary", inner.summary()),
        alerts: inner.alerts,
        subscribe: inner.subscribe
      }
    })
  ).pipe(Layer.provide(DeadLetterQueue.layerMemory(options)))

Conformance.conformance("a custom DeadLetterQueue layer (memory, logged)", {
  extra: { logging: Testing.harness(logging) }
}, Testing.suite)

describe("the custom layer", () => {
  it.effect("logs each call before passing it on", () =>
    Effect.gen(function*() {
      const lines: Array<string> = []
      const capture = Logger.make(({ message }) => {
        lines.push(String(Array.isArray(message) ? message.join(" ") : message))
      })
      yield* Effect.gen(function*() {
        const dlq = yield* DeadLetterQueue.DeadLetterQueue
        const { letter } = yield* dlq.add(Testing.input())
        yield* dlq.get(letter.id)
      }).pipe(
        Effect.provide(logging({})),
        Effect.provide(Logger.replace(Logger.defaultLogger, capture)),
        Logger.withMinimumLogLevel(LogLevel.Debug)
      )
      assert.deepStrictEqual(lines.filter((line) => line.startsWith("DeadLetterQueue.")), [
        "DeadLetterQueue.add",
        "DeadLetterQueue.get"
      ])
    }))
})
