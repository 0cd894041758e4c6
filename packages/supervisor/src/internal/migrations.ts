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
  }),
  // Postgres: the two statements every task runs (a claim, and its end with
  // the next claim) as PL/pgSQL functions. PL/pgSQL keeps a statement's plan
  // for the session, where a statement sent as text is planned on every
  // call; planning the end-then-claim took longer than running it (0.4 ms
  // against 0.3 ms), and it is the database work of every task. The bodies
  // are the statements sqlQueue.ts sent before; the clock is the database's
  // (Sql.nowMillis), expiry judged as Lease.sqlExpiresAt does.
  "0004_pg_claim_functions": Effect.gen(function*() {
    const sql = yield* SqlClient.SqlClient
    if (!Sql.isPg(sql)) return
    yield* sql.unsafe(`CREATE FUNCTION agentos_supervisor_claim(p_type text, p_holder text, p_ttl bigint)
      RETURNS TABLE (${RETURNED_COLUMNS})
      LANGUAGE plpgsql AS $body$
      #variable_conflict use_column
      BEGIN
        RETURN QUERY WITH next AS (
          SELECT t.id AS next_id FROM agentos_supervisor_tasks t WHERE t.type = p_type AND t.state = 'queued'
          ORDER BY t.priority, t.seq LIMIT 1 FOR UPDATE SKIP LOCKED
        )
        UPDATE agentos_supervisor_tasks SET ${CLAIM_SET}
        FROM next WHERE agentos_supervisor_tasks.id = next.next_id
        RETURNING ${RETURNING};
      END
      $body$`)
    yield* sql.unsafe(`CREATE FUNCTION agentos_supervisor_end_then_claim(p_status text, p_outcome jsonb, p_id text,
        p_token bigint, p_counts_failure integer, p_type text, p_holder text, p_ttl bigint)
      RETURNS TABLE (ended bigint, ${RETURNED_COLUMNS})
      LANGUAGE plpgsql AS $body$
      #variable_conflict use_column
      BEGIN
        RETURN QUERY WITH ended AS (
          UPDATE agentos_supervisor_tasks SET state = p_status, outcome = p_outcome, finished_at = ${NOW},
            seq = nextval('agentos_supervisor_task_seq'), holder = NULL, lease_expires_at = NULL,
            failures = failures + p_counts_failure * (1 - poisoned)
          WHERE id = p_id AND token = p_token AND state = 'running' RETURNING id
        ), next AS (
          SELECT t.id AS next_id FROM agentos_supervisor_tasks t WHERE t.type = p_type AND t.state = 'queued'
          ORDER BY t.priority, t.seq LIMIT 1 FOR UPDATE SKIP LOCKED
        ), claimed AS (
          UPDATE agentos_supervisor_tasks SET ${CLAIM_SET}
          FROM next WHERE agentos_supervisor_tasks.id = next.next_id
          RETURNING ${RETURNING}
        )
        SELECT (SELECT COUNT(*) FROM ended), claimed.* FROM (SELECT 1 AS one) AS one LEFT JOIN claimed ON true;
      END
      $body$`)
  }),
  // Postgres: every claim and every end goes through a function, so that
  // each statement has one text on Postgres (sqlQueue.ts keeps the SQLite
  // ones): the claim takes the group limits (a limited group's running
  // count checked again under the group's advisory lock, in the claim's
  // transaction) and a lease of NULL (`take`); the end is a function of its
  // own; the end-then-claim calls both, so a runner whose task ended claims
  // its next one in one round trip whatever its groups' limits. The
  // functions of 0004 (other arities: overloads) are kept: processes of the
  // previous release, still running during a rolling upgrade, call them; a
  // later release drops them.
  "0005_pg_one_claim_and_end": Effect.gen(function*() {
    const sql = yield* SqlClient.SqlClient
    if (!Sql.isPg(sql)) return
    yield* sql.unsafe(PG_CLAIM_0005)
    yield* sql.unsafe(PG_END_0005)
    yield* sql.unsafe(PG_END_THEN_CLAIM_0005)
  }),
  // Postgres: the end-then-claim of every task, in one function call rather
  // than three. 0005's calls agentos_supervisor_end, then reads
  // agentos_supervisor_claim through a function scan (two more PL/pgSQL
  // calls, each with its own executor state, and every row copied through
  // two result stores), and returns the 13 columns of a stored task where a
  // runner reads 6. This one runs the end's UPDATE and, when every group is
  // unlimited (the hot path), the claim's statement itself, returning only
  // what a claim needs; a claim under group limits still goes through
  // agentos_supervisor_claim (the one place that takes the group locks). The
  // statements are 0005's, unchanged. 0005's functions stay for processes of
  // the previous release during a rolling upgrade.
  "0006_pg_lean_end_then_claim": Effect.gen(function*() {
    const sql = yield* SqlClient.SqlClient
    if (!Sql.isPg(sql)) return
    yield* sql.unsafe(PG_END_THEN_CLAIM_0006)
  })
}

