// The package's metrics count what add, superseding and eviction did.
import * as IdGenerator from "@agentos/core/IdGenerator"
import * as TokenCounter from "@agentos/core/TokenCounter"
import { assert, describe, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Metric from "effect/Metric"
import * as AgentMemory from "../src/AgentMemory.js"
import * as Metrics from "../src/internal/metrics.js"

const countsOf = (team: string) =>
  Effect.all({
    added: Effect.map(Metric.value(Metrics.added), (s) => s.count),
    merged: Effect.map(Metric.value(Metrics.merged), (s) => s.count),
    superseded: Effect.map(Metric.value(Metrics.superseded), (s) => s.count),
    evicted: Effect.map(Metric.value(Metrics.evicted), (s) => s.count),
    entries: Effect.map(Metric.value(Metric.tagged(Metrics.entries, "team", team)), (s) => s.value)
  })
const counts = countsOf("metrics")

describe("metrics", () => {
  it.effect("count adds by outcome, superseded and evicted memories, and the live entries", () =>
    Effect.gen(function*() {
      const m = yield* AgentMemory.AgentMemory
      const before = yield* counts
      yield* m.add({ text: "a", type: "fact", importance: 0.9 })
      yield* m.add({ text: "a", type: "fact" })
      yield* m.add({ text: "b", type: "fact", key: "k", importance: 0.8 })
      yield* m.add({ text: "c", type: "fact", key: "k", importance: 0.7 })
      yield* m.add({ text: "d", type: "fact", importance: 0 })
      const after = yield* counts
      assert.deepStrictEqual({
        added: after.added - before.added,
        merged: after.merged - before.merged,
        superseded: after.superseded - before.superseded,
        evicted: after.evicted - before.evicted
      }, { added: 4, merged: 1, superseded: 1, evicted: 1 })
      assert.strictEqual(after.entries, 2)
    }).pipe(
      Effect.provide(
        AgentMemory.layerMemory({ team: "metrics", maxEntries: 2, evictionBatch: 1 }).pipe(
          Layer.provide(Layer.mergeAll(IdGenerator.layerSequential("m"), TokenCounter.layerApproximate))
        )
      )
    ))

  it.effect("addMany counts per memory, as the adds one by one do", () =>
    Effect.gen(function*() {
      const m = yield* AgentMemory.AgentMemory
      const before = yield* countsOf("metrics-many")
      yield* m.addMany([
        { text: "a", type: "fact", importance: 0.9 },
        { text: "a", type: "fact" },
        { text: "b", type: "fact", key: "k", importance: 0.8 },
        { text: "c", type: "fact", key: "k", importance: 0.7 },
        { text: "d", type: "fact", importance: 0 }
      ])
      const after = yield* countsOf("metrics-many")
      assert.deepStrictEqual({
        added: after.added - before.added,
        merged: after.merged - before.merged,
        superseded: after.superseded - before.superseded,
        evicted: after.evicted - before.evicted
      }, { added: 4, merged: 1, superseded: 1, evicted: 1 })
      assert.strictEqual(after.entries, 2)
    }).pipe(
      Effect.provide(
        AgentMemory.layerMemory({ team: "metrics-many", maxEntries: 2, evictionBatch: 1 }).pipe(
          Layer.provide(Layer.mergeAll(IdGenerator.layerSequential("m"), TokenCounter.layerApproximate))
        )
      )
    ))
})
