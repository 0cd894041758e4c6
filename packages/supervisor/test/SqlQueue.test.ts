// The SQL queue beyond the published suite: leases follow the database's
// clock, not the runner's Effect Clock; and on Postgres, claims and offers
// racing from two connection pools (two "processes") keep every bound.
import { Backends } from "@agentos/testkit"
import * as SqlClient from "@effect/sql/SqlClient"
import { assert, describe, it } from "@effect/vitest"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Fiber from "effect/Fiber"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Stream from "effect/Stream"
import * as TestClock from "effect/TestClock"
import * as TestServices from "effect/TestServices"
import * as TaskQueue from "../src/TaskQueue.js"
import { record } from "../src/Testing.js"

const claimOptions = (leaseMillis: number, limits: TaskQueue.GroupLimits = {}): TaskQueue.ClaimOptions => ({
  limits,
  holder: "test",
  leaseMillis
})

describe("TaskQueue.layerSql leases", () => {
  for (const backend of Backends.sqlBackends()) {
    it.effect(
      `a lease expires by the database's clock, not the runner's Effect Clock — ${backend.name}`,
      () =>
        Effect.gen(function*() {
          const queue = yield* TaskQueue.TaskQueue
          yield* queue.offer(record({ id: "a" }), { maxQueued: 10 })
          // Leases of 2 s: long enough for a loaded machine to reach the next statements in time.
          const claim = Option.getOrThrow(yield* queue.claim("t", claimOptions(2_000)))
          // The Effect Clock jumps an hour ahead: for the database the lease is still live.
          yield* TestClock.adjust("1 hour")
          assert.strictEqual((yield* queue.reclaim({ maxDeliveries: 3 })).requeued, 0)
          assert.strictEqual((yield* queue.renew("a", claim.token, 500))._tag, "Renewed")
          // Real time passes the lease while the Effect Clock stands still: now it has expired.
          yield* TestServices.provideLive(Effect.sleep("800 millis"))
          assert.strictEqual((yield* queue.reclaim({ maxDeliveries: 3 })).requeued, 1)
          assert.strictEqual((yield* queue.renew("a", claim.token, 500))._tag, "Lost")
        }).pipe(Effect.provide(TaskQueue.layerSql().pipe(Layer.provide(backend.layer)))),
      30_000
    )

    it.effect(
      `a renewal that comes late, past the expiry but before any reclaim, still renews: the runner keeps its task — ${backend.name}`,
      () =>
        Effect.gen(function*() {
          const queue = yield* TaskQueue.TaskQueue
          yield* queue.offer(record({ id: "a" }), { maxQueued: 10 })
          const claim = Option.getOrThrow(yield* queue.claim("t", claimOptions(300)))
          // The runner's event loop stalls (a loaded machine) past its lease; nobody reclaimed the task.
          yield* TestServices.provideLive(Effect.sleep("600 millis"))
          assert.deepStrictEqual(yield* queue.renew("a", claim.token, 60_000), {
            _tag: "Renewed",
            cancelRequested: false
          })
          // Renewed: a reclaim now finds nothing expired, and the runner's end is accepted.
          assert.strictEqual((yield* queue.reclaim({ maxDeliveries: 3 })).requeued, 0)
          assert.isTrue(yield* queue.end("a", claim.token, { status: "completed", result: 1 }))
        }).pipe(Effect.provide(TaskQueue.layerSql().pipe(Layer.provide(backend.layer)))),
      30_000
    )
  }
})

// Two pools on one schema, each with its own queue layer.
const pair = Effect.gen(function*() {
  const base = yield* Layer.build(
    Layer.provideMerge(TaskQueue.layerSql(), Backends.postgres({ maxConnections: 8 }))
  )
  const database = base.unsafeMap.get(Backends.TestDatabase.key) as Backends.TestDatabase["Type"]
  const other = yield* Layer.build(
    TaskQueue.layerSql().pipe(Layer.provide(Backends.postgres({ schema: database.schema!, maxConnections: 8 })))
  )
  return [
    base.unsafeMap.get(TaskQueue.TaskQueue.key) as TaskQueue.TaskQueueService,
    other.unsafeMap.get(TaskQueue.TaskQueue.key) as TaskQueue.TaskQueueService
  ] as const
})

