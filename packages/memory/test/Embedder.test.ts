// A pluggable Embedder: its cosine similarity ranks a memory that shares no
// word with the query; its failure is a typed EmbeddingFailed.
import * as IdGenerator from "@agentos/core/IdGenerator"
import * as TokenCounter from "@agentos/core/TokenCounter"
import { assert, describe, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Layer from "effect/Layer"
import * as AgentMemory from "../src/AgentMemory.js"
import * as Embedder from "../src/Embedder.js"
import { EmbeddingFailed } from "../src/Errors.js"

// A toy embedder: texts about places point one way, everything else another.
const places = ["paris", "berlin", "city", "town", "home"]
const toy = Layer.succeed(Embedder.Embedder, {
  embed: (texts) =>
    Effect.forEach(texts, (text) =>
      text.includes("FAIL")
        ? Effect.fail(new EmbeddingFailed({ message: "the toy cannot embed this" }))
        : Effect.succeed(
          places.some((p) => text.toLowerCase().includes(p)) ? [1, 0.1] : [0.1, 1]
        ))
})

const layer = AgentMemory.layerMemory().pipe(
  Layer.provide(Layer.mergeAll(toy, IdGenerator.layerSequential("m"), TokenCounter.layerApproximate))
)

describe("Embedder", () => {
  it.effect("relevance is the higher of BM25 and the cosine of the vectors", () =>
    Effect.gen(function*() {
      const m = yield* AgentMemory.AgentMemory
      yield* m.add({ text: "Budget is fixed for the quarter", type: "fact", importance: 0.6 })
      yield* m.add({ text: "Home: Berlin since May", type: "fact", importance: 0.1 })
      const { memories } = yield* m.recall({ query: "which town does the user live in", explain: true })
      // no word of the query is in "Home: Berlin since May": the vectors carry the relevance
      assert.strictEqual(memories[0]!.memory.text, "Home: Berlin since May")
      const relevance = memories[0]!.explanation!.relevance!.value
      assert.isTrue(relevance > 0.9, `relevance ${relevance}`)
      assert.closeTo(Embedder.cosine([1, 0], [0, 1]), 0, 1e-12)
    }).pipe(Effect.provide(layer)))

  it.effect("an embedder failure is EmbeddingFailed and stores nothing", () =>
    Effect.gen(function*() {
      const m = yield* AgentMemory.AgentMemory
      const result = yield* Effect.either(m.add({ text: "please FAIL", type: "fact" }))
      assert.isTrue(Either.isLeft(result) && result.left._tag === "EmbeddingFailed")
      assert.strictEqual((yield* m.stats()).total, 0)
    }).pipe(Effect.provide(layer)))

  it.effect("addMany embeds what it inserts in batches of 256, and a failure in any batch stores nothing", () =>
    Effect.gen(function*() {
      const calls: Array<number> = []
      const counting = Layer.succeed(Embedder.Embedder, {
        embed: (texts) => {
          calls.push(texts.length)
          return Effect.forEach(texts, (text) =>
            text.includes("FAIL")
              ? Effect.fail(new EmbeddingFailed({ message: "the toy cannot embed this" }))
              : Effect.succeed(places.some((p) => text.toLowerCase().includes(p)) ? [1, 0.1] : [0.1, 1]))
        }
      })
      const m = yield* AgentMemory.AgentMemory.pipe(
        Effect.provide(
          AgentMemory.layerMemory().pipe(
            Layer.provide(Layer.mergeAll(counting, IdGenerator.layerSequential("m"), TokenCounter.layerApproximate))
          )
        )
      )
      const failed = yield* Effect.either(m.addMany([
        ...Array.from({ length: 300 }, (_, i) => ({ text: `note ${i}`, type: "fact" })),
        { text: "please FAIL", type: "fact" }
      ]))
      assert.isTrue(Either.isLeft(failed) && failed.left._tag === "EmbeddingFailed")
      assert.strictEqual((yield* m.stats()).total, 0)
      calls.length = 0
      // 300 inputs, one merging into an earlier one (not embedded again): 299 texts, in 256 + 43
      yield* m.addMany([
        ...Array.from({ length: 298 }, (_, i) => ({ text: `note ${i}`, type: "fact", importance: 0.6 })),
        { text: "note 0", type: "fact" },
        { text: "Home: Berlin since May", type: "fact", importance: 0.1 }
      ])
      assert.deepStrictEqual(calls.filter((n) => n > 1), [256, 43])
      const { memories } = yield* m.recall({ query: "which town does the user live in", topK: 1 })
      assert.strictEqual(memories[0]!.memory.text, "Home: Berlin since May")
    }))
})
