import * as Lease from "@agentos/core/Lease"
import * as Sql from "@agentos/core/Sql"
import { Backends } from "@agentos/testkit"
import * as SqlClient from "@effect/sql/SqlClient"
import * as Statement from "@effect/sql/Statement"
import { assert, describe, it } from "@effect/vitest"
import BetterSqlite from "better-sqlite3"
import * as Context from "effect/Context"
import * as Deferred from "effect/Deferred"
import * as Effect from "effect/Effect"
import * as Fiber from "effect/Fiber"
import * as Layer from "effect/Layer"
import * as Ref from "effect/Ref"
import * as TestClock from "effect/TestClock"
import * as DeadLetterQueue from "../src/DeadLetterQueue.js"
import { input } from "../src/Testing.js"

describe("DeadLetterQueue.layerSql", () => {
  for (const backend of Backends.sqlBackends()) {
    it.effect(`${backend.name}: a row that is not a letter is a StoreError, never passed on`, () =>
      Effect.gen(function*() {
        const dlq = yield* DeadLetterQueue.DeadLetterQueue
        const sql = yield* SqlClient.SqlClient
        const { letter } = yield* dlq.add(input())
        yield* sql`UPDATE agentos_dlq_letters SET data = ${"{\"id\": 1}"} WHERE id = ${letter.id}`.pipe(
          Effect.provide(Layer.empty)
        )
        const error = yield* Effect.flip(dlq.get(letter.id))
        assert.strictEqual(error._tag, "StoreError")
        assert.include(error.message, "does not decode")
        const listed = yield* Effect.flip(dlq.list())
        assert.strictEqual(listed._tag, "StoreError")
      }).pipe(Effect.provide(Layer.provideMerge(DeadLetterQueue.layerSql(), backend.layer))))

    it.effect(`${backend.name}: claim expiry is judged by the database's clock, not Effect's Clock`, () =>
      Effect.gen(function*() {
        const dlq = yield* DeadLetterQueue.DeadLetterQueue
        const { letter } = yield* dlq.add(input())
        const gate = yield* Deferred.make<void>()
        const started = yield* Deferred.make<void>()
        const fiber = yield* Effect.fork(
          dlq.replay(letter.id, () => Effect.zipRight(Deferred.succeed(started, undefined), Deferred.await(gate)))
        )
        yield* Deferred.await(started)
        // Effect's clock jumps past the one-minute claim; the database's does not.
        yield* TestClock.adjust("1 hour")
        const blocked = yield* Effect.flip(dlq.replay(letter.id, () => Effect.void))
        assert.strictEqual(blocked._tag, "ReplayInProgress")
        if (blocked._tag === "ReplayInProgress") {
          const wall = Date.now()
          assert.isAbove(blocked.claimedUntil, wall, "the claim ends after the database's now")
          assert.isAtMost(blocked.claimedUntil, wall + 61_000)
        }
        yield* Deferred.succeed(gate, undefined)
        assert.strictEqual((yield* Fiber.join(fiber))._tag, "Succeeded")
      }).pipe(
        Effect.provide(Layer.provideMerge(DeadLetterQueue.layerSql({ claimTimeout: "1 minute" }), backend.layer))
      ))

    it.effect(`${backend.name}: a claim is taken as free by core's Lease rule, judged in the statement`, () =>
      Effect.gen(function*() {
        const dlq = yield* DeadLetterQueue.DeadLetterQueue
        const sql = yield* SqlClient.SqlClient
        // (On SQL the claim's expiry is judged by the database's clock, which
        // a test cannot stop at the boundary: the memory and file cases do
        // that. Here: every statement that takes a claim as free uses core's
        // condition, `claimed_until IS NULL OR claimed_until <= <db now>`.)
        const free = sql`SELECT ${Lease.sqlFree(sql, "claimed_until")}`.compile()[0].slice("SELECT ".length)
        const expires = sql`SELECT ${Sql.nowMillis(sql)}`.compile()[0].slice("SELECT ".length)
        const { letter } = yield* dlq.add(input())
        const other = yield* dlq.add(input({ taskId: "other" }))
        const statements: Array<string> = []
        yield* Effect.gen(function*() {
          yield* dlq.replay(letter.id, () => Effect.fail("still broken"))
          yield* dlq.resolve(other.letter.id, "by hand")
          yield* TestClock.adjust("1 hour")
          yield* dlq.purge({ resolvedOlderThan: 0 })
        }).pipe(
          Statement.withTransformer((statement) =>
            Effect.sync(() => {
              statements.push(statement.compile()[0])
              return statement
            })
          )
        )
        const claim = statements.filter((s) =>
          s.includes("claim_token = claim_token + 1, claimed_until =") && !s.includes("claimed_until = NULL")
        )
        const resolve = statements.filter((s) => s.includes("claim_token = claim_token + 1, claimed_until = NULL"))
        const purge = statements.filter((s) => s.startsWith("DELETE"))
        assert.strictEqual(claim.length, 1)
        assert.strictEqual(resolve.length, 1)
        assert.strictEqual(purge.length, 1)
        for (const statement of [...claim, ...resolve, ...purge]) assert.include(statement, free)
        assert.include(claim[0]!, `claimed_until = (${expires} + `)
      }).pipe(Effect.provide(Layer.provideMerge(DeadLetterQueue.layerSql(), backend.layer))))

    it.live(`${backend.name}: migrations are idempotent; two layers share one table and one replay wins`, () =>
      Effect.gen(function*() {
        const client = yield* Layer.build(backend.layer)
        const open = Layer.build(Layer.provide(DeadLetterQueue.layerSql(), Layer.succeedContext(client))).pipe(
          Effect.map((context) => Context.get(context, DeadLetterQueue.DeadLetterQueue))
        )
        const a = yield* open
        const b = yield* open
        const migrations = yield* Effect.flatMap(
          SqlClient.SqlClient,
          (sql) => sql<{ n: unknown }>`SELECT COUNT(*) AS n FROM agentos_dlq_migrations`
        ).pipe(Effect.provide(client))
        assert.strictEqual(Number(migrations[0]!.n), 1, "one migration, recorded once in the package's own table")
        const added = yield* a.add(input())
        assert.isTrue((yield* b.add(input())).duplicate)
        assert.strictEqual((yield* b.get(added.letter.id)).id, added.letter.id)
        // Two queues (as two processes would) race to replay one letter: one wins.
        // The winner's handler waits at the gate until the five losers have
        // finished (no fixed sleep: a loaded machine only makes it slower).
        const runs = yield* Ref.make(0)
        const finished = yield* Ref.make(0)
        const gate = yield* Deferred.make<void>()
        const handler = () => Effect.zipRight(Ref.update(runs, (n) => n + 1), Deferred.await(gate))
        const racers = yield* Effect.all(
          [a, b, a, b, a, b].map((q) =>
            Effect.fork(
              Effect.either(q.replay(added.letter.id, handler)).pipe(
                Effect.ensuring(Ref.update(finished, (n) => n + 1))
              )
            )
          ),
          { concurrency: "unbounded" }
        )
        while ((yield* Ref.get(finished)) < 5) yield* Effect.sleep("5 millis")
        yield* Deferred.succeed(gate, undefined)
        const outcomes = yield* Effect.forEach(racers, Fiber.join)
        const won = outcomes.filter((o) => o._tag === "Right")
        const lost = outcomes.filter((o) => o._tag === "Left" && o.left._tag === "ReplayInProgress")
        assert.strictEqual(won.length, 1)
        assert.strictEqual(lost.length, 5)
        assert.strictEqual(yield* Ref.get(runs), 1)
      }).pipe(Effect.scoped))
  }

  it.live("sqlite: a write that meets a busy database waits for the lock and succeeds, never a StoreError", () =>
    Effect.gen(function*() {
      const context = yield* Layer.build(Backends.sqlite())
      const database = Context.get(context, Backends.TestDatabase)
      const dlq = yield* Layer.build(Layer.provide(DeadLetterQueue.layerSql(), Layer.succeedContext(context))).pipe(
        Effect.map((built) => Context.get(built, DeadLetterQueue.DeadLetterQueue))
      )
      // The queue's connection meets SQLITE_BUSY at once instead of waiting
      // in SQLite's busy handler (which would block the event loop, and so
      // the other connection's commit, for the whole busy timeout).
      yield* Effect.flatMap(SqlClient.SqlClient, (sql) => sql`PRAGMA busy_timeout = 0`).pipe(Effect.provide(context))
      const other = yield* Effect.acquireRelease(
        Effect.sync(() => new BetterSqlite(database.filename!)),
        (db) => Effect.sync(() => db.close())
      )
      // Another connection holds the write lock for 100 ms during each write.
      const holdLock = Effect.zipRight(
        Effect.sync(() => other.exec("BEGIN IMMEDIATE")),
        Effect.fork(Effect.sleep("100 millis").pipe(Effect.ensuring(Effect.sync(() => other.exec("COMMIT")))))
      )
      let lock = yield* holdLock
      const { letter } = yield* dlq.add(input())
      yield* Fiber.join(lock)
      lock = yield* holdLock
      const outcome = yield* dlq.replay(letter.id, () => Effect.succeed("done"))
      assert.strictEqual(outcome._tag, "Succeeded")
      yield* Fiber.join(lock)
      yield* Effect.sleep("5 millis")
      lock = yield* holdLock
      assert.strictEqual(yield* dlq.purge({ resolvedOlderThan: 0 }), 1)
      yield* Fiber.join(lock)
      assert.strictEqual((yield* dlq.summary()).total, 0)
    }).pipe(Effect.scoped))
})
