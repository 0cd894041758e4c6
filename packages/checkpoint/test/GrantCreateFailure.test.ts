// A grant whose first checkpoint cannot be written fails with StoreError and
// leaves the lease free: on Postgres the grant and the insert are one
// transaction (rolled back together); on SQLite they are two statements, and
// the grant is ended when the insert fails. A lease left held would turn
// away every runner (the caller's retry included) with WorkflowBusy until its
// ttl ran out. A cancellation request pending on the lease stays pending for
// the next holder, as after Postgres's rollback.
import type { WorkflowId } from "@agentos/core/Ids"
import { Backends } from "@agentos/testkit"
import * as SqlClient from "@effect/sql/SqlClient"
import { assert, describe, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import { type Checkpoint, CheckpointStore, layerSql } from "../src/CheckpointStore.js"

const id = "wf-grant-create" as WorkflowId

const initial: Checkpoint = {
  workflowId: id,
  name: "demo",
  version: 1,
  status: "running",
  state: { n: 0 },
  completedSteps: [],
  attempts: {},
  run: 1,
  createdAt: 1_000,
  updatedAt: 1_000,
  epoch: 0
}

/** Every insert into the checkpoints table fails (a stand-in for a busy or broken database). */
const refuseInserts = (sql: SqlClient.SqlClient, backend: string) =>
  backend === "postgres"
    ? Effect.zipRight(
      sql`CREATE OR REPLACE FUNCTION refuse_insert() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN RAISE EXCEPTION 'insert refused'; END $$`,
      sql`CREATE TRIGGER refuse_insert BEFORE INSERT ON agentos_checkpoint_workflows
        FOR EACH ROW EXECUTE FUNCTION refuse_insert()`
    )
    : sql`CREATE TRIGGER refuse_insert BEFORE INSERT ON agentos_checkpoint_workflows
      BEGIN SELECT RAISE(ABORT, 'insert refused'); END`

const allowInserts = (sql: SqlClient.SqlClient, backend: string) =>
  backend === "postgres"
    ? sql`DROP TRIGGER refuse_insert ON agentos_checkpoint_workflows`
    : sql`DROP TRIGGER refuse_insert`

describe("CheckpointStore.layerSql: acquireAndCreate whose insert fails", () => {
  for (const backend of Backends.sqlBackends()) {
    it.effect(`fails with StoreError and leaves the lease free — ${backend.name}`, () =>
      Effect.gen(function*() {
        const sql = yield* SqlClient.SqlClient
        const store = yield* CheckpointStore
        yield* refuseInserts(sql, backend.name)
        const failed = yield* Effect.flip(store.acquireAndCreate(id, "runner-a", 30_000, initial))
        assert.strictEqual(failed._tag, "StoreError")
        yield* allowInserts(sql, backend.name)
        // The lease is free: the same runner (or another) is granted it at once.
        const grant = yield* store.acquireAndCreate(id, "runner-a", 30_000, initial)
        assert.isTrue(grant.created)
        assert.isTrue(Option.isSome(yield* store.load(id)))
      }).pipe(Effect.provide(layerSql().pipe(Layer.provideMerge(backend.layer)))), 30_000)

    it.live(`keeps a cancellation request pending for the next holder — ${backend.name}`, () =>
      Effect.gen(function*() {
        const sql = yield* SqlClient.SqlClient
        const store = yield* CheckpointStore
        // A runner saved a checkpoint, was asked to cancel, and died.
        const dead = yield* store.acquire(id, "runner-a", 150)
        yield* store.save(dead, { ...initial, epoch: dead.epoch })
        assert.isTrue(yield* store.requestCancel(id))
        yield* Effect.sleep("300 millis")
        yield* refuseInserts(sql, backend.name)
        assert.strictEqual(
          (yield* Effect.flip(store.acquireAndCreate(id, "runner-b", 30_000, initial)))._tag,
          "StoreError"
        )
        yield* allowInserts(sql, backend.name)
        const next = yield* store.acquireAndCreate(id, "runner-b", 30_000, initial)
        assert.isFalse(next.created)
        assert.isTrue((yield* store.renew(next.lease)).cancelRequested, "the pending cancellation request was lost")
      }).pipe(Effect.provide(layerSql().pipe(Layer.provideMerge(backend.layer)))), 30_000)
  }
})
