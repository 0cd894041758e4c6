// A user's own CheckpointStore layer, run through the published conformance
// suites exactly as a user would: imported by package name, registered with
// @agentos/testkit's Conformance. The example layer wraps the memory layer
// and logs each call (at debug level) before passing it on.
import { CheckpointStore, WorkflowEngine } from "@agentos/checkpoint"
import * as Testing from "@agentos/checkpoint/Testing"
import { Conformance } from "@agentos/testkit"
import { assert, describe, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Logger from "effect/Logger"
import * as LogLevel from "effect/LogLevel"

const logging: Layer.Layer<CheckpointStore.CheckpointStore> = Layer.effect(
  CheckpointStore.CheckpointStore,
  Effect.map(CheckpointStore.CheckpointStore, (inner): CheckpointStore.CheckpointStoreService => {
    const logged = <A, E, R>(method: string, effect: Effect.Effect<A, E, R>) =>
      Effect.zipRight(Effect.logDebug(`CheckpointStore.${method}`), effect)
    return {
      acquire: (workflowId, holder, ttlMillis) => logged("acquire", inner.acquire(workflowId, holder, ttlMillis)),
      acquireAndCreate: (workflowId, holder, ttlMillis, initial) =>
        logged("acquireAndCreate", inner.acquireAndCreate(workflowId, holder, ttlMillis, initial)),
      renew: (lease) => logged("renew", inner.renew(lease)),
      release: (lease) => logged("release", inner.release(lease)),
      requestCancel: (workflowId) => logged("requestCancel", inner.requestCancel(workflowId)),
      load: (workflowId) => logged("load", inner.load(workflowId)),
      save: (lease, checkpoint, options) => logged("save", inner.save(lease, checkpoint, options)),
      list: (query) => logged("list", inner.list(query)),
      prune: (options) => logged("prune", inner.prune(options))
    }
  })
).pipe(Layer.provide(CheckpointStore.layerMemory()))

Conformance.conformance("a custom CheckpointStore layer (memory, logged)", {
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
        const engine = yield* WorkflowEngine.WorkflowEngine
        yield* engine.execute(Testing.five(Testing.probe()), "wf", Testing.initial)
        yield* engine.status("wf")
      }).pipe(
        Effect.provide(Testing.harness(logging)),
        Effect.provide(Logger.replace(Logger.defaultLogger, capture)),
        Logger.withMinimumLogLevel(LogLevel.Debug)
      )
      assert.deepStrictEqual(lines.filter((line) => line.startsWith("CheckpointStore.")), [
        "CheckpointStore.acquireAndCreate",
        ...Testing.names.map(() => "CheckpointStore.save"),
        "CheckpointStore.load"
      ])
    }))
})
