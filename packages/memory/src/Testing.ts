/**
 * The published conformance suite of agent memory: the cases every
 * `AgentMemory` layer passes (memory, SQLite, Postgres), as data, and the
 * harness a layer of your own needs to run them under your own vitest with
 * `@agentos/testkit`'s `Conformance`:
 *
 * ```ts
 * import { Conformance } from "@agentos/testkit"
 * import * as Testing from "@agentos/memory/Testing"
 *
 * Conformance.conformance("my AgentMemory", {
 *   extra: { mine: Testing.harness((options) => myLayer(options)) }
 * }, Testing.suite)
 * ```
 *
 * Every case builds its memories through the harness, from a fresh harness
 * (so a fresh store); two builds in one case share the store (two processes
 * over one database). The harness provides core's `IdGenerator` (sequential
 * ids) and the approximate `TokenCounter`. Cases run under `TestClock`.
 *
 * Needs the optional peer dependencies `@agentos/testkit`, `@effect/vitest`
 * and `vitest`. `index.ts` does not re-export this module.
 *
 * @since 0.1.0
 */
import * as IdGenerator from "@agentos/core/IdGenerator"
import * as TokenCounter from "@agentos/core/TokenCounter"
import * as Conformance from "@agentos/testkit/Conformance"
import { assert } from "@effect/vitest"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Layer from "effect/Layer"
import type * as Scope from "effect/Scope"
import * as TestClock from "effect/TestClock"
import * as AgentMemory from "./AgentMemory.js"
import type * as Memory from "./Memory.js"

/**
 * What the cases use to build memories: `make(options)` builds an
 * `AgentMemory` over the case's store (each call a new layer build, within
 * the case's scope).
 *
 * @since 0.1.0
 * @category models
 */
export interface HarnessService {
  readonly make: (
    options?: AgentMemory.Options
  ) => Effect.Effect<AgentMemory.AgentMemoryService, unknown, Scope.Scope>
}

/**
 * @since 0.1.0
 * @category tags
 */
export class Harness extends Context.Tag("@agentos/memory/Testing/Harness")<Harness, HarnessService>() {}

/**
 * The harness of a layer: `makeLayer` builds an `AgentMemory` layer from a
 * case's options. What its layers need (`R`, e.g. a `SqlClient`) is provided
 * to the harness.
 *
 * @since 0.1.0
 * @category constructors
 */
export const harness = <E, R>(
  makeLayer: (options: AgentMemory.Options) => Layer.Layer<AgentMemory.AgentMemory, E, R>
): Layer.Layer<Harness, never, R> =>
  Layer.effect(
    Harness,
    Effect.map(Effect.context<R>(), (context) => {
      const ids = IdGenerator.makeSequential("mem")
      const deps = Layer.mergeAll(
        Layer.succeed(IdGenerator.IdGenerator, ids),
        TokenCounter.layerApproximate
      )
      return Harness.of({
        make: (options = {}) =>
          Layer.build(Layer.provide(makeLayer(options), deps)).pipe(
            Effect.map((built) => Context.get(built, AgentMemory.AgentMemory)),
            Effect.provide(context)
          )
      })
    })
  )

/**
 * The memory of a case, built with `options` through the case's harness.
 *
 * @since 0.1.0
 * @category accessors
 */
export const memory = (
  options?: AgentMemory.Options
): Effect.Effect<AgentMemory.AgentMemoryService, unknown, Harness | Scope.Scope> =>
  Effect.flatMap(Harness, (h) => h.make(options))

/**
 * The error of an effect that must fail (the case fails if it succeeds).
 *
 * @since 0.1.0
 * @category utils
 */
export const failure = <A, E, R>(effect: Effect.Effect<A, E, R>) =>
  Effect.map(Effect.either(effect), (either) => {
    assert.isTrue(Either.isLeft(either), "expected a failure")
    return (either as Either.Left<E, A>).left
  })