// The functions of 0005, as released: never edited (a change is a new
// migration). A limit of NULL is no limit; `p_by_group` is a JSON object of
// group key to limit, or NULL.
const PG_CLAIM_0005 = `CREATE FUNCTION agentos_supervisor_claim(p_type text, p_holder text, p_ttl bigint,
    p_default integer, p_by_group jsonb)
  RETURNS TABLE (id text, record jsonb, state text, token bigint, deliveries integer, lost integer,
    failures integer, poisoned integer, cancel_requested integer, outcome jsonb, finished_at bigint, group_key text)
  LANGUAGE plpgsql AS $body$
  #variable_conflict use_column
  DECLARE
    v_id text;
    v_group text;
    v_limit integer;
    v_passed text[] := '{}';
    v_holding boolean := false;
  BEGIN
    IF p_default IS NULL AND p_by_group IS NULL THEN
      -- Every group unlimited (the hot path): one statement.
      RETURN QUERY WITH next AS (
        SELECT t.id AS next_id FROM agentos_supervisor_tasks t WHERE t.type = p_type AND t.state = 'queued'
        ORDER BY t.priority, t.seq LIMIT 1 FOR UPDATE SKIP LOCKED
      )
      UPDATE agentos_supervisor_tasks SET state = 'running', holder = p_holder,
        token = agentos_supervisor_tasks.token + 1, deliveries = agentos_supervisor_tasks.deliveries + 1,
        lease_expires_at = (floor(extract(epoch from clock_timestamp()) * 1000)::bigint + p_ttl)
      FROM next WHERE agentos_supervisor_tasks.id = next.next_id
      RETURNING agentos_supervisor_tasks.id, agentos_supervisor_tasks.record, agentos_supervisor_tasks.state,
        agentos_supervisor_tasks.token, agentos_supervisor_tasks.deliveries, agentos_supervisor_tasks.lost,
        agentos_supervisor_tasks.failures, agentos_supervisor_tasks.poisoned,
        agentos_supervisor_tasks.cancel_requested, agentos_supervisor_tasks.outcome,
        agentos_supervisor_tasks.finished_at, agentos_supervisor_tasks.group_key;
      RETURN;
    END IF;
    FOR attempt IN 1..20 LOOP
      SELECT t.id, t.group_key INTO v_id, v_group FROM agentos_supervisor_tasks t
      WHERE t.type = p_type AND t.state = 'queued'
        AND (t.group_key IS NULL OR NOT (t.group_key = ANY (v_passed))) AND (
        t.group_key IS NULL OR COALESCE((p_by_group ->> t.group_key)::integer, p_default) IS NULL OR
        (SELECT COUNT(*) FROM agentos_supervisor_tasks r WHERE r.group_key = t.group_key AND r.state = 'running')
          < COALESCE((p_by_group ->> t.group_key)::integer, p_default)
      )
      ORDER BY t.priority, t.seq LIMIT 1 FOR UPDATE SKIP LOCKED;
      IF NOT FOUND THEN
        RETURN;
      END IF;
      v_limit := CASE WHEN v_group IS NULL THEN NULL ELSE COALESCE((p_by_group ->> v_group)::integer, p_default) END;
      IF v_limit IS NOT NULL THEN
        -- The count above may miss a claim of the same group committed
        -- meanwhile: counted again (a new snapshot) under the group's lock,
        -- held until this transaction commits. A full group is passed over
        -- for the rest of this claim, its lock still held: a claim that
        -- holds a group's lock then only tries another's (passing over a
        -- group it cannot lock at once), so it never waits while holding
        -- one, and two claims cannot wait on each other.
        IF v_holding THEN
          IF NOT pg_try_advisory_xact_lock(
            hashtext('agentos_supervisor_group:' || current_schema() || ':' || v_group)
          ) THEN
            v_passed := v_passed || v_group;
            CONTINUE;
          END IF;
        ELSE
          PERFORM pg_advisory_xact_lock(hashtext('agentos_supervisor_group:' || current_schema() || ':' || v_group));
          v_holding := true;
        END IF;
        IF (SELECT COUNT(*) FROM agentos_supervisor_tasks r WHERE r.group_key = v_group AND r.state = 'running')
          >= v_limit THEN
          v_passed := v_passed || v_group;
          CONTINUE;
        END IF;
      END IF;
      RETURN QUERY UPDATE agentos_supervisor_tasks SET state = 'running', holder = p_holder,
        token = agentos_supervisor_tasks.token + 1, deliveries = agentos_supervisor_tasks.deliveries + 1,
        lease_expires_at = (floor(extract(epoch from clock_timestamp()) * 1000)::bigint + p_ttl)
      WHERE agentos_supervisor_tasks.id = v_id
      RETURNING agentos_supervisor_tasks.id, agentos_supervisor_tasks.record, agentos_supervisor_tasks.state,
        agentos_supervisor_tasks.token, agentos_supervisor_tasks.deliveries, agentos_supervisor_tasks.lost,
        agentos_supervisor_tasks.failures, agentos_supervisor_tasks.poisoned,
        agentos_supervisor_tasks.cancel_requested, agentos_supervisor_tasks.outcome,
        agentos_supervisor_tasks.finished_at, agentos_supervisor_tasks.group_key;
      RETURN;
    END LOOP;
  END
  $body$`

