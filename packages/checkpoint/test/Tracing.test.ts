// The spans of traced methods: the engine's methods and the store's
// methods off the hot path are spans named after them; save and
// acquireAndCreate are not (bench/spans.ts measures why).
import { assert, describe, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Tracer from "effect/Tracer"
import { expected, five, initial, probe } from "../src/Testing.js"
import * as WorkflowEngine from "../src/WorkflowEngine.js"

interface Recorded {
  readonly name: string
  readonly span: Tracer.Span
}

describe("traced methods", () => {
  it.effect("WorkflowEngine.<method> spans carry the run's workflow; the store's hot path makes none", () =>
    Effect.gen(function*() {
      const native = yield* Effect.tracer
      const recorded: Array<Recorded> = []
      const recording = Tracer.make({
        span: (name, ...rest) => {
          const span = native.span(name, ...rest)
          recorded.push({ name, span })
          return span
        },
        context: (f, fiber) => native.context(f, fiber)
      })
      yield* Effect.gen(function*() {
        const engine = yield* WorkflowEngine.WorkflowEngine
        assert.deepStrictEqual(yield* engine.execute(five(probe()), "wf-traced", initial), expected)
        yield* engine.status("wf-traced")
        yield* engine.list()
      }).pipe(Effect.withTracer(recording), Effect.provide(WorkflowEngine.layerMemory()))
      const names = recorded.map((r) => r.name)
      assert.deepStrictEqual(names, [
        "WorkflowEngine.execute",
        "WorkflowEngine.status",
        "CheckpointStore.load",
        "WorkflowEngine.list",
        "CheckpointStore.list"
      ])
      const execute = recorded[0]!.span
      assert.strictEqual(execute.attributes.get("workflowId"), "wf-traced")
      assert.strictEqual(execute.attributes.get("workflow"), "five")
      assert.strictEqual(execute.attributes.get("mode"), "execute")
      // The store's spans are children of the engine's.
      const load = recorded[2]!.span
      assert.strictEqual(load.parent._tag === "Some" ? load.parent.value.spanId : undefined, recorded[1]!.span.spanId)
    }))
})
