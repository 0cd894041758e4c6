// The numbered migrations of the SQL task queue (Sql.migrate's record, in the
// package's own table agentos_supervisor_migrations). A released migration
// is never edited: a change is a new one.
import * as Sql from "@agentos/core/Sql"
import * as SqlClient from "@effect/sql/SqlClient"
import * as Effect from "effect/Effect"

/** The tasks' table: queued, running, retrying and ended tasks, one row each. */
export const TABLE = "agentos_supervisor_tasks"

/** Postgres: the sequence that orders tasks by arrival. */
export const SEQUENCE = "agentos_supervisor_task_seq"

export const migrations: Sql.Migrations = {
  "0001_create_tasks": Effect.gen(function*() {
    const sql = yield* SqlClient.SqlClient
    const idType = sql.onDialectOrElse({ pg: () => sql.literal(`text COLLATE "C"`), orElse: () => sql.literal("text") })
    if (Sql.isPg(sql)) yield* sql`CREATE SEQUENCE agentos_supervisor_task_seq`
    // state: queued | running | retrying | completed | failed | cancelled | dead-lettered.
    // lease_expires_at: epoch ms by the database's clock; NULL for a task
    // taken without a lease (`take`) and for any task not running.
    yield* sql`CREATE TABLE agentos_supervisor_tasks (
      id ${idType} PRIMARY KEY,
      seq bigint NOT NULL,
      type text NOT NULL,
      priority integer NOT NULL,
      group_key text,
      state text NOT NULL,
      run_after bigint NOT NULL DEFAULT 0,
      holder text,
      token bigint NOT NULL DEFAULT 0,
      lease_expires_at bigint,
      deliveries integer NOT NULL DEFAULT 0,
      lost integer NOT NULL DEFAULT 0,
      failures integer NOT NULL DEFAULT 0,
      poisoned integer NOT NULL DEFAULT 0,
      cancel_requested integer NOT NULL DEFAULT 0,
      record ${Sql.jsonType(sql)} NOT NULL,
      outcome ${Sql.jsonType(sql)},
      finished_at bigint
    )`
    yield* sql`CREATE INDEX agentos_supervisor_tasks_queued
      ON agentos_supervisor_tasks (type, priority, seq) WHERE state = 'queued'`
    yield* sql`CREATE INDEX agentos_supervisor_tasks_running
      ON agentos_supervisor_tasks (group_key) WHERE state = 'running'`
    yield* sql`CREATE INDEX agentos_supervisor_tasks_leases
      ON agentos_supervisor_tasks (lease_expires_at) WHERE state = 'running'`
    yield* sql`CREATE INDEX agentos_supervisor_tasks_retrying
      ON agentos_supervisor_tasks (run_after) WHERE state = 'retrying'`
    yield* sql`CREATE INDEX agentos_supervisor_tasks_ended
      ON agentos_supervisor_tasks (finished_at, seq) WHERE finished_at IS NOT NULL`
  }),
  // A task's idempotency key, unique among the tasks kept: a duplicate submit
  // in any process finds the task already there. Rows from before keep none.
  "0002_idempotency_keys": Effect.gen(function*() {
    const sql = yield* SqlClient.SqlClient
    yield* sql`ALTER TABLE agentos_supervisor_tasks ADD COLUMN idempotency_key text`
    yield* sql`CREATE UNIQUE INDEX agentos_supervisor_tasks_idempotency
      ON agentos_supervisor_tasks (idempotency_key) WHERE idempotency_key IS NOT NULL`
  }),
  // SQLite: the next seq is MAX(seq) + 1, read on every offer, end and
  // requeue; without an index it scanned every row kept (ended ones too).
  "0003_sqlite_seq_index": Effect.gen(function*() {
    const sql = yield* SqlClient.SqlClient
    if (Sql.isPg(sql)) return
    yield* sql`CREATE INDEX agentos_supervisor_tasks_seq ON agentos_supervisor_tasks (seq)`
  })
}