const PG_END_0005 = `CREATE FUNCTION agentos_supervisor_end(p_status text, p_outcome jsonb, p_id text, p_token bigint,
    p_counts_failure integer)
  RETURNS bigint
  LANGUAGE plpgsql AS $body$
  DECLARE
    v_ended bigint;
  BEGIN
    UPDATE agentos_supervisor_tasks SET state = p_status, outcome = p_outcome,
      finished_at = floor(extract(epoch from clock_timestamp()) * 1000)::bigint,
      seq = nextval('agentos_supervisor_task_seq'), holder = NULL, lease_expires_at = NULL,
      failures = failures + p_counts_failure * (1 - poisoned)
    WHERE id = p_id AND token = p_token AND state = 'running';
    GET DIAGNOSTICS v_ended = ROW_COUNT;
    RETURN v_ended;
  END
  $body$`

const PG_END_THEN_CLAIM_0005 = `CREATE FUNCTION agentos_supervisor_end_then_claim(p_status text, p_outcome jsonb,
    p_id text, p_token bigint, p_counts_failure integer, p_type text, p_holder text, p_ttl bigint,
    p_default integer, p_by_group jsonb)
  RETURNS TABLE (ended bigint, id text, record jsonb, state text, token bigint, deliveries integer, lost integer,
    failures integer, poisoned integer, cancel_requested integer, outcome jsonb, finished_at bigint, group_key text)
  LANGUAGE plpgsql AS $body$
  DECLARE
    v_ended bigint;
  BEGIN
    v_ended := agentos_supervisor_end(p_status, p_outcome, p_id, p_token, p_counts_failure);
    RETURN QUERY SELECT v_ended, c.* FROM (SELECT 1 AS one) AS one
      LEFT JOIN agentos_supervisor_claim(p_type, p_holder, p_ttl, p_default, p_by_group) AS c ON true;
  END
  $body$`

