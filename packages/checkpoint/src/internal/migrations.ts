// The numbered migrations of the SQL store (Sql.migrate's record, table
// agentos_checkpoint_migrations). A released migration is never edited: a
// change is a new migration.
import * as Sql from "@agentos/core/Sql"
import * as SqlClient from "@effect/sql/SqlClient"
import * as Effect from "effect/Effect"

export const WORKFLOWS = "agentos_checkpoint_workflows"
export const LEASES = "agentos_checkpoint_leases"

export const SAVE_FUNCTION = "agentos_checkpoint_save"

/**
 * The fenced upsert of a checkpoint (it writes only while the lease row has
 * the save's epoch and holder, share-locking that row, so a concurrent grant
 * waits for the save to commit, then sees it) and, when `p_release` is true
 * and the upsert wrote, the release of the lease in the same transaction.
 * Returns the lease's `cancel_requested` as it was before the release, or
 * NULL when the fence failed (nothing written).
 */
const saveFunctionText = `CREATE FUNCTION ${SAVE_FUNCTION}(p_workflow_id text, p_name text, p_version integer,
    p_status text, p_state jsonb, p_completed_steps jsonb, p_attempts jsonb, p_run integer, p_failure jsonb,
    p_created_at bigint, p_updated_at bigint, p_completed_at bigint, p_epoch bigint, p_holder text,
    p_release boolean) RETURNS integer LANGUAGE plpgsql AS $body$
DECLARE
  v_cancel_requested integer;
BEGIN
  INSERT INTO "${WORKFLOWS}" AS w (workflow_id, name, version, status, state, completed_steps, attempts, run,
      failure, created_at, updated_at, completed_at, epoch)
    SELECT p_workflow_id, p_name, p_version, p_status, p_state, p_completed_steps, p_attempts, p_run, p_failure,
      p_created_at, p_updated_at, p_completed_at, p_epoch
    WHERE EXISTS (SELECT 1 FROM "${LEASES}"
      WHERE workflow_id = p_workflow_id AND epoch = p_epoch AND holder = p_holder FOR SHARE)
    ON CONFLICT (workflow_id) DO UPDATE SET
      name = excluded.name, version = excluded.version, status = excluded.status, state = excluded.state,
      completed_steps = excluded.completed_steps, attempts = excluded.attempts, run = excluded.run,
      failure = excluded.failure, created_at = excluded.created_at, updated_at = excluded.updated_at,
      completed_at = excluded.completed_at, epoch = excluded.epoch
    RETURNING (SELECT l.cancel_requested FROM "${LEASES}" l WHERE l.workflow_id = w.workflow_id)
    INTO v_cancel_requested;
  IF NOT FOUND THEN
    RETURN NULL;
  END IF;
  IF p_release THEN
    UPDATE "${LEASES}" SET expires_at = 0, cancel_requested = 0
      WHERE workflow_id = p_workflow_id AND epoch = p_epoch AND holder = p_holder;
  END IF;
  RETURN coalesce(v_cancel_requested, 0);
END
$body$`

/**
 * The save function of migration 0004 (it replaces 0002's, same signature
 * and result). The lease row is share-locked first by a statement that
 * returns the locked row (under READ COMMITTED, its latest version): the
 * fence and the cancellation request reported are that row's, so a request
 * that committed while the save waited for the row is reported, and nothing
 * can change the row until the commit. A RETURNING subquery would read the
 * request with the statement's snapshot, taken before the lock.
 */
const saveFunctionV2Text = `CREATE OR REPLACE FUNCTION ${SAVE_FUNCTION}(p_workflow_id text, p_name text,
    p_version integer, p_status text, p_state jsonb, p_completed_steps jsonb, p_attempts jsonb, p_run integer,
    p_failure jsonb, p_created_at bigint, p_updated_at bigint, p_completed_at bigint, p_epoch bigint,
    p_holder text, p_release boolean) RETURNS integer LANGUAGE plpgsql AS $body$
DECLARE
  v_cancel_requested integer;
BEGIN
  SELECT cancel_requested INTO v_cancel_requested FROM "${LEASES}"
    WHERE workflow_id = p_workflow_id AND epoch = p_epoch AND holder = p_holder FOR SHARE;
  IF NOT FOUND THEN
    RETURN NULL;
  END IF;
  INSERT INTO "${WORKFLOWS}" (workflow_id, name, version, status, state, completed_steps, attempts, run,
      failure, created_at, updated_at, completed_at, epoch)
    VALUES (p_workflow_id, p_name, p_version, p_status, p_state, p_completed_steps, p_attempts, p_run, p_failure,
      p_created_at, p_updated_at, p_completed_at, p_epoch)
    ON CONFLICT (workflow_id) DO UPDATE SET
      name = excluded.name, version = excluded.version, status = excluded.status, state = excluded.state,
      completed_steps = excluded.completed_steps, attempts = excluded.attempts, run = excluded.run,
      failure = excluded.failure, created_at = excluded.created_at, updated_at = excluded.updated_at,
      completed_at = excluded.completed_at, epoch = excluded.epoch;
  IF p_release THEN
    UPDATE "${LEASES}" SET expires_at = 0, cancel_requested = 0
      WHERE workflow_id = p_workflow_id AND epoch = p_epoch AND holder = p_holder;
  END IF;
  RETURN v_cancel_requested;
END
$body$`

export const GRANT_CREATE_FUNCTION = "agentos_checkpoint_grant_create"