describe.skipIf(Backends.skipPostgres())("TaskQueue.layerSql on Postgres, two processes", () => {
  it.live("concurrent claims take every task exactly once and keep a group's limit", () =>
    Effect.gen(function*() {
      const [a, b] = yield* pair
      for (let i = 0; i < 40; i++) yield* a.offer(record({ id: `t${i}` }), { maxQueued: 1_000 })
      for (let i = 0; i < 6; i++) yield* a.offer(record({ id: `g${i}`, type: "g", groupKey: "g" }), { maxQueued: 100 })
      const claimAll = (queue: TaskQueue.TaskQueueService) =>
        Effect.gen(function*() {
          const ids: Array<string> = []
          for (;;) {
            const claim = yield* queue.claim("t", claimOptions(60_000))
            if (Option.isNone(claim)) return ids
            ids.push(claim.value.record.id)
          }
        })
      const claimed = yield* Effect.all([claimAll(a), claimAll(b), claimAll(a), claimAll(b)], {
        concurrency: "unbounded"
      })
      const all = claimed.flat().sort()
      assert.strictEqual(all.length, 40)
      assert.strictEqual(new Set(all).size, 40)
      const limits = { byGroup: { g: 2 } }
      const grouped = yield* Effect.all(
        Array.from({ length: 8 }, (_, i) => (i % 2 === 0 ? a : b).claim("g", claimOptions(60_000, limits))),
        { concurrency: "unbounded" }
      )
      assert.strictEqual(grouped.filter(Option.isSome).length, 2)
      assert.deepStrictEqual((yield* b.stats).byGroup, { g: { queued: 4, running: 2 } })
    }).pipe(Effect.scoped), 60_000)

  it.live("concurrent offers never pass a type's bound", () =>
    Effect.gen(function*() {
      const [a, b] = yield* pair
      const offers = yield* Effect.all(
        Array.from({ length: 24 }, (_, i) => (i % 2 === 0 ? a : b).offer(record({ id: `o${i}` }), { maxQueued: 5 })),
        { concurrency: "unbounded" }
      )
      assert.strictEqual(offers.filter((offer) => offer._tag === "Queued").length, 5)
      assert.strictEqual(yield* a.depth("t"), 5)
    }).pipe(Effect.scoped), 60_000)
})

// A queue with its SqlClient, for tests that reach into the table.
const withClient = Effect.gen(function*() {
  const context = yield* Layer.build(Layer.provideMerge(TaskQueue.layerSql(), Backends.postgres()))
  return {
    queue: Context.get(context, TaskQueue.TaskQueue),
    sql: Context.get(context, SqlClient.SqlClient)
  }
})

describe.skipIf(Backends.skipPostgres())("TaskQueue.layerSql reclaim on Postgres", () => {
  it.live(
    "a lease that expires while reclaim runs is neither requeued unpoisoned nor requeued cancelled",
    () =>
      Effect.gen(function*() {
        const { queue, sql } = yield* withClient
        // Statement triggers expire a lease just after one of reclaim's statements
        // has passed it over, as the database's clock would between two statements.
        yield* sql.unsafe(`CREATE FUNCTION expire_between() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
          IF pg_trigger_depth() = 1 AND current_query() LIKE '%state = ''cancelled''%holder = NULL%' THEN
            UPDATE agentos_supervisor_tasks SET lease_expires_at = 0 WHERE id = 'b' AND state = 'running';
          END IF;
          IF pg_trigger_depth() = 1 AND current_query() LIKE '%lost = lost + 1, poisoned = 1%' THEN
            UPDATE agentos_supervisor_tasks SET lease_expires_at = 0 WHERE id = 'a' AND state = 'running';
          END IF;
          RETURN NULL;
        END $$`)
        yield* sql.unsafe(`CREATE TRIGGER expire_between AFTER UPDATE ON agentos_supervisor_tasks
        FOR EACH STATEMENT EXECUTE FUNCTION expire_between()`)
        yield* queue.offer(record({ id: "a" }), { maxQueued: 10 })
        yield* queue.offer(record({ id: "b", type: "u" }), { maxQueued: 10 })
        Option.getOrThrow(yield* queue.claim("t", claimOptions(60_000)))
        Option.getOrThrow(yield* queue.claim("u", claimOptions(60_000)))
        assert.strictEqual((yield* queue.cancel("b"))._tag, "Requested")
        // Each lease expires mid-reclaim; whatever the first reclaim does, the next one finishes the job.
        yield* queue.reclaim({ maxDeliveries: 1 })
        yield* queue.reclaim({ maxDeliveries: 1 })
        // "a" lost its one allowed delivery: a poison task, never run again.
        const again = Option.getOrThrow(yield* queue.claim("t", claimOptions(60_000)))
        assert.deepStrictEqual([again.poisoned, again.lostDeliveries], [true, 1])
        // "b" was asked to cancel: it ends cancelled, it is not queued to run again.
        const b = Option.getOrThrow(yield* queue.status("b"))
        assert.deepStrictEqual([b.status, b.lostDeliveries], ["cancelled", 0])
      }).pipe(Effect.scoped),
    30_000
  )
})

