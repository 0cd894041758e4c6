// The in-process store keeps the store contract's rules of the SQL store:
// a batch that clashes with memories written after the writer's version
// writes nothing, not even a version.
import * as Ids from "@agentos/core/Ids"
import { assert, describe, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import { makeMemoryStore } from "../src/internal/memoryStore.js"
import { emptyBatch } from "../src/internal/store.js"
import type * as Memory from "../src/Memory.js"

const memory = (id: string, text: string): Memory.Memory => ({
  id: Ids.MemoryId.make(id),
  team: "t",
  type: "fact",
  text,
  importance: 0.5,
  metadata: {},
  createdAt: 0,
  lastAccessedAt: 0,
  accessCount: 0
})

describe("the memory store", () => {
  it.effect("a batch clashing with unseen memories writes nothing; one seeing them all is checked no further", () =>
    Effect.gen(function*() {
      const store = yield* makeMemoryStore()
      yield* store.apply("t", { ...emptyBatch, insert: [memory("a", "same")] })
      const sameText = {
        clashes: (memories: ReadonlyArray<Memory.Memory>) => memories.some((m) => m.text === "same")
      }
      const refused = yield* store.apply("t", {
        ...emptyBatch,
        insert: [memory("b", "same")],
        unseen: { since: 0, ...sameText }
      })
      assert.isTrue(refused.clashed)
      assert.isUndefined(yield* store.changes("t", 1))
      assert.isUndefined(yield* store.get("t", "b"))
      const written = yield* store.apply("t", {
        ...emptyBatch,
        insert: [memory("b", "same")],
        unseen: { since: 1, ...sameText }
      })
      assert.isUndefined(written.clashed)
      assert.strictEqual(written.version, 2)
    }))
})
