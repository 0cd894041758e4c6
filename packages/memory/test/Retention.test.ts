// The log of removed ids is trimmed: a long-running team that forgets,
// evicts and supersedes keeps a bounded log, in memory and in SQL; a process
// that missed trimmed ids reloads instead of keeping them (Testing.ts and
// Processes.test.ts check that side).
import * as IdGenerator from "@agentos/core/IdGenerator"
import * as Ids from "@agentos/core/Ids"
import * as TokenCounter from "@agentos/core/TokenCounter"
import { Backends } from "@agentos/testkit"
import * as SqlClient from "@effect/sql/SqlClient"
import { assert, describe, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as TestClock from "effect/TestClock"
import * as AgentMemory from "../src/AgentMemory.js"
import { makeMemoryStore } from "../src/internal/memoryStore.js"
import { emptyBatch } from "../src/internal/store.js"
import type * as Memory from "../src/Memory.js"

const HOUR = 3_600_000

const memoryAt = (i: number, at: number): Memory.Memory => ({
  id: Ids.MemoryId.make(`m${i}`),
  team: "t",
  type: "fact",
  text: `memory ${i}`,
  importance: 0.5,
  metadata: {},
  createdAt: at,
  lastAccessedAt: at,
  accessCount: 0
})

describe("the log of removed ids", () => {
  it.effect("memory store: ids removed before the retention are dropped; a reader behind them gets a reset", () =>
    Effect.gen(function*() {
      const store = yield* makeMemoryStore(HOUR)
      const batch = Array.from({ length: 100 }, (_, i) => memoryAt(i, 0))
      yield* store.apply("t", { ...emptyBatch, insert: batch, at: 0 })
      yield* store.apply("t", { ...emptyBatch, remove: batch.map((m) => m.id), at: 1 })
      const before = yield* store.changes("t", 1)
      assert.lengthOf(before!.gone, 100)
      assert.isUndefined(before!.reset)
      // version 3: one more memory, removed at version 4, after the coming cutoff
      yield* store.apply("t", { ...emptyBatch, insert: [memoryAt(200, HOUR)], at: HOUR })
      yield* store.apply("t", { ...emptyBatch, remove: [memoryAt(200, HOUR).id], at: 1.5 * HOUR })
      yield* store.apply("t", { ...emptyBatch, insert: [memoryAt(100, 2 * HOUR)], at: 2 * HOUR })
      const after = yield* store.changes("t", 1)
      assert.isTrue(after!.reset)
      assert.deepStrictEqual(after!.live.map((m) => m.text), ["memory 100"])
      assert.deepStrictEqual(after!.gone, [])
      // the removal logged after the cutoff is kept for a reader at version 2
      const recent = yield* store.changes("t", 2)
      assert.isUndefined(recent!.reset)
      assert.deepStrictEqual(recent!.gone, ["m200"])
    }))

  const backends = [
    { name: "sqlite", layer: Backends.sqlite() },
    ...(Backends.skipPostgres() ? [] : [{ name: "postgres", layer: Backends.postgres() }])
  ]
  for (const backend of backends) {
    it.effect(`${backend.name}: forgotten and evicted ids are trimmed after the retention`, () =>
      Effect.gen(function*() {
        const m = yield* AgentMemory.AgentMemory
        const sql = yield* SqlClient.SqlClient
        const goneRows = Effect.map(
          sql<{ n: unknown }>`SELECT count(*) AS n FROM agentos_memory_gone`,
          (rows) => Number(rows[0]!.n)
        )
        for (let i = 0; i < 30; i++) yield* m.add({ text: `note ${i}`, type: "result" })
        // 30 over maxEntries 10: evictions in batches, then a forget
        const { memory } = yield* m.add({ text: "to forget", type: "fact", importance: 1 })
        yield* m.forget(memory.id)
        assert.isAtLeast(yield* goneRows, 21)
        yield* TestClock.adjust("3 hours")
        yield* m.add({ text: "later", type: "fact", importance: 1 })
        assert.strictEqual(yield* goneRows, 0)
        // what was removed after the cutoff stays
        yield* m.forget(memory.id).pipe(Effect.flip)
        const { memory: second } = yield* m.add({ text: "forgotten later", type: "fact", importance: 1 })
        yield* m.forget(second.id)
        assert.strictEqual(yield* goneRows, 1)
      }).pipe(
        Effect.provide(
          AgentMemory.layerSql({ maxEntries: 10, evictionBatch: 5, syncRetentionHours: 1 }).pipe(
            Layer.provideMerge(
              Layer.mergeAll(backend.layer, IdGenerator.layerSequential("r"), TokenCounter.layerApproximate)
            )
          )
        )
      ))
  }
})
