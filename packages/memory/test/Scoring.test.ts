// The score under TestClock: the article's formula reproduced exactly with
// its weights, half-lives, the floor, the frequency boost, query relevance,
// and explain.
import * as IdGenerator from "@agentos/core/IdGenerator"
import * as TokenCounter from "@agentos/core/TokenCounter"
import { assert, describe, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as TestClock from "effect/TestClock"
import * as AgentMemory from "../src/AgentMemory.js"
import * as Memory from "../src/Memory.js"

const HOUR = 3_600_000

const provide = (options: AgentMemory.Options = {}) =>
  Effect.provide(
    AgentMemory.layerMemory(options).pipe(
      Layer.provide(Layer.mergeAll(IdGenerator.layerSequential("m"), TokenCounter.layerApproximate))
    )
  )

// A direct port of the article's MemoryEntry.relevance_score (times in seconds).
const articleScore = (
  entry: { type: string; createdAt: number; lastAccessed: number; accessCount: number; importance: number },
  now: number
) => {
  const ageHours = (now - entry.createdAt) / 3600
  const recencyHours = (now - entry.lastAccessed) / 3600
  const rates: Record<string, number> = {
    fact: 0.01,
    instruction: 0.005,
    result: 0.1,
    conversation: 0.05,
    decision: 0.02
  }
  const decayRate = rates[entry.type] ?? 0.05
  const timeFactor = Math.exp(-decayRate * ageHours)
  const recencyBoost = Math.exp(-0.1 * recencyHours)
  const frequencyBoost = Math.log(1 + entry.accessCount) / 5
  const score = entry.importance * 0.4 + timeFactor * 0.3 + recencyBoost * 0.2 + frequencyBoost * 0.1
  return Math.min(1, Math.max(0, score))
}

// The article's score of a stored memory at `nowMs` (milliseconds, as stored).
const articleScoreOf = (memory: Memory.Memory, nowMs: number) =>
  articleScore({
    type: memory.type,
    createdAt: memory.createdAt / 1000,
    lastAccessed: memory.lastAccessedAt / 1000,
    accessCount: memory.accessCount,
    importance: memory.importance
  }, nowMs / 1000)

describe("scoring", () => {
  it.effect("with the article's weights, every score is the article's formula", () =>
    Effect.gen(function*() {
      const m = yield* AgentMemory.AgentMemory
      const types = ["fact", "instruction", "result", "conversation", "decision", "custom"]
      const ids: Array<string> = []
      for (let i = 0; i < 24; i++) {
        const added = yield* m.add({ text: `memory ${i}`, type: types[i % types.length]!, importance: (i % 11) / 10 })
        ids.push(added.memory.id)
        yield* TestClock.adjust(`${17 + i * 13} minutes`)
        // touch some memories a few times, at different times
        if (i % 3 === 0) {
          for (let t = 0; t <= i % 5; t++) yield* m.touch(ids.slice(0, i + 1).filter((_, j) => j % 2 === 0))
        }
      }
      // far past the ≈147 accesses where the article's frequency term passes 1
      for (let t = 0; t < 200; t++) yield* m.touch([ids[1]!])
      yield* TestClock.adjust("31 hours")
      const now = 31 * HOUR + [...Array(24).keys()].reduce((sum, i) => sum + (17 + i * 13) * 60_000, 0)
      const recalled = yield* m.recall({ topK: 24 })
      assert.lengthOf(recalled.memories, 24)
      for (const { memory, score } of recalled.memories) {
        assert.closeTo(score, articleScoreOf(memory, now), 1e-12, `${memory.text}`)
      }
      // the ranking is the article's sort
      const scores = recalled.memories.map((r) => r.score)
      assert.deepStrictEqual(scores, [...scores].sort((a, b) => b - a))
      assert.isTrue(recalled.memories.some((r) => r.memory.accessCount > 1))
      assert.isTrue(recalled.memories.some((r) => r.memory.accessCount >= 200))
    }).pipe(provide({ weights: Memory.ARTICLE_WEIGHTS, maxEntries: 100 })))

  it.effect("scores stay the article's over spans of thousands of hours (the scoring epoch moves)", () =>
    Effect.gen(function*() {
      const m = yield* AgentMemory.AgentMemory
      const a = yield* m.add({ text: "early", type: "instruction", importance: 0.3 })
      yield* TestClock.adjust("9000 hours")
      yield* m.add({ text: "later", type: "result", importance: 0.6 })
      yield* m.touch([a.memory.id])
      yield* TestClock.adjust("7 hours")
      const early = yield* m.recall()
      yield* TestClock.adjust("20000 hours")
      const late = yield* m.recall()
      for (const [recall, at] of [[early, 9007 * 3600], [late, 29007 * 3600]] as const) {
        for (const { memory, score } of recall.memories) {
          assert.closeTo(score, articleScoreOf(memory, at * 1000), 1e-12, `${memory.text} at ${at}`)
        }
      }
      assert.deepStrictEqual(early.memories.map((r) => r.memory.text), ["later", "early"])
    }).pipe(provide({ weights: Memory.ARTICLE_WEIGHTS })))

  it.effect("the default weights without a query are the article's formula too", () =>
    Effect.gen(function*() {
      const m = yield* AgentMemory.AgentMemory
      yield* m.add({ text: "a decision", type: "decision", importance: 0.7 })
      yield* TestClock.adjust("5 hours")
      const [r] = (yield* m.recall()).memories
      assert.closeTo(
        r!.score,
        articleScore({ type: "decision", createdAt: 0, lastAccessed: 0, accessCount: 0, importance: 0.7 }, 5 * 3600),
        1e-12
      )
    }).pipe(provide()))

  it.effect("an instruction outlives a result of equal importance by the hours of their half-lives", () =>
    Effect.gen(function*() {
      const m = yield* AgentMemory.AgentMemory
      yield* m.add({ text: "always answer in French", type: "instruction", importance: 0.5 })
      yield* m.add({ text: "search hits for MCP servers", type: "result", importance: 0.5 })
      const decayOf = (recall: Memory.Recall, type: string) =>
        recall.memories.find((r) => r.memory.type === type)!.explanation!.decay.value
      // one result half-life (ln 2 / 0.1 ≈ 6.93 h): the result's decay is 1/2, the instruction's 2^(-1/20)
      yield* TestClock.adjust(Math.round(Memory.DEFAULT_HALF_LIVES.result * HOUR))
      const early = yield* m.recall({ explain: true })
      assert.closeTo(decayOf(early, "result"), 0.5, 1e-6)
      assert.closeTo(decayOf(early, "instruction"), Math.pow(0.5, 1 / 20), 1e-6)
      assert.strictEqual(early.memories[0]!.memory.type, "instruction")
      // one instruction half-life (≈138.6 h): the instruction's decay is 1/2, the result's 2^-20
      yield* TestClock.adjust(
        Math.round((Memory.DEFAULT_HALF_LIVES.instruction - Memory.DEFAULT_HALF_LIVES.result) * HOUR)
      )
      const late = yield* m.recall({ explain: true, minScore: 0.3 })
      assert.deepStrictEqual(late.memories.map((r) => r.memory.type), ["instruction"])
      assert.closeTo(decayOf(late, "instruction"), 0.5, 1e-6)
      assert.closeTo(late.memories[0]!.score, 0.4 * 0.5 + 0.3 * 0.5, 1e-6)
    }).pipe(provide()))

  it.effect("a floor keeps decay from burying a memory; per memory or per type", () =>
    Effect.gen(function*() {
      const m = yield* AgentMemory.AgentMemory
      yield* m.add({ text: "never deploy on Fridays", type: "rule", importance: 0.2 })
      yield* m.add({ text: "the user is allergic to nuts", type: "fact", importance: 0.2, floor: 0.6 })
      yield* m.add({ text: "an old note", type: "fact", importance: 0.2 })
      yield* TestClock.adjust("2000 hours")
      const { memories } = yield* m.recall({ explain: true })
      const byText = Object.fromEntries(memories.map((r) => [r.memory.text, r]))
      assert.strictEqual(byText["never deploy on Fridays"]!.score, 0.5)
      assert.isTrue(byText["never deploy on Fridays"]!.explanation!.floored)
      assert.strictEqual(byText["the user is allergic to nuts"]!.score, 0.6)
      assert.isTrue(byText["an old note"]!.score < 0.1)
      assert.isFalse(byText["an old note"]!.explanation!.floored)
      assert.deepStrictEqual(memories.map((r) => r.memory.text), [
        "the user is allergic to nuts",
        "never deploy on Fridays",
        "an old note"
      ])
    }).pipe(provide({ floors: { rule: 0.5 } })))

  it.effect("frequency boosts a touched memory, with diminishing returns", () =>
    Effect.gen(function*() {
      const m = yield* AgentMemory.AgentMemory
      const a = yield* m.add({ text: "used often", type: "fact" })
      yield* m.add({ text: "never used", type: "fact" })
      const frequencyAfter = (touches: number) =>
        Effect.gen(function*() {
          for (let i = 0; i < touches; i++) yield* m.touch([a.memory.id])
          const { memories } = yield* m.recall({ explain: true })
          assert.strictEqual(memories[0]!.memory.text, "used often")
          return memories[0]!.explanation!.frequency.value
        })
      const f10 = yield* frequencyAfter(10)
      const f20 = yield* frequencyAfter(10)
      assert.closeTo(f10, Math.log(11) / 5, 1e-12)
      assert.closeTo(f20, Math.log(21) / 5, 1e-12)
      assert.isTrue(f20 - f10 < f10)
      // the article's term, uncapped: past 1 from e^5 - 1 ≈ 147 accesses
      yield* frequencyAfter(130)
      assert.closeTo(yield* frequencyAfter(1), Math.log(152) / 5, 1e-12)
    }).pipe(provide()))

  it.effect("a query ranks the matching memory first; without it, importance does", () =>
    Effect.gen(function*() {
      const m = yield* AgentMemory.AgentMemory
      yield* m.add({ text: "The user prefers Python over JavaScript", type: "instruction", importance: 0.9 })
      yield* m.add({ text: "Budget for the quarter is fixed", type: "fact", importance: 0.8 })
      yield* m.add({ text: "Found 3 repos matching MCP server", type: "result", importance: 0.2 })
      const plain = yield* m.recall()
      assert.strictEqual(plain.memories[0]!.memory.importance, 0.9)
      const queried = yield* m.recall({ query: "which MCP server repos", explain: true })
      assert.strictEqual(queried.memories[0]!.memory.text, "Found 3 repos matching MCP server")
      const rel = queried.memories[0]!.explanation!.relevance!
      assert.isTrue(rel.value > 0.5 && rel.value < 1)
      assert.strictEqual(queried.memories[1]!.explanation!.relevance!.value, 0)
    }).pipe(provide()))

  it.effect("the best of many weak matches stays weak (relevance is not relative to the best)", () =>
    Effect.gen(function*() {
      const m = yield* AgentMemory.AgentMemory
      for (let i = 0; i < 40; i++) yield* m.add({ text: `the note number ${i} about the weather`, type: "fact" })
      const { memories } = yield* m.recall({ query: "the", explain: true })
      const best = Math.max(...memories.map((r) => r.explanation!.relevance!.value))
      assert.isTrue(best > 0 && best < 0.05, `best relevance ${best}`)
    }).pipe(provide()))

  it.effect("one rare query word gives a relevance of about 0.7 among 1,000 memories (the documented scale)", () =>
    Effect.gen(function*() {
      const m = yield* AgentMemory.AgentMemory
      for (let i = 0; i < 999; i++) {
        yield* m.add({ text: `note ${i} about the weather and the team plans`, type: "fact" })
      }
      yield* m.add({ text: "The user prefers Python over JavaScript", type: "instruction" })
      const { memories } = yield* m.recall({ query: "Python", explain: true, topK: 1 })
      assert.strictEqual(memories[0]!.memory.text, "The user prefers Python over JavaScript")
      const relevance = memories[0]!.explanation!.relevance!.value
      assert.isTrue(relevance > 0.6 && relevance < 0.8, `relevance ${relevance}`)
    }).pipe(provide()))

  it.effect("explain: the terms add up to the score, and what decay pushed below the cut is reported", () =>
    Effect.gen(function*() {
      const m = yield* AgentMemory.AgentMemory
      yield* m.add({ text: "old but important", type: "result", importance: 1 })
      yield* TestClock.adjust("48 hours")
      yield* m.add({ text: "fresh and minor", type: "result", importance: 0.3 })
      const { belowCut, memories } = yield* m.recall({ topK: 1, explain: true })
      assert.deepStrictEqual(memories.map((r) => r.memory.text), ["fresh and minor"])
      const e = memories[0]!.explanation!
      const sum = e.importance.contribution + e.decay.contribution + e.recency.contribution + e.frequency.contribution
      assert.closeTo(sum, memories[0]!.score, 1e-12)
      assert.strictEqual(e.relevance, undefined)
      assert.deepStrictEqual(belowCut!.map((b) => b.memory.text), ["old but important"])
      assert.isTrue(belowCut![0]!.undecayedScore > memories[0]!.score)
      assert.isTrue(belowCut![0]!.score < memories[0]!.score)
      const noExplain = yield* m.recall({ topK: 1 })
      assert.strictEqual(noExplain.belowCut, undefined)
      assert.strictEqual(noExplain.memories[0]!.explanation, undefined)
    }).pipe(provide()))

  it.effect("a scope's recall reads that scope alone: the agent's and the team's, after adds, forgets and clears", () =>
    Effect.gen(function*() {
      const m = yield* AgentMemory.AgentMemory
      const words = ["alpha", "beta", "gamma", "delta", "epsilon", "zeta"]
      const agents = ["a", "b", "c"]
      let seed = 7
      const draw = (n: number) => {
        seed = (seed * 1_103_515_245 + 12_345) % 2_147_483_648
        return seed % n
      }
      // What each scope holds, by the test's own count ("" is the team's).
      const live = new Map<string, Map<string, string>>([
        ["", new Map()],
        ...agents.map((a) => [a, new Map()] as const)
      ])
      for (let i = 0; i < 400; i++) {
        const scope = ["", ...agents][draw(4)]!
        const op = draw(10)
        const held = live.get(scope)!
        if (op === 0 && held.size > 0) {
          const id = [...held.keys()][draw(held.size)]!
          yield* m.forget(id)
          held.delete(id)
        } else if (op === 1 && i % 97 === 0 && scope !== "") {
          yield* m.clear(scope)
          held.clear()
        } else {
          const text = `note ${i} ${words[draw(words.length)]} ${words[draw(words.length)]}`
          const added = yield* m.add({ text, type: "fact", ...(scope === "" ? {} : { agent: scope }) })
          held.set(added.memory.id, text)
        }
        if (i % 50 !== 49) continue
        yield* TestClock.adjust("1 hour")
        for (const agent of [undefined, ...agents, "nobody"]) {
          for (const includeTeam of [true, false]) {
            const expected = new Map([
              ...(agent === undefined || includeTeam ? live.get("")! : []),
              ...(agent === undefined ? [] : live.get(agent) ?? [])
            ])
            const query = words[draw(words.length)]!
            const all = yield* m.recall({
              ...(agent === undefined ? {} : { agent, includeTeam }),
              query,
              topK: 10_000,
              explain: true
            })
            assert.deepStrictEqual(new Set(all.memories.map((r) => r.memory.id)), new Set(expected.keys()))
            for (const r of all.memories) {
              // relevance is there exactly when the text holds the query word
              assert.strictEqual(r.explanation!.relevance!.value > 0, r.memory.text.split(" ").includes(query))
            }
            // (Not compared score for score with the full list: MiniSearch vacuums removed memories in the
            // background, on the real clock, and until it has, their words still weigh in the scores.)
            const top = yield* m.recall({ ...(agent === undefined ? {} : { agent, includeTeam }), query, topK: 5 })
            assert.strictEqual(top.memories.length, Math.min(5, expected.size))
            for (const r of top.memories) assert.isTrue(expected.has(r.memory.id))
          }
        }
      }
    }).pipe(provide()))
})
