// The full-text index: MiniSearch's scores exactly, postings kept per scope
// so a scoped query reads only its scopes' postings, and scores that do not
// depend on which scopes a query asked for.
import { assert, describe, it } from "@effect/vitest"
import MiniSearch from "minisearch"
import { MemoryIndex } from "../src/internal/memoryIndex.js"
import { TextIndex } from "../src/internal/textIndex.js"
import type { Memory } from "../src/Memory.js"

// a deterministic generator of short texts over a small vocabulary, with
// punctuation, capitals and repeated words (what the tokenizer must agree on)
const words = ["Alpha", "beta", "gamma", "delta", "sources", "on", "topic", "MCP", "server", "repo", "stars", "Paris"]
const textOf = (i: number) => {
  let seed = i * 2_654_435_761 % 4_294_967_296
  const next = () => (seed = (seed * 1_103_515_245 + 12_345) % 2_147_483_648) / 2_147_483_648
  const n = 3 + Math.floor(next() * 10)
  return Array.from({ length: n }, () => words[Math.floor(next() * next() * words.length)]!).join(
    next() < 0.3 ? ", " : " "
  ) + (next() < 0.5 ? "." : "")
}

const queries = ["alpha", "Sources on topic", "MCP server repo", "delta delta gamma", "paris, stars!", "absent"]

const memoryOf = (i: number, agent: string | undefined): Memory => ({
  id: `m${i}` as Memory["id"],
  team: "t",
  ...(agent === undefined ? {} : { agent }),
  type: "result",
  text: textOf(i),
  importance: 0.5,
  metadata: {},
  createdAt: 0,
  lastAccessedAt: 0,
  accessCount: 0
})

const makeIndex = () =>
  new MemoryIndex({ recencyRate: 1e-8, halfLife: () => 1, typeFloor: () => 0, frequencyScale: 5 }, () => undefined)

const byId = (hits: ReadonlyArray<{ readonly id: number; readonly score: number }>) =>
  new Map(hits.map((h) => [h.id, h.score]))

describe("TextIndex", () => {
  it("scores exactly as MiniSearch does over the same documents", () => {
    const ours = new TextIndex()
    const theirs = new MiniSearch<{ id: number; text: string }>({ fields: ["text"], idField: "id" })
    for (let i = 0; i < 500; i++) {
      ours.add(i, i % 7, textOf(i))
      theirs.add({ id: i, text: textOf(i) })
    }
    for (const query of queries) {
      const expected = byId(theirs.search(query) as unknown as Array<{ id: number; score: number }>)
      const actual = byId(ours.search(query))
      assert.strictEqual(actual.size, expected.size, query)
      for (const [id, score] of expected) assert.strictEqual(actual.get(id), score, `${query} #${id}`)
    }
  })

  it("after removals, scores as MiniSearch built afresh over what is left", () => {
    const ours = new TextIndex()
    for (let i = 0; i < 400; i++) ours.add(i, i % 5, textOf(i))
    for (let i = 0; i < 400; i += 3) ours.remove(i, i % 5, textOf(i))
    const fresh = new MiniSearch<{ id: number; text: string }>({ fields: ["text"], idField: "id" })
    for (let i = 0; i < 400; i++) if (i % 3 !== 0) fresh.add({ id: i, text: textOf(i) })
    for (const query of queries) {
      const expected = byId(fresh.search(query) as unknown as Array<{ id: number; score: number }>)
      const actual = byId(ours.search(query))
      assert.deepStrictEqual([...actual.keys()].sort(), [...expected.keys()].sort(), query)
      // the running average length is rounded differently from a fresh one
      for (const [id, score] of expected) assert.closeTo(actual.get(id)!, score, 1e-9, `${query} #${id}`)
    }
  })

  it("a scope's postings of a term stay right as they grow from one to many and shrink back", () => {
    const ours = new TextIndex()
    const text = (i: number) => `shared ${"word ".repeat(i === 2 ? 70 : 1)}own${i}`
    for (let i = 0; i < 4; i++) ours.add(i, 1, text(i))
    const slots = () => ours.search("shared word").map((h) => h.id).sort()
    assert.deepStrictEqual(slots(), [0, 1, 2, 3])
    for (const [removed, left] of [[1, [0, 2, 3]], [3, [0, 2]], [0, [2]], [2, []]] as const) {
      ours.remove(removed, 1, text(removed))
      assert.deepStrictEqual(slots(), [...left])
      const fresh = new TextIndex()
      for (const i of left) fresh.add(i, 1, text(i))
      // slot 2 holds "word" 70 times: its frequency survives being a list of one again
      for (const hit of ours.search("word")) {
        assert.closeTo(hit.score, fresh.search("word").find((h) => h.id === hit.id)!.score, 1e-12)
      }
    }
    assert.strictEqual(ours.size, 0)
  })

  it("a scoped query scores each memory exactly as the unscoped query does", () => {
    const index = makeIndex()
    for (let i = 0; i < 600; i++) index.put(memoryOf(i, i % 6 === 0 ? undefined : `agent-${i % 6}`))
    const alice = index.agentCode("agent-1")
    const inScopeOf = (scope: { readonly agent: number; readonly includeTeam: boolean }) => (slot: number) => {
      const agent = index.memories[slot]!.agent
      return agent === undefined ? scope.includeTeam : scope.agent === alice && agent === "agent-1"
    }
    for (const query of queries) {
      const all = byId(index.search(query))
      for (
        const scope of [
          { agent: alice, includeTeam: true },
          { agent: alice, includeTeam: false },
          { agent: -2, includeTeam: true }
        ]
      ) {
        const scoped = index.search(query, scope)
        for (const hit of scoped) {
          assert.isTrue(inScopeOf(scope)(hit.id))
          assert.strictEqual(hit.score, all.get(hit.id), `${query} #${hit.id}`)
        }
        // and every in-scope hit of the unscoped query is found
        const inScope = [...all.keys()].filter(inScopeOf(scope))
        assert.deepStrictEqual(scoped.map((h) => h.id).sort(), inScope.sort())
      }
    }
  })

  it("a scoped query reads its scopes' postings only, however much other agents hold", () => {
    const index = makeIndex()
    let i = 0
    const addMany = (from: number, agents: number, each: number) => {
      for (let a = from; a < from + agents; a++) {
        for (let j = 0; j < each; j++) index.put(memoryOf(i++, `agent-${a}`))
      }
    }
    for (let j = 0; j < 100; j++) index.put(memoryOf(i++, undefined))
    addMany(0, 10, 50)
    const scope = { agent: index.agentCode("agent-3"), includeTeam: true }
    const cost = () => {
      const before = index.text.visited
      const hits = index.search("sources on topic alpha", scope)
      return { visited: index.text.visited - before, hits: hits.length }
    }
    const small = cost()
    assert.isTrue(small.visited > 0)
    // ten times more memories of other agents, with the same words
    addMany(10, 100, 50)
    const large = cost()
    assert.deepStrictEqual(large, small)
    // an unscoped query reads them all
    const before = index.text.visited
    index.search("sources on topic alpha")
    assert.isTrue(index.text.visited - before > 10 * small.visited)
  })
})
