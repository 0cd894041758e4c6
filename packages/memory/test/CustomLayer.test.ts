// A user's own AgentMemory layer, run through the published conformance
// suite exactly as a user would: imported by package name, registered with
// @agentos/testkit's Conformance. The example layer wraps the memory layer
// and logs each call (at debug level) before passing it on.
import { AgentMemory } from "@agentos/memory"
import * as Testing from "@agentos/memory/Testing"
import { Conformance } from "@agentos/testkit"
import { assert, describe, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Logger from "effect/Logger"
import * as LogLevel from "effect/LogLevel"

const logging = (options: AgentMemory.Options): Layer.Layer<AgentMemory.AgentMemory, unknown> =>
  Layer.effect(
    AgentMemory.AgentMemory,
    Effect.map(AgentMemory.AgentMemory, (inner): AgentMemory.AgentMemoryService => {
      const logged = <A, E, R>(method: string, effect: Effect.Effect<A, E, R>) =>
        Effect.zipRight(Effect.logDebug(`AgentMemory.${method}`), effect)
      return {
        add: (input) => logged("add", inner.add(input)),
        addMany: (inputs) => logged("addMany", inner.addMany(inputs)),
        recall: (input) => logged("recall", inner.recall(input)),
        touch: (ids) => logged("touch", inner.touch(ids)),
        buildContext: (input) => logged("buildContext", inner.buildContext(input)),
        forget: (id) => logged("forget", inner.forget(id)),
        clear: (agent) => logged("clear", inner.clear(agent)),
        get: (id) => logged("get", inner.get(id)),
        history: (input) => logged("history", inner.history(input)),
        stats: () => logged("stats", inner.stats())
      }
    })
  ).pipe(Layer.provide(AgentMemory.layerMemory(options)))

Conformance.conformance("a custom AgentMemory layer (memory, logged)", {
  extra: { logging: Testing.harness(logging) }
}, Testing.suiteFor({ sharedStore: false }))

describe("the custom layer", () => {
  it.effect("logs each call before passing it on", () =>
    Effect.gen(function*() {
      const lines: Array<string> = []
      const capture = Logger.make(({ message }) => {
        lines.push(String(Array.isArray(message) ? message.join(" ") : message))
      })
      yield* Effect.gen(function*() {
        const memory = yield* AgentMemory.AgentMemory
        const { memory: m } = yield* memory.add({ text: "a fact", type: "fact" })
        yield* memory.get(m.id)
      }).pipe(
        Effect.provide(logging({})),
        Effect.provide(Logger.replace(Logger.defaultLogger, capture)),
        Logger.withMinimumLogLevel(LogLevel.Debug)
      )
      assert.deepStrictEqual(lines.filter((line) => line.startsWith("AgentMemory.")), [
        "AgentMemory.add",
        "AgentMemory.get"
      ])
    }))
})