/**
 * The grant of a workflow's lease (when it is free or expired) and, when the
 * grant happened and the workflow has no checkpoint, the insert of its first
 * checkpoint with the granted epoch, in one transaction. Returns one row
 * (the granted epoch, the lease's `cancel_requested`, and 1 when the
 * checkpoint was inserted, else 0), or none when the lease is held. The
 * insert is a statement after the grant, so it judges by what is committed
 * once the grant has its row lock (a previous holder's save in flight holds
 * the lease row: the grant waits for it, then the insert sees its row).
 */
const grantCreateFunctionText = (now: string) =>
  `CREATE FUNCTION ${GRANT_CREATE_FUNCTION}(p_workflow_id text, p_holder text, p_ttl_millis bigint, p_name text,
    p_version integer, p_status text, p_state jsonb, p_completed_steps jsonb, p_attempts jsonb, p_run integer,
    p_failure jsonb, p_created_at bigint, p_updated_at bigint, p_completed_at bigint)
  RETURNS TABLE (granted_epoch bigint, granted_cancel_requested integer, created integer)
  LANGUAGE plpgsql AS $body$
DECLARE
  v_epoch bigint;
  v_cancel_requested integer;
  v_created integer;
BEGIN
  INSERT INTO "${LEASES}" AS l (workflow_id, holder, epoch, expires_at, cancel_requested)
    VALUES (p_workflow_id, p_holder, 1, ${now} + p_ttl_millis, 0)
    ON CONFLICT (workflow_id) DO UPDATE SET
      holder = excluded.holder, epoch = l.epoch + 1, expires_at = excluded.expires_at
    WHERE l.expires_at <= ${now}
    RETURNING l.epoch, l.cancel_requested INTO v_epoch, v_cancel_requested;
  IF NOT FOUND THEN
    RETURN;
  END IF;
  INSERT INTO "${WORKFLOWS}" (workflow_id, name, version, status, state, completed_steps, attempts, run,
      failure, created_at, updated_at, completed_at, epoch)
    VALUES (p_workflow_id, p_name, p_version, p_status, p_state, p_completed_steps, p_attempts, p_run, p_failure,
      p_created_at, p_updated_at, p_completed_at, v_epoch)
    ON CONFLICT (workflow_id) DO NOTHING;
  GET DIAGNOSTICS v_created = ROW_COUNT;
  granted_epoch := v_epoch;
  granted_cancel_requested := v_cancel_requested;
  created := v_created;
  RETURN NEXT;
END
$body$`

/** @internal */
export const migrations: Sql.Migrations = {
  "0001_create_workflows_and_leases": Effect.gen(function*() {
    const sql = yield* SqlClient.SqlClient
    const json = Sql.jsonType(sql)
    // Bytewise ordering of ids on Postgres, as in SQLite and in memory, so
    // that paging by cursor is the same on every backend.
    const idType = sql.onDialectOrElse({
      pg: () => sql.literal(`text COLLATE "C"`),
      orElse: () => sql.literal("text")
    })
    yield* sql`CREATE TABLE ${sql(WORKFLOWS)} (
      workflow_id ${idType} PRIMARY KEY,
      name text NOT NULL,
      version integer NOT NULL,
      status text NOT NULL,
      state ${json} NOT NULL,
      completed_steps ${json} NOT NULL,
      attempts ${json} NOT NULL,
      run integer NOT NULL,
      failure ${json},
      created_at bigint NOT NULL,
      updated_at bigint NOT NULL,
      completed_at bigint,
      epoch bigint NOT NULL
    )`
    yield* sql`CREATE INDEX agentos_checkpoint_workflows_status_idx ON ${sql(WORKFLOWS)} (status, workflow_id)`
    yield* sql`CREATE TABLE ${sql(LEASES)} (
      workflow_id ${idType} PRIMARY KEY,
      holder text NOT NULL,
      epoch bigint NOT NULL,
      expires_at bigint NOT NULL,
      cancel_requested integer NOT NULL DEFAULT 0
    )`
  }),
  // Postgres: the save (one per step) as a PL/pgSQL function. @effect/sql-pg
  // sends every statement unnamed, so the server parses and plans it on each
  // call; the function's own statements are planned once per connection and
  // reused, and the statement sent is a short call. The function runs the
  // save's statements unchanged, in the caller's transaction (one statement,
  // one commit), resolving its tables through the caller's search_path as
  // the statements did. SQLite keeps the statements (prepared and cached by
  // its client).
  "0002_create_save_function": Effect.gen(function*() {
    const sql = yield* SqlClient.SqlClient
    yield* sql.onDialectOrElse({
      pg: () => sql.unsafe(saveFunctionText),
      orElse: () => Effect.void
    })
  }),
  // Postgres: the grant with the first checkpoint as a PL/pgSQL function, for
  // the same reason as the save function (one statement, one commit).
  "0003_create_grant_create_function": Effect.gen(function*() {
    const sql = yield* SqlClient.SqlClient
    yield* sql.onDialectOrElse({
      pg: () => sql.unsafe(grantCreateFunctionText(sql`${Sql.nowMillis(sql)}`.compile()[0])),
      orElse: () => Effect.void
    })
  }),
  // Postgres: the save function reports the cancellation request of the
  // lease row it locked (see saveFunctionV2Text). CREATE OR REPLACE keeps
  // the function's signature, owner and grants.
  "0004_save_function_reads_locked_lease": Effect.gen(function*() {
    const sql = yield* SqlClient.SqlClient
    yield* sql.onDialectOrElse({
      pg: () => sql.unsafe(saveFunctionV2Text),
      orElse: () => Effect.void
    })
  })
}
