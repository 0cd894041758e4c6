// The numbered migrations of the SQL store (Sql.migrate's record, in the
// package's own table agentos_dlq_migrations). A released migration is never
// edited: a change is a new one.
import * as Sql from "@agentos/core/Sql"
import * as SqlClient from "@effect/sql/SqlClient"
import * as Effect from "effect/Effect"

/** The letters' table. */
export const TABLE = "agentos_dlq_letters"

export const migrations: Sql.Migrations = {
  "0001_create_letters": Effect.gen(function*() {
    const sql = yield* SqlClient.SqlClient
    const idType = sql.onDialectOrElse({ pg: () => sql.literal(`text COLLATE "C"`), orElse: () => sql.literal("text") })
    yield* sql`CREATE TABLE agentos_dlq_letters (
      id ${idType} PRIMARY KEY,
      dedupe_key text UNIQUE,
      task_type text NOT NULL,
      error_type text NOT NULL,
      agent text,
      created_at bigint NOT NULL,
      resolved_at bigint,
      claim_token bigint NOT NULL DEFAULT 0,
      claimed_until bigint,
      data ${Sql.jsonType(sql)} NOT NULL,
      resolution ${Sql.jsonType(sql)}
    )`
    yield* sql`CREATE INDEX agentos_dlq_letters_task_type ON agentos_dlq_letters (task_type, id)`
    yield* sql`CREATE INDEX agentos_dlq_letters_error_type ON agentos_dlq_letters (error_type, id)`
    yield* sql`CREATE INDEX agentos_dlq_letters_created_at ON agentos_dlq_letters (created_at)`
  })
}