describe.skipIf(Backends.skipPostgres())("TaskQueue.layerSql claims and ends on Postgres", () => {
  it.live(
    "go only through the functions of the migrations, whatever the limits and leases",
    () =>
      Effect.gen(function*() {
        const { queue, sql } = yield* withClient
        yield* queue.offer(record({ id: "a", groupKey: "g" }), { maxQueued: 10 })
        yield* queue.offer(record({ id: "b", groupKey: "g" }), { maxQueued: 10 })
        const first = Option.getOrThrow(yield* queue.claim("t", claimOptions(60_000, { default: 2 })))
        // The functions replaced by ones that claim and end nothing: every path follows them.
        yield* sql.unsafe(`CREATE OR REPLACE FUNCTION agentos_supervisor_claim(p_type text, p_holder text,
          p_ttl bigint, p_default integer, p_by_group jsonb)
        RETURNS TABLE (id text, record jsonb, state text, token bigint, deliveries integer, lost integer,
          failures integer, poisoned integer, cancel_requested integer, outcome jsonb, finished_at bigint,
          group_key text)
        LANGUAGE plpgsql AS $$ BEGIN RETURN; END $$`)
        yield* sql.unsafe(`CREATE OR REPLACE FUNCTION agentos_supervisor_end(p_status text, p_outcome jsonb,
          p_id text, p_token bigint, p_counts_failure integer)
        RETURNS bigint LANGUAGE plpgsql AS $$ BEGIN RETURN 0; END $$`)
        yield* sql.unsafe(`CREATE OR REPLACE FUNCTION agentos_supervisor_end_then_claim_lean(p_status text,
          p_outcome jsonb, p_id text, p_token bigint, p_counts_failure integer, p_type text, p_holder text,
          p_ttl bigint, p_default integer, p_by_group jsonb)
        RETURNS TABLE (ended bigint, id text, record jsonb, token bigint, deliveries integer, lost integer,
          failures integer, poisoned integer)
        LANGUAGE plpgsql AS $$ BEGIN
          RETURN QUERY SELECT 0::bigint, NULL::text, NULL::jsonb, NULL::bigint, NULL::integer, NULL::integer,
            NULL::integer, NULL::integer;
        END $$`)
        const found: Array<boolean> = [
          Option.isSome(yield* queue.take("t", {})),
          Option.isSome(yield* queue.take("t", { byGroup: { g: 5 } })),
          Option.isSome(yield* queue.claim("t", claimOptions(60_000))),
          Option.isSome(yield* queue.claim("t", claimOptions(60_000, { default: 2 }))),
          Option.isSome(
            (yield* queue.endThenClaim(
              { id: "a", token: first.token, outcome: { status: "completed", result: 1 } },
              "t",
              claimOptions(60_000, { byGroup: { g: 2 } })
            )).next
          )
        ]
        assert.deepStrictEqual(found, [false, false, false, false, false])
        assert.isFalse(yield* queue.end("a", first.token, { status: "completed", result: 1 }))
        assert.deepStrictEqual(
          [(yield* queue.status("a")).pipe(Option.map((task) => task.status)), yield* queue.depth("t")],
          [Option.some("running"), 1]
        )
      }).pipe(Effect.scoped),
    30_000
  )
})

describe.skipIf(Backends.skipPostgres())("TaskQueue.layerSql migrations on Postgres", () => {
  it.live(
    "keep the claim functions of the previous release (a rolling upgrade): its processes still claim and end",
    () =>
      Effect.gen(function*() {
        const { queue, sql } = yield* withClient
        yield* queue.offer(record({ id: "a" }), { maxQueued: 10 })
        yield* queue.offer(record({ id: "b" }), { maxQueued: 10 })
        // As a process of the previous release calls them (migration 0004's signatures).
        const claimed = yield* sql.unsafe<{ readonly id: string; readonly token: string | number }>(
          `SELECT * FROM agentos_supervisor_claim($1::text, $2::text, $3::bigint)`,
          ["t", "old-runner", 60_000]
        )
        assert.deepStrictEqual(claimed.map((row) => row.id), ["a"])
        const next = yield* sql.unsafe<{ readonly ended: string | number; readonly id: string | null }>(
          `SELECT * FROM agentos_supervisor_end_then_claim($1::text, $2::jsonb, $3::text, $4::bigint, $5::integer,
            $6::text, $7::text, $8::bigint)`,
          [
            "completed",
            JSON.stringify({ status: "completed", result: 1 }),
            "a",
            claimed[0]!.token,
            0,
            "t",
            "old-runner",
            60_000
          ]
        )
        assert.deepStrictEqual(next.map((row) => [Number(row.ended), row.id]), [[1, "b"]])
        assert.deepStrictEqual(
          (yield* queue.status("a")).pipe(Option.map((task) => task.status)),
          Option.some("completed")
        )
        // And as a process of the release before 0006 calls them (0005's signatures).
        const b = yield* sql.unsafe<{ readonly token: string | number }>(
          `SELECT token FROM agentos_supervisor_tasks WHERE id = 'b'`
        )
        yield* queue.offer(record({ id: "c" }), { maxQueued: 10 })
        const then = yield* sql.unsafe<{ readonly ended: string | number; readonly id: string | null }>(
          `SELECT * FROM agentos_supervisor_end_then_claim($1::text, $2::jsonb, $3::text, $4::bigint, $5::integer,
            $6::text, $7::text, $8::bigint, $9::integer, $10::jsonb)`,
          [
            "completed",
            JSON.stringify({ status: "completed", result: 2 }),
            "b",
            b[0]!.token,
            0,
            "t",
            "old-runner",
            60_000,
            null,
            null
          ]
        )
        assert.deepStrictEqual(then.map((row) => [Number(row.ended), row.id]), [[1, "c"]])
        assert.deepStrictEqual(
          (yield* queue.status("b")).pipe(Option.map((task) => task.status)),
          Option.some("completed")
        )
      }).pipe(Effect.scoped),
    30_000
  )
})

