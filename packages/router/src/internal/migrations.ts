// The numbered migrations of the spend ledger's SQL store (Sql.migrate's
// record, in the package's own table agentos_router_migrations). A released
// migration is never edited: a change is a new one.
import type * as Sql from "@agentos/core/Sql"
import * as SqlClient from "@effect/sql/SqlClient"
import * as Effect from "effect/Effect"

export const migrations: Sql.Migrations = {
  "0001_create_spend": Effect.gen(function*() {
    const sql = yield* SqlClient.SqlClient
    const text = sql.onDialectOrElse({ pg: () => sql.literal(`text COLLATE "C"`), orElse: () => sql.literal("text") })
    yield* sql`CREATE TABLE agentos_router_scopes (
      scope ${text} NOT NULL,
      period ${text} NOT NULL,
      spent bigint NOT NULL DEFAULT 0,
      reserved bigint NOT NULL DEFAULT 0,
      overage bigint NOT NULL DEFAULT 0,
      calls bigint NOT NULL DEFAULT 0,
      PRIMARY KEY (scope, period)
    )`
    yield* sql`CREATE TABLE agentos_router_reservations (
      id ${text} NOT NULL,
      scope ${text} NOT NULL,
      period ${text} NOT NULL,
      model text NOT NULL,
      amount bigint NOT NULL,
      input_tokens bigint NOT NULL,
      max_output_tokens bigint NOT NULL,
      expires_at bigint NOT NULL,
      state text NOT NULL,
      charged bigint NOT NULL DEFAULT 0,
      overage bigint NOT NULL DEFAULT 0,
      reference_cost bigint NOT NULL DEFAULT 0,
      estimated integer NOT NULL DEFAULT 0,
      PRIMARY KEY (id, scope)
    )`
    yield* sql`CREATE INDEX agentos_router_reservations_open ON agentos_router_reservations (state, expires_at)`
    yield* sql`CREATE INDEX agentos_router_reservations_scope ON agentos_router_reservations (scope, period, state)`
  }),
  // The totals of purged reservations, per scope, period and model: the
  // report reads them beside the reservations still kept.
  "0002_usage_totals": Effect.gen(function*() {
    const sql = yield* SqlClient.SqlClient
    const text = sql.onDialectOrElse({ pg: () => sql.literal(`text COLLATE "C"`), orElse: () => sql.literal("text") })
    yield* sql`CREATE TABLE agentos_router_usage (
      scope ${text} NOT NULL,
      period ${text} NOT NULL,
      model ${text} NOT NULL,
      calls bigint NOT NULL,
      spent bigint NOT NULL,
      overage bigint NOT NULL,
      reference_cost bigint NOT NULL,
      estimated_calls bigint NOT NULL,
      PRIMARY KEY (scope, period, model)
    )`
  }),
  // Threshold alerts claimed per scope, period and percent, so that each is
  // published once across every process sharing the ledger.
  "0003_alerts": Effect.gen(function*() {
    const sql = yield* SqlClient.SqlClient
    const text = sql.onDialectOrElse({ pg: () => sql.literal(`text COLLATE "C"`), orElse: () => sql.literal("text") })
    yield* sql`CREATE TABLE agentos_router_alerts (
      scope ${text} NOT NULL,
      period ${text} NOT NULL,
      percent integer NOT NULL,
      PRIMARY KEY (scope, period, percent)
    )`
  })
}
