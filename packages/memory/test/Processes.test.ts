// Two "processes" over one database: two SqlClients (two SQLite connections
// to one file, two Postgres pools on one schema), each with its own layer.
import * as IdGenerator from "@agentos/core/IdGenerator"
import * as TokenCounter from "@agentos/core/TokenCounter"
import { Backends } from "@agentos/testkit"
import * as SqlClient from "@effect/sql/SqlClient"
import * as Statement from "@effect/sql/Statement"
import { assert, describe, it } from "@effect/vitest"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as FiberRef from "effect/FiberRef"
import * as Layer from "effect/Layer"
import * as TestClock from "effect/TestClock"
import * as AgentMemory from "../src/AgentMemory.js"
import type * as Memory from "../src/Memory.js"

const deps = (prefix: string) => Layer.mergeAll(IdGenerator.layerSequential(prefix), TokenCounter.layerApproximate)

const second = (database: Context.Tag.Service<Backends.TestDatabase>) =>
  database.dialect === "sqlite"
    ? Backends.sqlite({ filename: database.filename! })
    : Backends.postgres({ schema: database.schema! })

// An injected write of the other "process" runs on its own connection: the
// statement transformer runs inside this process's transaction, whose
// connection the fiber's context would otherwise hand to the other client.
const elsewhere = <A, E, R>(effect: Effect.Effect<A, E, R>) =>
  Statement.withTransformerDisabled(effect).pipe(
    Effect.locallyWith(FiberRef.currentContext, Context.omit(SqlClient.TransactionConnection))
  )

const backends = [
  { name: "sqlite", layer: Backends.sqlite() },
  ...(Backends.skipPostgres() ? [] : [{ name: "postgres", layer: Backends.postgres() }])
]

