// A user-defined type is any non-empty string, also the name of a property
// every object inherits ("constructor", "toString", "__proto__"): its
// half-life, floor and count are looked up as data, never inherited.
import * as IdGenerator from "@agentos/core/IdGenerator"
import * as TokenCounter from "@agentos/core/TokenCounter"
import { assert, describe, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as TestClock from "effect/TestClock"
import * as AgentMemory from "../src/AgentMemory.js"

const layer = AgentMemory.layerMemory().pipe(
  Layer.provideMerge(Layer.merge(IdGenerator.layerSequential("t"), TokenCounter.layerApproximate))
)

describe("user-defined types named like inherited properties", () => {
  it.effect("score like any type without a half-life, and are counted by stats", () =>
    Effect.gen(function*() {
      const m = yield* AgentMemory.AgentMemory
      const names = ["constructor", "toString", "__proto__", "hasOwnProperty"]
      for (const type of names) yield* m.add({ text: `a ${type} memory`, type, importance: 0.5 })
      yield* m.add({ text: "an other memory", type: "other", importance: 0.5 })
      yield* TestClock.adjust("10 hours")
      const recalled = yield* m.recall({ topK: 10, explain: true })
      assert.lengthOf(recalled.memories, 5)
      const scores = recalled.memories.map((r) => r.score)
      // same importance, same age, a type without a half-life each: the same score
      for (const s of scores) assert.closeTo(s, scores[4]!, 1e-12)
      const context = yield* m.buildContext({ maxTokens: 1000 })
      assert.lengthOf(context.memories, 5)
      const stats = yield* m.stats()
      assert.strictEqual(stats.total, 5)
      assert.deepStrictEqual(
        Object.entries(stats.byType).sort(),
        [...names, "other"].map((t) => [t, 1] as [string, number]).sort()
      )
      assert.isTrue(Number.isFinite(stats.scores.mean))
    }).pipe(Effect.provide(layer)))
})
