// Eviction by property: the live count never passes maxEntries, and each
// eviction removes memories scoring no higher than every memory it keeps.
import * as IdGenerator from "@agentos/core/IdGenerator"
import * as TokenCounter from "@agentos/core/TokenCounter"
import { assert, describe, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as FastCheck from "effect/FastCheck"
import * as Layer from "effect/Layer"
import * as TestClock from "effect/TestClock"
import * as AgentMemory from "../src/AgentMemory.js"

const entry = FastCheck.record({
  importance: FastCheck.integer({ min: 0, max: 100 }),
  type: FastCheck.constantFrom("fact", "result", "instruction"),
  minutes: FastCheck.integer({ min: 0, max: 240 })
})

describe("eviction", () => {
  it.effect.prop(
    "never above maxEntries; what is evicted scores no higher than anything kept",
    [
      FastCheck.array(entry, { minLength: 1, maxLength: 80 }),
      FastCheck.integer({ min: 1, max: 25 }),
      FastCheck.integer({ min: 1, max: 25 })
    ],
    ([entries, maxEntries, batch]) =>
      Effect.gen(function*() {
        const evictionBatch = Math.min(batch, maxEntries)
        const m = yield* AgentMemory.AgentMemory
        for (const [i, e] of entries.entries()) {
          yield* TestClock.adjust(`${e.minutes} minutes`)
          // the scores of every live memory just before this add
          const before = new Map(
            (yield* m.recall({ topK: 1000 })).memories.map((r) => [r.memory.id as string, r.score])
          )
          const added = yield* m.add({ text: `memory ${i}`, type: e.type, importance: e.importance / 100 })
          const after = (yield* m.recall({ topK: 1000 })).memories
          assert.isAtMost(after.length, maxEntries)
          if (added.evicted.length > 0) {
            assert.strictEqual(after.length, maxEntries - evictionBatch + 1)
            // a new memory, never accessed, at its creation: 0.4 · importance + 0.3 + 0.2
            const scoreOf = (id: string) => before.get(id) ?? 0.4 * added.memory.importance + 0.5
            const worstKept = Math.min(...after.map((r) => r.score))
            for (const id of added.evicted) assert.isAtMost(scoreOf(id), worstKept + 1e-12)
          } else {
            assert.strictEqual(after.length, before.size + 1)
          }
        }
      }).pipe(
        Effect.provide(
          AgentMemory.layerMemory({ maxEntries, evictionBatch: Math.min(batch, maxEntries) }).pipe(
            Layer.provide(Layer.mergeAll(IdGenerator.layerSequential("m"), TokenCounter.layerApproximate))
          )
        )
      ),
    { fastCheck: { numRuns: 40 } }
  )
})