// Ids and the team replaced by what a comparison of two runs can share: an
// id by the order of its first appearance.
const normalised = <A>(value: A): A => {
  const ids = new Map<string, string>()
  const walk = (u: unknown): unknown => {
    if (typeof u === "string" && /^mem-\d+$/.test(u)) {
      let id = ids.get(u)
      if (id === undefined) ids.set(u, id = `#${ids.size}`)
      return id
    }
    if (Array.isArray(u)) return u.map(walk)
    if (typeof u === "object" && u !== null) {
      return Object.fromEntries(Object.entries(u).map(([k, v]) => [k, k === "team" ? "team" : walk(v)]))
    }
    return u
  }
  return walk(value) as A
}

const texts = (recall: { readonly memories: ReadonlyArray<{ readonly memory: { readonly text: string } }> }) =>
  recall.memories.map((r) => r.memory.text)

/**
 * The cases every `AgentMemory` layer passes. Three cases build two memories
 * in one case and expect them to share the store (as two processes over one
 * database); they skip the `memory` backend, whose every build is a store of
 * its own. A layer of your own that keeps its data in process runs
 * `suiteFor({ sharedStore: false })`.
 *
 * @since 0.1.0
 * @category suites
 */
export const suite: Conformance.Suite<Harness> = [
  Conformance.test(
    "add stores a memory that get and recall return, with the time it was added",
    Effect.gen(function*() {
      yield* TestClock.adjust("10 seconds")
      const m = yield* memory()
      const added = yield* m.add({
        text: "User prefers Python",
        type: "instruction",
        importance: 0.9,
        agent: "alice",
        metadata: { source: "chat" }
      })
      assert.strictEqual(added.outcome, "added")
      const got = yield* m.get(added.memory.id)
      assert.deepStrictEqual(got, added.memory)
      assert.strictEqual(got.createdAt, 10_000)
      assert.strictEqual(got.lastAccessedAt, 10_000)
      assert.strictEqual(got.accessCount, 0)
      assert.strictEqual(got.agent, "alice")
      assert.deepStrictEqual(got.metadata, { source: "chat" })
      const recalled = yield* m.recall({ agent: "alice" })
      assert.deepStrictEqual(texts(recalled), ["User prefers Python"])
      assert.strictEqual(recalled.memories[0]!.source, "agent")
      const missing = yield* failure(m.get("nope"))
      assert.strictEqual(missing._tag, "MemoryNotFound")
    })
  ),
  Conformance.test(
    "invalid input is a typed InvalidInput and stores nothing",
    Effect.gen(function*() {
      const m = yield* memory()
      for (
        const bad of [
          { text: "", type: "fact" },
          { text: "x", type: "" },
          { text: "x", type: "fact", importance: 1.5 },
          { text: "x", type: "fact", floor: -0.1 },
          { text: "x\u0000y", type: "fact" },
          { text: "x", type: "fact", metadata: { n: Number.NaN } }
        ]
      ) {
        const error = yield* failure(m.add(bad as never))
        assert.strictEqual(error._tag, "InvalidInput")
      }
      assert.strictEqual((yield* failure(m.recall({ topK: 0 })))._tag, "InvalidInput")
      assert.strictEqual((yield* failure(m.recall({ minScore: 2 })))._tag, "InvalidInput")
      assert.strictEqual((yield* failure(m.buildContext({ maxTokens: 0 })))._tag, "InvalidInput")
      for (const id of [7, undefined, null]) {
        assert.strictEqual((yield* failure(m.forget(id as never)))._tag, "InvalidInput")
        assert.strictEqual((yield* failure(m.get(id as never)))._tag, "InvalidInput")
        assert.strictEqual((yield* failure(m.touch([id] as never)))._tag, "InvalidInput")
      }
      assert.strictEqual((yield* m.stats()).total, 0)
    })
  ),
  Conformance.test(
    "bad options fail the layer with InvalidOptions",
    Effect.gen(function*() {
      for (
        const options of [
          { maxEntries: 0 },
          { syncRetentionHours: 0 },
          { weights: { importance: -1 } },
          { halfLives: { fact: 0 } },
          { floors: { fact: 2 } },
          { evictionBatch: 5, maxEntries: 2 }
        ]
      ) {
        const error = yield* failure(memory(options))
        assert.strictEqual((error as { _tag: string })._tag, "InvalidOptions")
      }
    })
  ),
  Conformance.test(
    "recall never changes access statistics; touch does",
    Effect.gen(function*() {
      const m = yield* memory()
      const { memory: a } = yield* m.add({ text: "alpha", type: "fact" })
      yield* TestClock.adjust("1 hour")
      yield* m.recall()
      yield* m.buildContext({ maxTokens: 100 })
      const untouched = yield* m.get(a.id)
      assert.strictEqual(untouched.accessCount, 0)
      assert.strictEqual(untouched.lastAccessedAt, 0)
      yield* m.touch([a.id])
      const touched = yield* m.get(a.id)
      assert.strictEqual(touched.accessCount, 1)
      assert.strictEqual(touched.lastAccessedAt, 3_600_000)
      assert.strictEqual((yield* failure(m.touch(["nope"])))._tag, "MemoryNotFound")
    })
  ),
  Conformance.test(
    "a key supersedes the memory of the same key and scope; it is never recalled again, kept in history",
    Effect.gen(function*() {
      const m = yield* memory()
      const old = yield* m.add({ text: "User lives in Paris", type: "fact", key: "user/city", importance: 1 })
      const other = yield* m.add({ text: "Bob lives in Oslo", type: "fact", key: "user/city", agent: "bob" })
      yield* TestClock.adjust("1 minute")
      const next = yield* m.add({ text: "User lives in Berlin", type: "fact", key: "user/city", importance: 0.1 })
      assert.deepStrictEqual(next.superseded, [old.memory.id])
      const recalled = yield* m.recall({ agent: "bob", topK: 10 })
      assert.sameMembers(texts(recalled), ["User lives in Berlin", "Bob lives in Oslo"])
      const byQuery = yield* m.recall({ query: "Paris", topK: 10 })
      assert.notInclude(texts(byQuery), "User lives in Paris")
      const history = yield* m.history({ key: "user/city" })
      assert.deepStrictEqual(history.map((h) => h.text), ["User lives in Paris", "User lives in Berlin"])
      assert.strictEqual(history[0]!.supersededBy, next.memory.id)
      assert.strictEqual(history[0]!.supersededAt, 60_000)
      assert.strictEqual((yield* m.get(old.memory.id)).supersededBy, next.memory.id)
      assert.strictEqual((yield* failure(m.touch([old.memory.id])))._tag, "MemoryNotFound")
      assert.strictEqual((yield* m.history({ key: "user/city", agent: "bob" }))[0]!.id, other.memory.id)
    })
  ),
  Conformance.test(
    "identical text in the same scope and type merges into one memory",
    Effect.gen(function*() {
      const m = yield* memory()
      const first = yield* m.add({ text: "the API is rate limited", type: "fact", importance: 0.3, metadata: { a: 1 } })
      const again = yield* m.add({ text: "the API is rate limited", type: "fact", importance: 0.8, metadata: { b: 2 } })
      assert.strictEqual(again.outcome, "merged")
      assert.strictEqual(again.memory.id, first.memory.id)
      assert.strictEqual(again.memory.importance, 0.8)
      assert.deepStrictEqual(again.memory.metadata, { a: 1, b: 2 })
      const elsewhere = yield* m.add({ text: "the API is rate limited", type: "fact", agent: "alice" })
      assert.strictEqual(elsewhere.outcome, "added")
      assert.strictEqual((yield* m.stats()).total, 2)
      const stored = yield* m.get(first.memory.id)
      assert.strictEqual(stored.importance, 0.8)
    })
  ),
  Conformance.test(
    "scopes: an agent recalls its own and its team's memories, unless includeTeam is false; never another agent's",
    Effect.gen(function*() {
      const m = yield* memory()
      yield* m.add({ text: "team rule", type: "instruction" })
      yield* m.add({ text: "alice note", type: "fact", agent: "alice" })
      yield* m.add({ text: "bob note", type: "fact", agent: "bob" })
      const alice = yield* m.recall({ agent: "alice", topK: 10 })
      assert.sameMembers(texts(alice), ["team rule", "alice note"])
      assert.deepStrictEqual(
        Object.fromEntries(alice.memories.map((r) => [r.memory.text, r.source])),
        { "team rule": "team", "alice note": "agent" }
      )
      assert.deepStrictEqual(texts(yield* m.recall({ agent: "alice", includeTeam: false })), ["alice note"])
      assert.deepStrictEqual(texts(yield* m.recall()), ["team rule"])
      assert.deepStrictEqual(texts(yield* m.recall({ agent: "carol" })), ["team rule"])
    })
  ),
  Conformance.test(
    "types and minScore filter recall; topK bounds it",
    Effect.gen(function*() {
      const m = yield* memory()
      yield* m.add({ text: "r1", type: "result", importance: 0.1 })
      yield* m.add({ text: "f1", type: "fact", importance: 0.9 })
      yield* m.add({ text: "d1", type: "decision", importance: 0.5 })
      assert.deepStrictEqual(texts(yield* m.recall({ types: ["fact", "decision"] })), ["f1", "d1"])
      assert.deepStrictEqual(texts(yield* m.recall({ topK: 1 })), ["f1"])
      // no query, no access, at creation: 0.4 · importance + 0.3 + 0.2 (f1 0.86, d1 0.7, r1 0.54)
      const high = yield* m.recall({ minScore: 0.7 })
      assert.deepStrictEqual(texts(high), ["f1", "d1"])
      assert.isTrue(high.memories.every((r) => r.score >= 0.7))
      assert.deepStrictEqual(texts(yield* m.recall({ minScore: 0.71 })), ["f1"])
    })
  ),
  Conformance.test(
    "forget removes a memory; clear removes an agent's, or the team's",
    Effect.gen(function*() {
      const m = yield* memory()
      const a = yield* m.add({ text: "a", type: "fact", agent: "alice" })
      yield* m.add({ text: "b", type: "fact", agent: "alice", key: "k" })
      yield* m.add({ text: "b2", type: "fact", agent: "alice", key: "k" })
      yield* m.add({ text: "c", type: "fact", agent: "bob" })
      yield* m.add({ text: "t", type: "fact" })
      yield* m.forget(a.memory.id)
      assert.strictEqual((yield* failure(m.forget(a.memory.id)))._tag, "MemoryNotFound")
      assert.strictEqual((yield* failure(m.get(a.memory.id)))._tag, "MemoryNotFound")
      assert.strictEqual(yield* m.clear("alice"), 1)
      assert.deepStrictEqual(yield* m.history({ key: "k", agent: "alice" }), [])
      assert.strictEqual((yield* m.stats()).total, 2)
      assert.strictEqual(yield* m.clear(), 2)
      assert.strictEqual((yield* m.stats()).total, 0)
    })
  ),
  Conformance.test(
    "expired memories are not recalled",
    Effect.gen(function*() {
      const m = yield* memory()
      yield* m.add({ text: "short lived", type: "result", expiresAt: 60_000 })
      yield* m.add({ text: "lasting", type: "result" })
      assert.lengthOf((yield* m.recall()).memories, 2)
      yield* TestClock.adjust("1 minute")
      assert.deepStrictEqual(texts(yield* m.recall()), ["lasting"])
    })
  ),
  Conformance.test(
    "maxEntries: eviction in batches keeps the highest scores",
    Effect.gen(function*() {
      const m = yield* memory({ maxEntries: 10, evictionBatch: 4 })
      const scoreOf = new Map<string, number>()
      for (let i = 0; i < 10; i++) {
        const added = yield* m.add({ text: `m${i}`, type: "fact", importance: ((i * 7) % 10) / 10 })
        assert.deepStrictEqual(added.evicted, [])
        scoreOf.set(added.memory.id, added.memory.importance)
      }
      const over = yield* m.add({ text: "m10", type: "fact", importance: 0.55 })
      // 11 over 10: down to 10 - 4 + 1 = 7, so 4 evicted at once: the 4 lowest importances (0, .1, .2, .3)
      assert.lengthOf(over.evicted, 4)
      assert.deepStrictEqual(over.evicted.map((id) => scoreOf.get(id)).sort(), [0, 0.1, 0.2, 0.3])
      assert.strictEqual((yield* m.stats()).total, 7)
      for (let i = 11; i < 14; i++) assert.deepStrictEqual((yield* m.add({ text: `m${i}`, type: "fact" })).evicted, [])
      assert.strictEqual((yield* m.stats()).total, 10)
    })
  ),
  Conformance.test(
    "a second layer over the same store sees the first one's writes at its next call",
    Effect.gen(function*() {
      const a = yield* memory({ team: "research" })
      const b = yield* memory({ team: "research" })
      const other = yield* memory({ team: "ops" })
      const x = yield* a.add({ text: "shared finding", type: "fact" })
      assert.deepStrictEqual(texts(yield* b.recall()), ["shared finding"])
      yield* b.touch([x.memory.id])
      assert.strictEqual((yield* a.get(x.memory.id)).accessCount, 1)
      const y = yield* b.add({ text: "the city", type: "fact", key: "city" })
      yield* a.add({ text: "the new city", type: "fact", key: "city" })
      const city = texts(yield* b.recall({ query: "city" }))
      assert.strictEqual(city[0], "the new city")
      assert.notInclude(city, "the city")
      yield* a.forget(x.memory.id)
      assert.deepStrictEqual(texts(yield* b.recall({ topK: 5 })), ["the new city"])
      assert.strictEqual((yield* b.get(y.memory.id)).supersededBy !== undefined, true)
      assert.deepStrictEqual(texts(yield* other.recall()), [])
      yield* b.clear()
      assert.strictEqual((yield* a.stats()).total, 0)
    }),
    { skip: ["memory"] }
  ),
  Conformance.test(
    "a layer that did not sync for longer than syncRetentionHours reloads: nothing removed meanwhile comes back",
    Effect.gen(function*() {
      const a = yield* memory({ team: "slept", syncRetentionHours: 1 })
      const b = yield* memory({ team: "slept", syncRetentionHours: 1 })
      const old = yield* a.add({ text: "old note", type: "fact" })
      yield* a.add({ text: "lives in Paris", type: "fact", key: "city" })
      yield* a.add({ text: "kept", type: "fact" })
      assert.sameMembers(texts(yield* b.recall({ topK: 10 })), ["old note", "lives in Paris", "kept"])
      yield* a.forget(old.memory.id)
      yield* a.add({ text: "lives in Berlin", type: "fact", key: "city" })
      // past the retention: the next write trims the removed ids b has not read
      yield* TestClock.adjust("2 hours")
      yield* a.add({ text: "new", type: "fact" })
      assert.sameMembers(texts(yield* b.recall({ topK: 10 })), ["lives in Berlin", "kept", "new"])
      assert.strictEqual((yield* b.stats()).total, 3)
    }),
    { skip: ["memory"] }
  ),
  Conformance.test(
    "a layer built later loads what is stored",
    Effect.gen(function*() {
      const a = yield* memory()
      yield* a.add({ text: "persisted", type: "decision", key: "d", group: "g", floor: 0.2, metadata: { n: 1 } })
      const b = yield* memory()
      const [r] = (yield* b.recall()).memories
      assert.strictEqual(r!.memory.text, "persisted")
      assert.strictEqual(r!.memory.group, "g")
      assert.strictEqual(r!.memory.floor, 0.2)
      assert.deepStrictEqual(r!.memory.metadata, { n: 1 })
    }),
    { skip: ["memory"] }
  ),
  Conformance.test(
    "addMany stores as add would one by one: merges and superseding within the batch included",
    Effect.gen(function*() {
      const before: ReadonlyArray<Memory.AddInput> = [
        { text: "the API is rate limited", type: "fact", importance: 0.3, metadata: { a: 1 } },
        { text: "lives in Paris", type: "fact", key: "city", agent: "alice" },
        { text: "old", type: "fact", key: "k2" }
      ]
      const batch: ReadonlyArray<Memory.AddInput> = [
        // merges into a stored memory
        { text: "the API is rate limited", type: "fact", importance: 0.8, metadata: { b: 2 } },
        { text: "new note", type: "fact", agent: "alice" },
        // merges into the memory added just before, in this batch
        { text: "new note", type: "fact", agent: "alice", importance: 0.9, metadata: { x: 1 } },
        // merges into the stored Paris, which the next input then supersedes
        { text: "lives in Paris", type: "fact", key: "city", agent: "alice", importance: 0.7 },
        { text: "lives in Berlin", type: "fact", key: "city", agent: "alice" },
        // supersedes Berlin, added in this batch
        { text: "lives in Oslo", type: "fact", key: "city", agent: "alice" },
        // Berlin again: superseded, so no merge; supersedes Oslo
        { text: "lives in Berlin", type: "fact", key: "city", agent: "alice", group: "moves" },
        { text: "the API is rate limited", type: "fact", agent: "bob" },
        { text: "old", type: "fact", key: "k2", importance: 0.1, floor: 0.3 },
        { text: "tool call", type: "conversation", group: "g1" },
        { text: "tool call", type: "conversation", group: "g1", expiresAt: 3_600_000 }
      ]
      const run = (team: string, many: boolean) =>
        Effect.gen(function*() {
          const m = yield* memory({ team })
          for (const input of before) yield* m.add(input)
          const results = many ? yield* m.addMany(batch) : yield* Effect.forEach(batch, (input) => m.add(input))
          const scopes = yield* Effect.forEach(
            [undefined, "alice", "bob"],
            (agent) => m.recall({ ...(agent === undefined ? {} : { agent, includeTeam: false }), topK: 100 })
          )
          const history = yield* m.history({ key: "city", agent: "alice" })
          return normalised({ results, scopes, history, stats: yield* m.stats() })
        })
      const one = yield* run("one-by-one", false)
      const many = yield* run("many", true)
      assert.deepStrictEqual(many, one)
      // what the cases above mean, on the sequential run
      assert.deepStrictEqual(one.results.map((r) => r.outcome), [
        "merged",
        "added",
        "merged",
        "merged",
        "added",
        "added",
        "added",
        "added",
        "merged",
        "added",
        "merged"
      ])
      // the team: the API, old, tool call; alice: new note, Berlin; bob: the API
      assert.strictEqual(one.stats.total, 6)
    })
  ),
  Conformance.test(
    "addMany of more rows than one SQL statement holds: every memory stored, superseding across them",
    Effect.gen(function*() {
      const a = yield* memory({ team: "bulk" })
      // 1,500 inputs (SQL inserts go in statements of 500 rows); every 100th
      // re-keys "k", so each supersedes the previous one, across statements
      const inputs = Array.from({ length: 1_500 }, (_, i): Memory.AddInput =>
        i % 100 === 0
          ? { text: `keyed ${i}`, type: "fact", key: "k", agent: "alice" }
          : { text: `note ${i}`, type: "result", ...(i % 2 === 0 ? { agent: "alice" } : {}) })
      const results = yield* a.addMany(inputs)
      assert.lengthOf(results, 1_500)
      assert.strictEqual(results[1_400]!.superseded[0], results[1_300]!.memory.id)
      assert.strictEqual((yield* a.stats()).total, 1_500 - 14)
      const history = yield* a.history({ key: "k", agent: "alice" })
      assert.lengthOf(history, 15)
      assert.deepStrictEqual(history.filter((m) => m.supersededBy === undefined).map((m) => m.text), ["keyed 1400"])
      // a layer built later loads what was written
      const b = yield* memory({ team: "bulk" })
      assert.strictEqual((yield* b.stats()).total, 1_500 - 14)
    }),
    { skip: ["memory"] }
  ),
  Conformance.test(
    "addMany validates every input first: one bad input fails the call, naming it, and nothing is written",
    Effect.gen(function*() {
      const m = yield* memory()
      const error = yield* failure(m.addMany([
        { text: "fine", type: "fact" },
        { text: "also fine", type: "fact", key: "k" },
        { text: "bad", type: "fact", importance: 2 }
      ]))
      assert.strictEqual(error._tag, "InvalidInput")
      assert.include((error as { readonly message: string }).message, "inputs[2]")
      assert.strictEqual((yield* m.stats()).total, 0)
      assert.deepStrictEqual(yield* m.history({ key: "k" }), [])
      assert.strictEqual((yield* failure(m.addMany("nope" as never)))._tag, "InvalidInput")
      assert.deepStrictEqual(yield* m.addMany([]), [])
    })
  ),
  Conformance.test(
    "addMany enforces maxEntries once, at the end: the lowest scores go, listed on the last result",
    Effect.gen(function*() {
      const m = yield* memory({ maxEntries: 10, evictionBatch: 4 })
      const results = yield* m.addMany(
        Array.from({ length: 11 }, (_, i) => ({
          text: `m${i}`,
          type: "fact",
          importance: i === 10 ? 0.55 : ((i * 7) % 10) / 10
        }))
      )
      assert.lengthOf(results, 11)
      for (const r of results.slice(0, 10)) assert.deepStrictEqual(r.evicted, [])
      const importance = new Map(results.map((r) => [r.memory.id as string, r.memory.importance]))
      const evicted = results[10]!.evicted
      // 11 over 10: down to 10 - 4 + 1 = 7, the 4 lowest importances (0, .1, .2, .3), as one add after another
      assert.deepStrictEqual(evicted.map((id) => importance.get(id)).sort(), [0, 0.1, 0.2, 0.3])
      assert.strictEqual((yield* m.stats()).total, 7)
    })
  ),
  Conformance.test(
    "stats counts live memories per type and source, and their score distribution",
    Effect.gen(function*() {
      const m = yield* memory()
      yield* m.add({ text: "a", type: "fact", importance: 1 })
      yield* m.add({ text: "b", type: "fact", importance: 0 })
      yield* m.add({ text: "c", type: "note", agent: "alice" })
      const stats = yield* m.stats()
      assert.strictEqual(stats.total, 3)
      assert.deepStrictEqual(stats.byType, { fact: 2, note: 1 })
      assert.strictEqual(stats.team, 2)
      assert.strictEqual(stats.agents, 1)
      assert.isTrue(stats.scores.min < stats.scores.p50 && stats.scores.p50 < stats.scores.max)
      // at creation, never accessed: 0.4 · importance + 0.3 + 0.2
      assert.closeTo(stats.scores.max, 0.9, 1e-9)
      assert.closeTo(stats.scores.min, 0.5, 1e-9)
    })
  )
]

/**
 * The suite for a layer: without `sharedStore`, the cases that need two
 * builds to share one store are left out.
 *
 * @since 0.1.0
 * @category suites
 */
export const suiteFor = (options: { readonly sharedStore: boolean }): Conformance.Suite<Harness> =>
  options.sharedStore ? suite : suite.filter((c) => c.skip?.includes("memory") !== true)
