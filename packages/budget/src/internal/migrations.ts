// The numbered migrations of the SQL store (Sql.migrate's record, table
// agentos_budget_migrations). A released migration is never edited: a new one
// is added.
import * as Sql from "@agentos/core/Sql"
import * as SqlClient from "@effect/sql/SqlClient"
import * as Effect from "effect/Effect"

export const migrations: Sql.Migrations = {
  "0001_create_budget": Effect.gen(function*() {
    const sql = yield* SqlClient.SqlClient
    const seq = sql.onDialectOrElse({
      pg: () => sql.literal("seq bigserial PRIMARY KEY"),
      orElse: () => sql.literal("seq INTEGER PRIMARY KEY AUTOINCREMENT")
    })
    // A team's loans (steals not yet reclaimed, a handful at most) are a JSON
    // column of its row: read by the statement that locks the row.
    // next_expiry is at most the earliest expiry of its held reservations
    // (NULL: none expires), so a transaction looks for expired reservations
    // only once one may have expired.
    yield* sql`CREATE TABLE agentos_budget_teams (
      team text PRIMARY KEY,
      total bigint NOT NULL,
      period_key text NOT NULL,
      retired_used bigint NOT NULL,
      retired_overage bigint NOT NULL,
      steals bigint NOT NULL,
      reclaims bigint NOT NULL,
      loans ${Sql.jsonType(sql)} NOT NULL,
      next_expiry bigint
    )`
    yield* sql`CREATE TABLE agentos_budget_agents (
      team text NOT NULL,
      id text NOT NULL,
      weight double precision NOT NULL,
      min_share double precision NOT NULL,
      max_share double precision NOT NULL,
      allocated bigint NOT NULL,
      used bigint NOT NULL,
      reserved bigint NOT NULL,
      overage bigint NOT NULL,
      last_activity bigint NOT NULL,
      seq bigint NOT NULL,
      PRIMARY KEY (team, id)
    )`
    yield* sql`CREATE TABLE agentos_budget_reservations (
      team text NOT NULL,
      id text NOT NULL,
      agent text NOT NULL,
      requested bigint NOT NULL,
      amount bigint NOT NULL,
      state text NOT NULL,
      expires_at bigint,
      actual bigint NOT NULL,
      charged bigint NOT NULL,
      refunded bigint NOT NULL,
      overage bigint NOT NULL,
      PRIMARY KEY (team, id)
    )`
    // The expiry sweep of every transaction reads held reservations by expiry.
    yield* sql`CREATE INDEX agentos_budget_reservations_held ON agentos_budget_reservations (team, expires_at)
      WHERE state = 'held' AND expires_at IS NOT NULL`
    yield* sql`CREATE TABLE agentos_budget_transfers (
      ${seq},
      team text NOT NULL,
      kind text NOT NULL,
      from_agent text NOT NULL,
      to_agent text NOT NULL,
      amount bigint NOT NULL,
      at bigint NOT NULL
    )`
    yield* sql`CREATE INDEX agentos_budget_transfers_team ON agentos_budget_transfers (team, seq)`
    yield* sql`CREATE TABLE agentos_budget_history (
      team text NOT NULL,
      period text NOT NULL,
      total bigint NOT NULL,
      used bigint NOT NULL,
      overage bigint NOT NULL,
      steals bigint NOT NULL,
      reclaims bigint NOT NULL,
      ended_at bigint NOT NULL,
      PRIMARY KEY (team, period)
    )`
  }),
  // The team's use this period (retired_used plus its agents' use) on its
  // row, so that a commit charges it in the statement that charges the agent
  // and reads the team's use for its alerts without reading every agent.
  "0002_team_used": Effect.gen(function*() {
    const sql = yield* SqlClient.SqlClient
    yield* sql`ALTER TABLE agentos_budget_teams ADD COLUMN used bigint NOT NULL DEFAULT 0`
    yield* sql`UPDATE agentos_budget_teams SET used = retired_used + COALESCE((
      SELECT sum(a.used) FROM agentos_budget_agents a WHERE a.team = agentos_budget_teams.team), 0)`
  }),
  // SQLite has no data-modifying CTE: its fast paths are one statement on
  // the reservation (an INSERT … SELECT guarded by the agent's and the team's
  // rows; an UPDATE guarded by the team's row) and these triggers apply the
  // agent's and the team's side in the same statement, so each fast path is
  // atomic without a transaction. fast_at (the agent's activity time) is set
  // only by a fast path's statement; every other write of a reservation
  // leaves it NULL, so the triggers never act on the rules' own writes (which
  // write the agents themselves). BEFORE triggers: the statement's RETURNING
  // then reads the agent's and the team's figures after them.
  "0003_fast_paths": Effect.gen(function*() {
    const sql = yield* SqlClient.SqlClient
    yield* sql`ALTER TABLE agentos_budget_reservations ADD COLUMN fast_at bigint`
    yield* sql.onDialectOrElse({
      pg: () => Effect.void,
      orElse: () =>
        Effect.zipRight(
          sql`CREATE TRIGGER agentos_budget_fast_reserve BEFORE INSERT ON agentos_budget_reservations
            WHEN NEW.fast_at IS NOT NULL
            BEGIN
              UPDATE agentos_budget_agents SET reserved = reserved + NEW.amount, last_activity = NEW.fast_at
              WHERE team = NEW.team AND id = NEW.agent;
            END`,
          sql`CREATE TRIGGER agentos_budget_fast_commit BEFORE UPDATE OF state ON agentos_budget_reservations
            WHEN OLD.state = 'held' AND NEW.state = 'committed' AND NEW.fast_at IS NOT NULL
            BEGIN
              UPDATE agentos_budget_agents SET used = used + NEW.actual, reserved = reserved - OLD.amount,
                last_activity = NEW.fast_at
              WHERE team = OLD.team AND id = OLD.agent;
              UPDATE agentos_budget_teams SET used = used + NEW.actual WHERE team = OLD.team;
            END`
        )
    })
  }),
  // Threshold alerts claimed per team and period, so that each is raised
  // once across every process sharing the team (the rows of ended periods are
  // deleted when a new period starts).
  "0004_alerts": Effect.gen(function*() {
    const sql = yield* SqlClient.SqlClient
    yield* sql`CREATE TABLE agentos_budget_alerts (
      team text NOT NULL,
      period text NOT NULL,
      alert text NOT NULL,
      PRIMARY KEY (team, period, alert)
    )`
  }),
  // A settled reservation is remembered for the layer's settlement retention
  // from settled_at (by the database's clock), then deleted; next_prune is
  // when a transaction next deletes the forgotten ones (the fast paths leave
  // that to a transaction).
  "0005_settlement_retention": Effect.gen(function*() {
    const sql = yield* SqlClient.SqlClient
    yield* sql`ALTER TABLE agentos_budget_reservations ADD COLUMN settled_at bigint`
    yield* sql`ALTER TABLE agentos_budget_teams ADD COLUMN next_prune bigint`
    yield* sql`CREATE INDEX agentos_budget_reservations_settled ON agentos_budget_reservations (team, settled_at)
      WHERE state <> 'held'`
  })
}