describe("AgentMemory.layerSql across processes", () => {
  for (const backend of backends) {
    it.scopedLive(
      `${backend.name}: one process's writes are seen by the other at its next call; a key stays single`,
      () =>
        Effect.gen(function*() {
          const database = yield* Backends.TestDatabase
          const a = yield* AgentMemory.AgentMemory
          const otherContext = yield* Layer.build(
            AgentMemory.layerSql({ team: "t" }).pipe(Layer.provide(Layer.merge(second(database), deps("b"))))
          )
          const b = Context.get(otherContext, AgentMemory.AgentMemory)
          const x = yield* a.add({ text: "written by a", type: "fact" })
          assert.deepStrictEqual((yield* b.recall()).memories.map((r) => r.memory.text), ["written by a"])
          yield* b.touch([x.memory.id])
          assert.strictEqual((yield* a.recall()).memories[0]!.memory.accessCount, 1)
          // both processes add the same key at once, 10 times each
          yield* Effect.all(
            Array.from(
              { length: 20 },
              (_, i) => (i % 2 === 0 ? a : b).add({ text: `city ${i}`, type: "fact", key: "user/city" })
            ),
            { concurrency: "unbounded" }
          )
          for (const m of [a, b]) {
            const live = (yield* m.recall({ topK: 50 })).memories.filter((r) => r.memory.key === "user/city")
            assert.lengthOf(live, 1)
          }
          const history = yield* a.history({ key: "user/city" })
          assert.lengthOf(history, 20)
          assert.lengthOf(history.filter((h) => h.supersededBy === undefined), 1)
          yield* a.forget(x.memory.id)
          assert.isFalse((yield* b.recall()).memories.some((r) => r.memory.id === x.memory.id))
          assert.strictEqual(yield* b.clear(), 1)
          assert.strictEqual((yield* a.stats()).total, 0)
        }).pipe(
          Effect.provide(
            AgentMemory.layerSql({ team: "t" }).pipe(Layer.provideMerge(Layer.merge(backend.layer, deps("a"))))
          )
        ),
      30_000
    )

    // Another process supersedes a key while this one reads what changed
    // (between its statements): the old memory must not come back beside the
    // new one. The write is injected before the read of changed rows.
    it.scopedLive(
      `${backend.name}: a key superseded in the middle of a sync is never recalled`,
      () =>
        Effect.gen(function*() {
          const database = yield* Backends.TestDatabase
          const a = yield* AgentMemory.AgentMemory
          const otherContext = yield* Layer.build(
            AgentMemory.layerSql({ team: "r" }).pipe(Layer.provide(Layer.merge(second(database), deps("b"))))
          )
          const b = Context.get(otherContext, AgentMemory.AgentMemory)
          yield* a.add({ text: "lives in Paris", type: "fact", key: "user/city" })
          yield* b.add({ text: "likes tea", type: "fact" })
          let armed = true
          const recalled = yield* a.recall({ topK: 10 }).pipe(Statement.withTransformer((statement) => {
            const [text] = statement.compile()
            if (!armed || !text.includes("version >") || !text.includes("live = 1")) return Effect.succeed(statement)
            armed = false
            return elsewhere(
              b.add({ text: "moved to Berlin", type: "fact", key: "user/city" })
            ).pipe(Effect.orDie, Effect.as(statement))
          }))
          assert.isFalse(armed, "the write was injected")
          const cities = (r: Memory.Recall) =>
            r.memories.filter((m) => m.memory.key === "user/city").map((m) => m.memory.text)
          assert.notInclude(cities(recalled), "lives in Paris")
          assert.deepStrictEqual(cities(yield* a.recall({ topK: 10 })), ["moved to Berlin"])
        }).pipe(
          Effect.provide(
            AgentMemory.layerSql({ team: "r" }).pipe(Layer.provideMerge(Layer.merge(backend.layer, deps("a"))))
          )
        ),
      30_000
    )

    // Another process forgets a memory between this one's sync and its merge
    // into that memory: the merge must not vanish with it.
    it.scopedLive(
      `${backend.name}: a merge into a memory another process just removed stores it anew`,
      () =>
        Effect.gen(function*() {
          const database = yield* Backends.TestDatabase
          const a = yield* AgentMemory.AgentMemory
          const otherContext = yield* Layer.build(
            AgentMemory.layerSql({ team: "s" }).pipe(Layer.provide(Layer.merge(second(database), deps("b"))))
          )
          const b = Context.get(otherContext, AgentMemory.AgentMemory)
          const first = yield* a.add({ text: "the API is rate-limited", type: "fact" })
          let armed = true
          const again = yield* a.add({ text: "the API is rate-limited", type: "fact" }).pipe(
            Statement.withTransformer((statement) => {
              const [text] = statement.compile()
              if (!armed || !text.includes("agentos_memory_teams") || !text.startsWith("INSERT")) {
                return Effect.succeed(statement)
              }
              armed = false
              return elsewhere(b.forget(first.memory.id)).pipe(
                Effect.orDie,
                Effect.as(statement)
              )
            })
          )
          assert.isFalse(armed, "the forget was injected")
          assert.strictEqual(again.outcome, "added")
          for (const m of [a, b]) {
            const texts = (yield* m.recall({ topK: 10 })).memories.map((r) => r.memory.text)
            assert.deepStrictEqual(texts, ["the API is rate-limited"])
          }
        }).pipe(
          Effect.provide(
            AgentMemory.layerSql({ team: "s" }).pipe(Layer.provideMerge(Layer.merge(backend.layer, deps("a"))))
          )
        ),
      30_000
    )

    // Another process merges into the same memory between this one's sync
    // and its merge: both merges must be kept (no lost update).
    it.scopedLive(
      `${backend.name}: two processes merging into one memory at once keep both merges`,
      () =>
        Effect.gen(function*() {
          const database = yield* Backends.TestDatabase
          const a = yield* AgentMemory.AgentMemory
          const otherContext = yield* Layer.build(
            AgentMemory.layerSql({ team: "m" }).pipe(Layer.provide(Layer.merge(second(database), deps("b"))))
          )
          const b = Context.get(otherContext, AgentMemory.AgentMemory)
          const text = "the API is rate-limited"
          const first = yield* a.add({ text, type: "fact", importance: 0.2, metadata: { a: 1 } })
          assert.strictEqual((yield* b.recall()).memories.length, 1)
          let armed = true
          const fromB = Effect.suspend(() => b.add({ text, type: "fact", importance: 0.9, metadata: { b: 2 } }))
          const again = yield* a.add({ text, type: "fact", importance: 0.3, metadata: { c: 3 } }).pipe(
            Statement.withTransformer((statement) => {
              const [sqlText] = statement.compile()
              if (!armed || !sqlText.includes("agentos_memory_teams") || !sqlText.startsWith("INSERT")) {
                return Effect.succeed(statement)
              }
              armed = false
              return elsewhere(fromB).pipe(
                Effect.tap((added) => assert.strictEqual(added.outcome, "merged")),
                Effect.orDie,
                Effect.as(statement)
              )
            })
          )
          assert.isFalse(armed, "the other merge was injected")
          assert.strictEqual(again.outcome, "merged")
          assert.deepStrictEqual(again.memory.metadata, { a: 1, b: 2, c: 3 })
          assert.strictEqual(again.memory.importance, 0.9)
          for (const m of [a, b]) {
            const stored = yield* m.get(first.memory.id)
            assert.deepStrictEqual(stored.metadata, { a: 1, b: 2, c: 3 })
            assert.strictEqual(stored.importance, 0.9)
            const [recalled] = (yield* m.recall()).memories
            assert.deepStrictEqual(recalled!.memory.metadata, { a: 1, b: 2, c: 3 })
          }
        }).pipe(
          Effect.provide(
            AgentMemory.layerSql({ team: "m" }).pipe(Layer.provideMerge(Layer.merge(backend.layer, deps("a"))))
          )
        ),
      30_000
    )

    // Another process adds the same text between this one's sync and its
    // insert: the second add merges into the first instead of duplicating it.
    it.scopedLive(
      `${backend.name}: two processes adding identical text at once keep one memory`,
      () =>
        Effect.gen(function*() {
          const database = yield* Backends.TestDatabase
          const a = yield* AgentMemory.AgentMemory
          const otherContext = yield* Layer.build(
            AgentMemory.layerSql({ team: "d" }).pipe(Layer.provide(Layer.merge(second(database), deps("b"))))
          )
          const b = Context.get(otherContext, AgentMemory.AgentMemory)
          const text = "the deploy needs approval"
          let armed = true
          const fromA = yield* a.add({ text, type: "fact", importance: 0.4, metadata: { a: 1 } }).pipe(
            Statement.withTransformer((statement) => {
              const [sqlText] = statement.compile()
              if (!armed || !sqlText.includes("agentos_memory_teams") || !sqlText.startsWith("INSERT")) {
                return Effect.succeed(statement)
              }
              armed = false
              return elsewhere(
                b.add({ text, type: "fact", importance: 0.7, metadata: { b: 2 } })
              ).pipe(Effect.orDie, Effect.as(statement))
            })
          )
          assert.isFalse(armed, "the other add was injected")
          assert.strictEqual(fromA.outcome, "merged")
          for (const m of [a, b]) {
            const recalled = (yield* m.recall({ topK: 10 })).memories.map((r) => r.memory)
            assert.lengthOf(recalled, 1)
            assert.deepStrictEqual(recalled[0]!.metadata, { a: 1, b: 2 })
            assert.strictEqual(recalled[0]!.importance, 0.7)
          }
        }).pipe(
          Effect.provide(
            AgentMemory.layerSql({ team: "d" }).pipe(Layer.provideMerge(Layer.merge(backend.layer, deps("a"))))
          )
        ),
      30_000
    )

    // Another process supersedes a memory between this one's sync and its
    // forget (or eviction) of it: the superseded memory stays in history.
    it.scopedLive(
      `${backend.name}: forgetting a memory another process just superseded keeps it in history`,
      () =>
        Effect.gen(function*() {
          const database = yield* Backends.TestDatabase
          const a = yield* AgentMemory.AgentMemory
          const otherContext = yield* Layer.build(
            AgentMemory.layerSql({ team: "h" }).pipe(Layer.provide(Layer.merge(second(database), deps("b"))))
          )
          const b = Context.get(otherContext, AgentMemory.AgentMemory)
          const paris = yield* a.add({ text: "lives in Paris", type: "fact", key: "user/city" })
          let armed = true
          yield* a.forget(paris.memory.id).pipe(Statement.withTransformer((statement) => {
            const [text] = statement.compile()
            if (!armed || !text.includes("agentos_memory_teams") || !text.startsWith("INSERT")) {
              return Effect.succeed(statement)
            }
            armed = false
            return elsewhere(
              b.add({ text: "moved to Berlin", type: "fact", key: "user/city" })
            ).pipe(Effect.orDie, Effect.as(statement))
          }))
          assert.isFalse(armed, "the superseding add was injected")
          for (const m of [a, b]) {
            const history = yield* m.history({ key: "user/city" })
            assert.deepStrictEqual(history.map((h) => h.text), ["lives in Paris", "moved to Berlin"])
            assert.deepStrictEqual((yield* m.recall()).memories.map((r) => r.memory.text), ["moved to Berlin"])
          }
        }).pipe(
          Effect.provide(
            AgentMemory.layerSql({ team: "h" }).pipe(Layer.provideMerge(Layer.merge(backend.layer, deps("a"))))
          )
        ),
      30_000
    )

    // Another process trims the log of removed ids while this one reads what
    // changed (between its statements): an id removed before the trim must
    // not be kept because its log entry vanished under the read.
    it.scoped(
      `${backend.name}: a memory whose removal is trimmed in the middle of a sync is never recalled`,
      () =>
        Effect.gen(function*() {
          const database = yield* Backends.TestDatabase
          const a = yield* AgentMemory.AgentMemory
          const otherContext = yield* Layer.build(
            AgentMemory.layerSql({ team: "z", syncRetentionHours: 1 }).pipe(
              Layer.provide(Layer.merge(second(database), deps("b")))
            )
          )
          const b = Context.get(otherContext, AgentMemory.AgentMemory)
          const texts = (r: Memory.Recall) => r.memories.map((m) => m.memory.text)
          const old = yield* a.add({ text: "old note", type: "fact" })
          yield* a.add({ text: "kept", type: "fact" })
          assert.sameMembers(texts(yield* b.recall({ topK: 10 })), ["old note", "kept"])
          yield* a.forget(old.memory.id)
          yield* TestClock.adjust("2 hours")
          let armed = true
          const recalled = yield* b.recall({ topK: 10 }).pipe(Statement.withTransformer((statement) => {
            const [text] = statement.compile()
            if (!armed || !text.includes("version >") || !text.includes("live = 1")) return Effect.succeed(statement)
            armed = false
            // past the retention: this write trims the forget's log entry
            return elsewhere(a.add({ text: "new", type: "fact" })).pipe(
              Effect.orDie,
              Effect.as(statement)
            )
          }))
          assert.isFalse(armed, "the trimming write was injected")
          assert.notInclude(texts(recalled), "old note")
          assert.sameMembers(texts(yield* b.recall({ topK: 10 })), ["kept", "new"])
        }).pipe(
          Effect.provide(
            AgentMemory.layerSql({ team: "z", syncRetentionHours: 1 }).pipe(
              Layer.provideMerge(Layer.merge(backend.layer, deps("a")))
            )
          )
        ),
      30_000
    )

    it.effect(`${backend.name}: a stored row that is not a memory is a StoreError, never passed on`, () =>
      Effect.gen(function*() {
        const m = yield* AgentMemory.AgentMemory
        const sql = yield* SqlClient.SqlClient
        const { memory } = yield* m.add({ text: "fine", type: "fact" })
        yield* sql`UPDATE agentos_memory_entries SET data = ${"{\"text\": 1}"} WHERE id = ${memory.id}`
        const error = yield* Effect.flip(
          Layer.build(AgentMemory.layerSql().pipe(Layer.provide(deps("c")))).pipe(Effect.scoped)
        )
        assert.strictEqual(error._tag, "StoreError")
        assert.include(error.message, "does not decode")
      }).pipe(
        Effect.provide(AgentMemory.layerSql().pipe(Layer.provideMerge(Layer.merge(backend.layer, deps("a")))))
      ))
  }
})
