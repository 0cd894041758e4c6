// A user's own SharedState layer, run through the published conformance
// suite exactly as a user would: imported by package name, registered with
// @agentos/testkit's Conformance. The example layer wraps the memory layer
// and logs each call (at debug level) before passing it on.
import { SharedState } from "@agentos/state"
import * as Testing from "@agentos/state/Testing"
import { Conformance } from "@agentos/testkit"
import { assert, describe, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Logger from "effect/Logger"
import * as LogLevel from "effect/LogLevel"
import * as Stream from "effect/Stream"

const logging = (options: SharedState.StoreOptions): Layer.Layer<SharedState.SharedState, unknown> =>
  Layer.effect(
    SharedState.SharedState,
    Effect.map(SharedState.SharedState, (inner): SharedState.SharedStateService => {
      const logged = <A, E, R>(method: string, effect: Effect.Effect<A, E, R>) =>
        Effect.zipRight(Effect.logDebug(`SharedState.${method}`), effect)
      return {
        get: (key) => logged("get", inner.get(key)),
        set: (key, value, setOptions) => logged("set", inner.set(key, value, setOptions)),
        update: (key, f, updateOptions) => logged("update", inner.update(key, f, updateOptions)),
        delete: (key, deleteOptions) => logged("delete", inner.delete(key, deleteOptions)),
        list: (prefix, listOptions) => logged("list", inner.list(prefix, listOptions)),
        history: (key) => logged("history", inner.history(key)),
        getAt: (key, version) => logged("getAt", inner.getAt(key, version)),
        changes: (keyOrPrefix) => Stream.unwrap(logged("changes", Effect.succeed(inner.changes(keyOrPrefix)))),
        withLock: (key, lockOptions) => logged("withLock", inner.withLock(key, lockOptions))
      }
    })
  ).pipe(Layer.provide(SharedState.layerMemory(options)))

Conformance.conformance("a custom SharedState layer (memory, logged)", {
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
        const state = yield* SharedState.SharedState
        yield* state.set("k", { n: 1 }, { agent: "a" })
        yield* state.get("k")
      }).pipe(
        Effect.provide(logging({})),
        Effect.provide(Logger.replace(Logger.defaultLogger, capture)),
        Logger.withMinimumLogLevel(LogLevel.Debug)
      )
      assert.deepStrictEqual(lines.filter((line) => line.startsWith("SharedState.")), [
        "SharedState.set",
        "SharedState.get"
      ])
    }))
})
