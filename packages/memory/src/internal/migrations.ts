// The numbered migrations of the SQL store (Sql.migrate's record, in the
// package's own table agentos_memory_migrations). A released migration is
// never edited: a change is a new one.
import * as Sql from "@agentos/core/Sql"
import * as SqlClient from "@effect/sql/SqlClient"
import * as Effect from "effect/Effect"

export const TEAMS = "agentos_memory_teams"
export const ENTRIES = "agentos_memory_entries"
export const GONE = "agentos_memory_gone"

export const migrations: Sql.Migrations = {
  "0001_create_memory": Effect.gen(function*() {
    const sql = yield* SqlClient.SqlClient
    const text = sql.onDialectOrElse({ pg: () => sql.literal(`text COLLATE "C"`), orElse: () => sql.literal("text") })
    // A team's version: every write transaction advances it first (a row
    // lock), and stamps what it writes with it. The log of gone ids is
    // trimmed through `trimmed` (a reader behind it reloads the team), last
    // at `trimmed_at` (the writer's clock).
    yield* sql`CREATE TABLE agentos_memory_teams (
      team ${text} PRIMARY KEY,
      version bigint NOT NULL,
      trimmed bigint NOT NULL DEFAULT 0,
      trimmed_at bigint NOT NULL DEFAULT 0
    )`
    // agent is '' for a memory of the team; live is 0 once superseded.
    yield* sql`CREATE TABLE agentos_memory_entries (
      id ${text} PRIMARY KEY,
      team ${text} NOT NULL,
      agent ${text} NOT NULL,
      type ${text} NOT NULL,
      mkey ${text},
      live integer NOT NULL,
      version bigint NOT NULL,
      created_at bigint NOT NULL,
      last_accessed_at bigint NOT NULL,
      access_count bigint NOT NULL,
      superseded_by ${text},
      superseded_at bigint,
      data ${Sql.jsonType(sql)} NOT NULL
    )`
    yield* sql`CREATE INDEX agentos_memory_entries_version ON agentos_memory_entries (team, version)`
    yield* sql`CREATE UNIQUE INDEX agentos_memory_entries_live_key ON agentos_memory_entries (team, agent, mkey)
      WHERE live = 1 AND mkey IS NOT NULL`
    yield* sql`CREATE INDEX agentos_memory_entries_key ON agentos_memory_entries (team, agent, mkey)`
    // Ids no longer live (removed, cleared, superseded), by the version that
    // did it and when (the writer's clock), for the trim.
    yield* sql`CREATE TABLE agentos_memory_gone (
      team ${text} NOT NULL,
      version bigint NOT NULL,
      id ${text} NOT NULL,
      at bigint NOT NULL
    )`
    yield* sql`CREATE INDEX agentos_memory_gone_version ON agentos_memory_gone (team, version)`
    yield* sql`CREATE INDEX agentos_memory_gone_at ON agentos_memory_gone (team, at)`
  })
}
