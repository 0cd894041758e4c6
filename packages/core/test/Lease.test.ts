import { Conformance } from "@agentos/testkit"
import * as SqlClient from "@effect/sql/SqlClient"
import { assert, describe, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as TestClock from "effect/TestClock"
import * as Lease from "../src/Lease.js"
import * as Sql from "../src/Sql.js"

describe("Lease rule", () => {
  it("a lease is live before its expiry and free from its expiry on", () => {
    assert.isTrue(Lease.isLive(1_000, 999))
    assert.isFalse(Lease.isLive(1_000, 1_000))
    assert.isFalse(Lease.isLive(1_000, 1_001))
    assert.isFalse(Lease.isLive(null, 0))
    assert.isFalse(Lease.isLive(undefined, 0))
    assert.isTrue(Lease.isFree(1_000, 1_000))
    assert.strictEqual(Lease.remainingMillis(1_000, 400), 600)
    assert.strictEqual(Lease.remainingMillis(1_000, 1_000), 0)
  })
})

describe("Lease.makeMemory", () => {
  it.effect("grants a free key, refuses a live one, and frees it exactly at its expiry", () =>
    Effect.gen(function*() {
      const leases = Lease.makeMemory()
      const first = yield* leases.acquire("k", "a", 1_000)
      assert.strictEqual(first._tag, "Acquired")
      assert.deepStrictEqual(first.grant, { key: "k", holder: "a", token: 1, expiresAt: 1_000 })
      yield* TestClock.adjust(999)
      const held = yield* leases.acquire("k", "b", 1_000)
      assert.strictEqual(held._tag, "Held")
      assert.strictEqual(held.grant.holder, "a")
      yield* TestClock.adjust(1)
      assert.isUndefined(yield* leases.current("k"))
      const second = yield* leases.acquire("k", "b", 1_000)
      assert.strictEqual(second._tag, "Acquired")
      assert.strictEqual(second.grant.token, 2)
      assert.isFalse(leases.holds("k", 1), "the expired holder is fenced off once another holder took the key")
      assert.isTrue(leases.holds("k", 2))
    }))

  it.effect("tokens strictly increase per key, across releases, and respect minToken", () =>
    Effect.gen(function*() {
      const leases = Lease.makeMemory()
      const tokens: Array<number> = []
      for (let i = 0; i < 3; i++) {
        const outcome = yield* leases.acquire("k", `h${i}`, 100)
        tokens.push(outcome.grant.token)
        assert.isTrue(yield* leases.release("k", outcome.grant.token))
      }
      assert.deepStrictEqual(tokens, [1, 2, 3])
      const floor = yield* leases.acquire("k", "x", 100, { minToken: 10 })
      assert.strictEqual(floor.grant.token, 11)
      const other = yield* leases.acquire("other", "x", 100)
      assert.strictEqual(other.grant.token, 1)
      assert.strictEqual(leases.lastToken("k"), 11)
    }))

  it.effect("only the current token renews or releases; renewal works past expiry until someone takes the key", () =>
    Effect.gen(function*() {
      const leases = Lease.makeMemory()
      const a = yield* leases.acquire("k", "a", 100)
      yield* TestClock.adjust(150)
      const renewed = yield* leases.renew("k", a.grant.token, 100)
      assert.isTrue(Option.isSome(renewed))
      assert.strictEqual(Option.getOrThrow(renewed).expiresAt, 250)
      assert.isTrue(Option.isNone(yield* leases.renew("k", a.grant.token + 1, 100)))
      assert.isFalse(yield* leases.release("k", a.grant.token + 1))
      assert.isTrue(yield* leases.release("k", a.grant.token))
      assert.isTrue(Option.isNone(yield* leases.renew("k", a.grant.token, 100)), "a released lease is not renewed")
      assert.isFalse(yield* leases.release("k", a.grant.token), "a lease is released once")
    }))

  it.effect("re-entrant acquisition keeps the token and extends the expiry", () =>
    Effect.gen(function*() {
      const leases = Lease.makeMemory()
      const first = yield* leases.acquire("k", "a", 100)
      yield* TestClock.adjust(50)
      const again = yield* leases.acquire("k", "a", 100, { reentrant: true })
      assert.strictEqual(again._tag, "Acquired")
      assert.strictEqual(again.grant.token, first.grant.token)
      assert.strictEqual(again.grant.expiresAt, 150)
      const notReentrant = yield* leases.acquire("k", "a", 100)
      assert.strictEqual(notReentrant._tag, "Held")
    }))
})

const passthrough = Layer.effect(SqlClient.SqlClient, SqlClient.SqlClient)

Conformance.conformance("Lease SQL fragments", { sql: passthrough }, [
  Conformance.test(
    "sqlLive, sqlFree and sqlExpiresAt judge a lease by the database's clock, expired at its expiry",
    Effect.gen(function*() {
      const sql = yield* SqlClient.SqlClient
      yield* sql`CREATE TABLE lease_probe (id integer PRIMARY KEY, expires_at bigint)`
      const now = yield* Sql.now
      yield* sql`INSERT INTO lease_probe (id, expires_at) VALUES (1, ${now + 60_000}), (2, ${now - 1}), (3, NULL)`
      yield* sql`INSERT INTO lease_probe (id, expires_at) VALUES (4, ${Sql.nowMillis(sql)})`
      yield* sql`INSERT INTO lease_probe (id, expires_at) VALUES (5, ${Lease.sqlExpiresAt(sql, 60_000)})`
      const live = yield* sql<{ id: unknown }>`SELECT id FROM lease_probe WHERE ${
        Lease.sqlLive(sql, "expires_at")
      } ORDER BY id`
      const free = yield* sql<{ id: unknown }>`SELECT id FROM lease_probe WHERE ${
        Lease.sqlFree(sql, "lease_probe.expires_at")
      } ORDER BY id`
      assert.deepStrictEqual(live.map((row) => Sql.toNumber(row.id)), [1, 5])
      // Row 4 expires at the instant it was written: expired by the time it is read.
      assert.deepStrictEqual(free.map((row) => Sql.toNumber(row.id)), [2, 3, 4])
      const [row] = yield* sql<{ expires_at: unknown }>`SELECT expires_at FROM lease_probe WHERE id = 5`
      const expiresAt = Sql.toNumber(row!.expires_at)
      assert.isAtLeast(expiresAt, now + 60_000)
      assert.isBelow(expiresAt, now + 120_000)
    }),
    { live: true }
  )
])

describe("Lease SQL fragments", () => {
  it("refuse what is not a column name, and a ttl that is not a positive integer", () => {
    const fake = { literal: (s: string) => s } as unknown as SqlClient.SqlClient
    assert.throws(() => Lease.sqlLive(fake, "expires_at; DROP TABLE x"), /not a column name/)
    assert.throws(() => Lease.sqlExpiresAt(fake, 0), /positive integer/)
    assert.throws(() => Lease.sqlExpiresAt(fake, 1.5), /positive integer/)
  })
})
