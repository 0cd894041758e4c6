// The published engine suite (src/Testing.ts), once per backend; and the
// engine's options.
import { Conformance } from "@agentos/testkit"
import { assert, describe, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as CheckpointStore from "../src/CheckpointStore.js"
import * as Testing from "../src/Testing.js"
import * as WorkflowEngine from "../src/WorkflowEngine.js"
import { engines } from "./fixtures.js"

Conformance.conformance("WorkflowEngine", engines, Testing.engineSuite)

describe("WorkflowEngine options", () => {
  const refused = (options: WorkflowEngine.Options) =>
    Effect.flip(Layer.build(WorkflowEngine.layerMemory(options))).pipe(Effect.scoped)

  it.effect("a heartbeat at or past the lease's ttl, a ttl under 2 ms or an empty holder fail the layer with InvalidOptions", () =>
    Effect.gen(function*() {
      for (
        const [options, pattern] of [
          [{ leaseTtl: "1 second", heartbeat: "1 second" }, /heartbeat/],
          [{ leaseTtl: "1 second", heartbeat: "5 seconds" }, /heartbeat/],
          [{ leaseTtl: 0 }, /leaseTtl/],
          [{ leaseTtl: "forever" as never }, /leaseTtl/],
          [{ heartbeat: "soon" as never }, /heartbeat/],
          [{ holder: "" }, /holder/]
        ] as const
      ) {
        const error = yield* refused(options)
        assert.strictEqual(error._tag, "InvalidOptions")
        assert.match(error.message, pattern)
      }
    }))

  it.effect("valid options build the engine", () =>
    Effect.gen(function*() {
      const engine = yield* WorkflowEngine.WorkflowEngine
      assert.deepStrictEqual((yield* engine.list()).items, [])
    }).pipe(Effect.provide(WorkflowEngine.layerMemory({ leaseTtl: "1 second", heartbeat: "999 millis" }))))

  it.effect("make fails with InvalidOptions instead of throwing", () =>
    Effect.gen(function*() {
      const error = yield* Effect.flip(WorkflowEngine.make({ leaseTtl: 1 }))
      assert.strictEqual(error._tag, "InvalidOptions")
    }).pipe(Effect.provide(Testing.harness(CheckpointStore.layerMemory()))))
})
