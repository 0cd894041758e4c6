// A minimal store used to test the conformance kit itself: a correct memory
// layer, a correct SQL layer (on core's SQL support), and a deliberately
// wrong layer that a suite must catch. (Plain SQL: the kit does not depend on
// @agentos/core, whose own tests use the kit.)
import * as SqlClient from "@effect/sql/SqlClient"
import { assert } from "@effect/vitest"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Conformance from "../src/Conformance.js"

export interface KeyValue {
  readonly get: (key: string) => Effect.Effect<Option.Option<unknown>>
  readonly set: (key: string, value: unknown) => Effect.Effect<void>
  readonly remove: (key: string) => Effect.Effect<boolean>
  readonly size: Effect.Effect<number>
}
export const KeyValue = Context.GenericTag<KeyValue>("test/KeyValue")

export const layerMemory = Layer.sync(KeyValue, () => {
  const map = new Map<string, unknown>()
  return {
    get: (key) => Effect.sync(() => (map.has(key) ? Option.some(structuredClone(map.get(key))) : Option.none())),
    set: (key, value) => Effect.sync(() => void map.set(key, structuredClone(value))),
    remove: (key) => Effect.sync(() => map.delete(key)),
    size: Effect.sync(() => map.size)
  }
})

/** Forgets deletes: `remove` reports success but the key stays. */
export const layerWrong = Layer.sync(KeyValue, () => {
  const map = new Map<string, unknown>()
  return {
    get: (key) => Effect.sync(() => Option.fromNullable(map.get(key))),
    set: (key, value) => Effect.sync(() => void map.set(key, value)),
    remove: () => Effect.succeed(true),
    size: Effect.sync(() => map.size)
  }
})

export const layerSql = Layer.effect(
  KeyValue,
  Effect.gen(function*() {
    const sql = yield* SqlClient.SqlClient
    yield* sql`CREATE TABLE IF NOT EXISTS agentos_kvtest_entries (
      key text PRIMARY KEY,
      value text NOT NULL
    )`
    return {
      get: (key) =>
        sql<{ value: unknown }>`SELECT value FROM agentos_kvtest_entries WHERE key = ${key}`.pipe(
          Effect.map((rows) => Option.map(Option.fromNullable(rows[0]), (row) => JSON.parse(row.value as string))),
          Effect.orDie
        ),
      set: (key, value) =>
        sql`INSERT INTO agentos_kvtest_entries (key, value) VALUES (${key}, ${JSON.stringify(value)})
            ON CONFLICT (key) DO UPDATE SET value = excluded.value`.pipe(
          Effect.asVoid,
          Effect.orDie
        ),
      remove: (key) =>
        sql<{ key: string }>`DELETE FROM agentos_kvtest_entries WHERE key = ${key} RETURNING key`.pipe(
          Effect.map((rows) => rows.length > 0),
          Effect.orDie
        ),
      size: sql<{ n: unknown }>`SELECT COUNT(*) AS n FROM agentos_kvtest_entries`.pipe(
        Effect.map((rows) => Number(rows[0]!.n)),
        Effect.orDie
      )
    }
  })
).pipe(Layer.orDie)

export const suite: Conformance.Suite<KeyValue> = [
  Conformance.test(
    "a fresh store is empty",
    Effect.gen(function*() {
      const kv = yield* KeyValue
      assert.strictEqual(yield* kv.size, 0)
      assert.isTrue(Option.isNone(yield* kv.get("missing")))
    })
  ),
  Conformance.test(
    "set then get returns an equal value, not the same object",
    Effect.gen(function*() {
      const kv = yield* KeyValue
      const value = { nested: { list: [1, 2, 3], text: "héllo" }, flag: true }
      yield* kv.set("a", value)
      value.nested.list.push(4)
      assert.deepStrictEqual(
        yield* kv.get("a"),
        Option.some({ nested: { list: [1, 2, 3], text: "héllo" }, flag: true })
      )
    })
  ),
  Conformance.test(
    "remove deletes the key and reports whether it existed",
    Effect.gen(function*() {
      const kv = yield* KeyValue
      yield* kv.set("a", 1)
      assert.isTrue(yield* kv.remove("a"))
      assert.isTrue(Option.isNone(yield* kv.get("a")))
      assert.isFalse(yield* kv.remove("a"))
      assert.strictEqual(yield* kv.size, 0)
    })
  )
]