describe.skipIf(Backends.skipPostgres())("TaskQueue.layerSql notifications on Postgres", () => {
  it.live("a schema whose name is too long for a channel name still offers and notifies", () =>
    Effect.gen(function*() {
      const { sql } = yield* withClient
      // 60 characters: with the channel's prefix, past Postgres's 63-byte names.
      const schema = `agentos_long_${"x".repeat(47)}`
      yield* sql`CREATE SCHEMA ${sql(schema)}`
      yield* Effect.addFinalizer(() => Effect.ignore(sql`DROP SCHEMA IF EXISTS ${sql(schema)} CASCADE`))
      const context = yield* Layer.build(TaskQueue.layerSql().pipe(Layer.provide(Backends.postgres({ schema }))))
      const queue = Context.get(context, TaskQueue.TaskQueue)
      const heard = yield* Effect.fork(Stream.runHead(queue.notifications))
      // LISTEN is set up asynchronously: offered until one is heard.
      for (let i = 0; i < 40; i++) {
        assert.strictEqual((yield* queue.offer(record({ id: `n${i}` }), { maxQueued: 100 }))._tag, "Queued")
        const got = yield* Effect.timeout(Fiber.join(heard), "250 millis").pipe(Effect.option)
        if (Option.isSome(got)) {
          assert.deepStrictEqual(got.value, Option.some("t"))
          return
        }
      }
      assert.fail("no notification was heard")
    }).pipe(Effect.scoped), 30_000)
})

describe("TaskQueue.layerSql on SQLite", () => {
  it.effect("the next seq (MAX + 1, on every offer and end) is read from an index, not a scan of the table", () =>
    Effect.gen(function*() {
      const context = yield* Layer.build(Layer.provideMerge(TaskQueue.layerSql(), Backends.sqlite()))
      const sql = Context.get(context, SqlClient.SqlClient)
      const plan = yield* sql<{ detail: string }>`EXPLAIN QUERY PLAN
        SELECT COALESCE(MAX(seq), 0) + 1 FROM agentos_supervisor_tasks`
      const details = plan.map((row) => row.detail)
      assert.isTrue(details.some((detail) => /USING (COVERING )?INDEX/.test(detail)), details.join("; "))
    }).pipe(Effect.scoped))
})

describe.skipIf(Backends.skipPostgres())("TaskQueue.layerSql prepared statements on Postgres", () => {
  // One connection, so the session whose prepared statements are listed is the queue's.
  const prepared = (options: TaskQueue.SqlOptions) =>
    Effect.gen(function*() {
      const context = yield* Layer.build(
        Layer.provideMerge(TaskQueue.layerSql(options), Backends.postgres({ maxConnections: 1 }))
      )
      const queue = Context.get(context, TaskQueue.TaskQueue)
      const sql = Context.get(context, SqlClient.SqlClient)
      yield* queue.offer(record({ id: "a" }), { maxQueued: 10 })
      yield* queue.offer(record({ id: "b" }), { maxQueued: 10 })
      const first = Option.getOrThrow(yield* queue.claim("t", claimOptions(60_000)))
      const next = yield* queue.endThenClaim(
        { id: first.record.id, token: first.token, outcome: { status: "completed", result: 1 } },
        "t",
        claimOptions(60_000)
      )
      assert.isTrue(Option.isSome(next.next))
      const rows = yield* sql<{ readonly name: string }>`SELECT name FROM pg_prepared_statements
        WHERE name LIKE 'agentos_supervisor_%'`
      return rows.length
    }).pipe(Effect.scoped)

  it.live(
    "the claim and end statements are prepared once a connection by default, and not when turned off",
    () =>
      Effect.gen(function*() {
        assert.isAtLeast(yield* prepared({}), 2)
        assert.strictEqual(yield* prepared({ preparedStatements: false }), 0)
      }),
    30_000
  )
})
