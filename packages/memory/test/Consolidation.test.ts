// The consolidation hook: a key of your own decides which texts are the same.
import * as IdGenerator from "@agentos/core/IdGenerator"
import * as TokenCounter from "@agentos/core/TokenCounter"
import { assert, describe, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as AgentMemory from "../src/AgentMemory.js"

const provide = (options: AgentMemory.Options) =>
  Effect.provide(
    AgentMemory.layerMemory(options).pipe(
      Layer.provide(Layer.mergeAll(IdGenerator.layerSequential("m"), TokenCounter.layerApproximate))
    )
  )

describe("consolidation", () => {
  it.effect("a consolidationKey of your own merges near-duplicates", () =>
    Effect.gen(function*() {
      const m = yield* AgentMemory.AgentMemory
      const a = yield* m.add({ text: "The API is rate-limited!", type: "fact", importance: 0.2 })
      const b = yield* m.add({ text: "the api is rate limited", type: "fact", importance: 0.6 })
      assert.strictEqual(b.outcome, "merged")
      assert.strictEqual(b.memory.id, a.memory.id)
      assert.strictEqual(b.memory.text, "The API is rate-limited!")
      assert.strictEqual(b.memory.importance, 0.6)
      assert.strictEqual((yield* m.stats()).total, 1)
    }).pipe(provide({ consolidationKey: (memory) => memory.text.toLowerCase().replace(/[^a-z]/g, "") })))

  it.effect("a consolidationKey returning undefined never merges, not even identical text", () =>
    Effect.gen(function*() {
      const m = yield* AgentMemory.AgentMemory
      yield* m.add({ text: "same", type: "fact" })
      const again = yield* m.add({ text: "same", type: "fact" })
      assert.strictEqual(again.outcome, "added")
      assert.strictEqual((yield* m.stats()).total, 2)
    }).pipe(provide({ consolidationKey: () => undefined })))

  it.effect("identical text still merges after the same text was added with another key or group", () =>
    Effect.gen(function*() {
      const m = yield* AgentMemory.AgentMemory
      const plain = yield* m.add({ text: "same", type: "fact" })
      yield* m.add({ text: "same", type: "fact", key: "k" })
      yield* m.add({ text: "same", type: "fact", group: "g" })
      const again = yield* m.add({ text: "same", type: "fact" })
      assert.strictEqual(again.outcome, "merged")
      assert.strictEqual(again.memory.id, plain.memory.id)
      const keyed = yield* m.add({ text: "same", type: "fact", key: "k" })
      assert.strictEqual(keyed.outcome, "merged")
      assert.strictEqual((yield* m.stats()).total, 3)
    }).pipe(provide({})))

  it.effect("a merge expires only when both memories expire, at the later time", () =>
    Effect.gen(function*() {
      const m = yield* AgentMemory.AgentMemory
      yield* m.add({ text: "both expire", type: "fact", expiresAt: 1_000 })
      const both = yield* m.add({ text: "both expire", type: "fact", expiresAt: 5_000 })
      assert.strictEqual(both.memory.expiresAt, 5_000)
      yield* m.add({ text: "one expires", type: "fact", expiresAt: 1_000 })
      const one = yield* m.add({ text: "one expires", type: "fact" })
      assert.strictEqual(one.outcome, "merged")
      assert.isFalse("expiresAt" in one.memory)
      assert.isFalse("expiresAt" in (yield* m.get(one.memory.id)))
    }).pipe(provide({})))
})
