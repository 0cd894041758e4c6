// The package's metrics count what add, superseding and eviction did.
import * as IdGenerator from "@agentos/core/IdGenerator"
import * as TokenCounter from "@agentos/core/TokenCounter"
import { assert, describe, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Metric from "effect/Metric"
import * as AgentMemory from "../src/AgentMemory.js"
import * as Metrics from "../src/internal/metrics.js"
import type * as Memory from "../src/Memory.js"

const countsOf = (team: string) =>
  Effect.all({
    added: Effect.map(Metric.value(Metrics.added), (s) => s.count),
    merged: Effect.map(Metric.value(Metrics.merged), (s) => s.count),
    superseded: Effect.map(Metric.value(Metrics.superseded), (s) => s.count),
    evicted: Effect.map(Metric.value(Metrics.evicted), (s) => s.count),
    entries: Effect.map(Metric.value(Metric.tagged(Metrics.entries, "team", team)), (s) => s.value)
  })
const inputs: ReadonlyArray<Memory.AddInput> = [
  { text: "a", type: "fact", importance: 0.9 },
  { text: "a", type: "fact" },
  { text: "b", type: "fact", key: "k", importance: 0.8 },
  { text: "c", type: "fact", key: "k", importance: 0.7 },
  { text: "d", type: "fact", importance: 0 }
]

// The same five memories, added one by one or in one addMany: the same counts.
const ways: ReadonlyArray<
  readonly [string, string, (m: AgentMemory.AgentMemoryService) => Effect.Effect<unknown, unknown>]
> = [
  [
    "count adds by outcome, superseded and evicted memories, and the live entries",
    "metrics",
    (m) => Effect.forEach(inputs, (input) => m.add(input), { discard: true })
  ],
  ["addMany counts per memory, as the adds one by one do", "metrics-many", (m) => m.addMany(inputs)]
]

describe("metrics", () => {
  for (const [name, team, addAll] of ways) {
    it.effect(name, () =>
      Effect.gen(function*() {
        const m = yield* AgentMemory.AgentMemory
        const before = yield* countsOf(team)
        yield* addAll(m)
        const after = yield* countsOf(team)
        assert.deepStrictEqual({
          added: after.added - before.added,
          merged: after.merged - before.merged,
          superseded: after.superseded - before.superseded,
          evicted: after.evicted - before.evicted
        }, { added: 4, merged: 1, superseded: 1, evicted: 1 })
        assert.strictEqual(after.entries, 2)
      }).pipe(
        Effect.provide(
          AgentMemory.layerMemory({ team, maxEntries: 2, evictionBatch: 1 }).pipe(
            Layer.provide(Layer.mergeAll(IdGenerator.layerSequential("m"), TokenCounter.layerApproximate))
          )
        )
      ))
  }
})