// The function of 0006, as released: never edited. Its columns are the
// claim's (TaskQueue.Claim), `id` NULL when nothing was claimed.
const PG_END_THEN_CLAIM_0006 = `CREATE FUNCTION agentos_supervisor_end_then_claim_lean(p_status text, p_outcome jsonb,
    p_id text, p_token bigint, p_counts_failure integer, p_type text, p_holder text, p_ttl bigint,
    p_default integer, p_by_group jsonb)
  RETURNS TABLE (ended bigint, id text, record jsonb, token bigint, deliveries integer, lost integer,
    failures integer, poisoned integer)
  LANGUAGE plpgsql AS $body$
  #variable_conflict use_column
  DECLARE
    v_ended bigint;
  BEGIN
    UPDATE agentos_supervisor_tasks SET state = p_status, outcome = p_outcome,
      finished_at = floor(extract(epoch from clock_timestamp()) * 1000)::bigint,
      seq = nextval('agentos_supervisor_task_seq'), holder = NULL, lease_expires_at = NULL,
      failures = failures + p_counts_failure * (1 - poisoned)
    WHERE id = p_id AND token = p_token AND state = 'running';
    GET DIAGNOSTICS v_ended = ROW_COUNT;
    IF p_default IS NULL AND p_by_group IS NULL THEN
      RETURN QUERY WITH next AS (
        SELECT t.id AS next_id FROM agentos_supervisor_tasks t WHERE t.type = p_type AND t.state = 'queued'
        ORDER BY t.priority, t.seq LIMIT 1 FOR UPDATE SKIP LOCKED
      )
      UPDATE agentos_supervisor_tasks SET state = 'running', holder = p_holder,
        token = agentos_supervisor_tasks.token + 1, deliveries = agentos_supervisor_tasks.deliveries + 1,
        lease_expires_at = (floor(extract(epoch from clock_timestamp()) * 1000)::bigint + p_ttl)
      FROM next WHERE agentos_supervisor_tasks.id = next.next_id
      RETURNING v_ended, agentos_supervisor_tasks.id, agentos_supervisor_tasks.record, agentos_supervisor_tasks.token,
        agentos_supervisor_tasks.deliveries, agentos_supervisor_tasks.lost, agentos_supervisor_tasks.failures,
        agentos_supervisor_tasks.poisoned;
    ELSE
      RETURN QUERY SELECT v_ended, c.id, c.record, c.token, c.deliveries, c.lost, c.failures, c.poisoned
        FROM agentos_supervisor_claim(p_type, p_holder, p_ttl, p_default, p_by_group) AS c;
    END IF;
    IF NOT FOUND THEN
      RETURN QUERY SELECT v_ended, NULL::text, NULL::jsonb, NULL::bigint, NULL::integer, NULL::integer,
        NULL::integer, NULL::integer;
    END IF;
  END
  $body$`

// The database's clock in epoch milliseconds, as core's Sql.nowMillis on Postgres.
const NOW = "(floor(extract(epoch from clock_timestamp()) * 1000)::bigint)"
const CLAIM_SET = `state = 'running', holder = p_holder, token = agentos_supervisor_tasks.token + 1,
  deliveries = agentos_supervisor_tasks.deliveries + 1, lease_expires_at = (${NOW} + p_ttl)`
const COLUMNS = [
  ["id", "text"],
  ["record", "jsonb"],
  ["state", "text"],
  ["token", "bigint"],
  ["deliveries", "integer"],
  ["lost", "integer"],
  ["failures", "integer"],
  ["poisoned", "integer"],
  ["cancel_requested", "integer"],
  ["outcome", "jsonb"],
  ["finished_at", "bigint"],
  ["group_key", "text"]
] as const
const RETURNED_COLUMNS = COLUMNS.map(([name, type]) => `${name} ${type}`).join(", ")
const RETURNING = COLUMNS.map(([name]) => `agentos_supervisor_tasks.${name}`).join(", ")
