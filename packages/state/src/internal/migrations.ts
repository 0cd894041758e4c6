// The numbered migrations of the SQL store (Sql.migrate's record, table
// agentos_state_migrations). A released migration is never edited: a new one
// is added.
import * as Sql from "@agentos/core/Sql"
import * as SqlClient from "@effect/sql/SqlClient"
import * as Effect from "effect/Effect"

export const migrations: Sql.Migrations = {
  "0001_create_state": Effect.gen(function*() {
    const sql = yield* SqlClient.SqlClient
    // Keys compare byte-wise on both dialects (list order and prefix ranges).
    const keyType = sql.onDialectOrElse({
      pg: () => sql.literal(`text COLLATE "C"`),
      orElse: () => sql.literal("text")
    })
    const json = Sql.jsonType(sql)
    const seq = sql.onDialectOrElse({
      pg: () => sql.literal("seq bigserial PRIMARY KEY"),
      orElse: () => sql.literal("seq INTEGER PRIMARY KEY AUTOINCREMENT")
    })
    yield* sql`CREATE TABLE agentos_state_entries (
      key ${keyType} PRIMARY KEY,
      value ${json},
      version bigint NOT NULL,
      modified_by text NOT NULL,
      updated_at bigint NOT NULL,
      deleted integer NOT NULL DEFAULT 0
    )`
    yield* sql`CREATE TABLE agentos_state_history (
      ${seq},
      key ${keyType} NOT NULL,
      version bigint NOT NULL,
      value ${json},
      modified_by text NOT NULL,
      updated_at bigint NOT NULL
    )`
    yield* sql`CREATE UNIQUE INDEX agentos_state_history_key_version ON agentos_state_history (key, version)`
    // SQLite: every committed write of an entry adds its history row in the
    // same statement (a trigger), so a write needs no explicit transaction.
    // Postgres writes history in the same statement through a CTE instead.
    yield* sql.onDialectOrElse({
      pg: () => Effect.void,
      orElse: () =>
        Effect.zipRight(
          sql`CREATE TRIGGER agentos_state_history_on_insert AFTER INSERT ON agentos_state_entries
            BEGIN
              INSERT INTO agentos_state_history (key, version, value, modified_by, updated_at)
              VALUES (NEW.key, NEW.version, NEW.value, NEW.modified_by, NEW.updated_at);
            END`,
          sql`CREATE TRIGGER agentos_state_history_on_update AFTER UPDATE ON agentos_state_entries
            BEGIN
              INSERT INTO agentos_state_history (key, version, value, modified_by, updated_at)
              VALUES (NEW.key, NEW.version, NEW.value, NEW.modified_by, NEW.updated_at);
            END`
        )
    })
    yield* sql`CREATE TABLE agentos_state_locks (
      key ${keyType} PRIMARY KEY,
      holder text,
      fence bigint NOT NULL,
      holds integer NOT NULL,
      expires_at bigint NOT NULL
    )`
  })
}
