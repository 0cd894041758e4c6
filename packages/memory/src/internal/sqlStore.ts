// The store contract on SqlClient (SQLite and Postgres, the same
// statements). Every write transaction first advances its team's version in
// agentos_memory_teams (INSERT … ON CONFLICT DO UPDATE … RETURNING: a row
// lock on Postgres, the write lock on SQLite), so a team's writers commit in
// version order and a reader that sees version V has every row stamped ≤ V.
import * as Sql from "@agentos/core/Sql"
import * as SqlClient from "@effect/sql/SqlClient"
import * as Arr from "effect/Array"
import * as Data from "effect/Data"
import * as Effect from "effect/Effect"
import { StoreError } from "../Errors.js"
import type { Memory } from "../Memory.js"
import { mergeMemory } from "./merge.js"
import { ENTRIES, GONE, migrations, TEAMS } from "./migrations.js"
import { type Applied, type Batch, type Changes, clashed, DEFAULT_RETENTION, type Store, trimPeriod } from "./store.js"

// Rows per INSERT (13 parameters each: 6,500 per statement) and ids per IN
// list: within SQLite's 32,766 parameters (its default since 3.32) and
// Postgres's 65,535.
const CHUNK = 500

// The failure that rolls back a write whose batch clashed with unseen memories.
class Clash extends Data.TaggedError("Clash") {}

interface Row {
  readonly id: string
  readonly team: string
  readonly agent: string
  readonly type: string
  readonly mkey: string | null
  readonly created_at: unknown
  readonly last_accessed_at: unknown
  readonly access_count: unknown
  readonly superseded_by: string | null
  readonly superseded_at: unknown
  readonly data: unknown
}

interface Data {
  readonly text: string
  readonly importance: number
  readonly group?: string
  readonly floor?: number
  readonly metadata: Memory["metadata"]
  readonly expiresAt?: number
}

const isObject = (u: unknown): u is Record<string, unknown> => typeof u === "object" && u !== null && !Array.isArray(u)

const dataOf = (m: Memory): Data => ({
  text: m.text,
  importance: m.importance,
  ...(m.group === undefined ? {} : { group: m.group }),
  ...(m.floor === undefined ? {} : { floor: m.floor }),
  metadata: m.metadata,
  ...(m.expiresAt === undefined ? {} : { expiresAt: m.expiresAt })
})

const chunks = <A>(items: ReadonlyArray<A>) => Arr.chunksOf(items, CHUNK)

/** The store on SqlClient; removed ids stay in the log `retention` milliseconds. */
export const makeSqlStore = (
  retention: number = DEFAULT_RETENTION
): Effect.Effect<Store, StoreError, SqlClient.SqlClient> =>
  Effect.gen(function*() {
    const sql = yield* SqlClient.SqlClient
    yield* Sql.migrate({ packageName: "memory", migrations }).pipe(
      Sql.retryTransient(),
      Effect.mapError((cause) => new StoreError({ operation: "migrate", cause }))
    )
    const entries = sql(ENTRIES)
    const teams = sql(TEAMS)
    const goneTable = sql(GONE)

    const fail = (operation: string) => <A, E, R>(self: Effect.Effect<A, E, R>) =>
      self.pipe(Sql.retryTransient(), Sql.mapError((cause) => new StoreError({ operation, cause })))

    // A row is decoded in a plain loop (a load reads every live row of a team),
    // and a row that is not a memory is a StoreError, never passed on.
    const decode = (row: Row): Memory | StoreError => {
      const data = Sql.parseJson(row.data)
      if (
        !isObject(data) || typeof data.text !== "string" || typeof data.importance !== "number" ||
        !isObject(data.metadata)
      ) {
        return new StoreError({ operation: "decode", cause: new Error(`memory "${row.id}" does not decode`) })
      }
      const d = data as unknown as Data
      const memory: Memory = {
        id: row.id as Memory["id"],
        team: row.team,
        ...(row.agent === "" ? {} : { agent: row.agent }),
        type: row.type,
        text: d.text,
        importance: d.importance,
        ...(row.mkey === null ? {} : { key: row.mkey }),
        ...(d.group === undefined ? {} : { group: d.group }),
        ...(d.floor === undefined ? {} : { floor: d.floor }),
        metadata: d.metadata,
        createdAt: Sql.toNumber(row.created_at),
        lastAccessedAt: Sql.toNumber(row.last_accessed_at),
        accessCount: Sql.toNumber(row.access_count),
        ...(d.expiresAt === undefined ? {} : { expiresAt: d.expiresAt }),
        ...(row.superseded_by === null ? {} : { supersededBy: row.superseded_by }),
        ...(row.superseded_at === null || row.superseded_at === undefined
          ? {}
          : { supersededAt: Sql.toNumber(row.superseded_at) })
      }
      return memory
    }

    const toMemories = (rows: ReadonlyArray<Row>): Effect.Effect<Array<Memory>, StoreError> =>
      Effect.suspend(() => {
        const out: Array<Memory> = []
        for (const row of rows) {
          const m = decode(row)
          if (m instanceof StoreError) return Effect.fail(m)
          out.push(m)
        }
        return Effect.succeed(out)
      })

    // The team's version, and the version through which its log of gone ids was trimmed.
    const headOf = (team: string) =>
      Effect.map(
        sql<{ version: unknown; trimmed: unknown }>`SELECT version, trimmed FROM ${teams} WHERE team = ${team}`,
        (rows) =>
          rows.length === 0
            ? { version: 0, trimmed: 0 }
            : { version: Sql.toNumber(rows[0]!.version), trimmed: Sql.toNumber(rows[0]!.trimmed) }
      )

    const loadAt = (team: string, version: number) =>
      Effect.flatMap(
        sql<Row>`SELECT * FROM ${entries} WHERE team = ${team} AND live = 1`,
        (rows) => Effect.map(toMemories(rows), (live): Changes => ({ version, live, gone: [] }))
      )

    const load = (team: string): Effect.Effect<Changes, StoreError> =>
      Effect.flatMap(headOf(team), (head) => loadAt(team, head.version)).pipe(fail("load"))

    // Rows are read before gone ids, and the service applies the gone ids
    // last: a transaction committing between the two reads (say one that
    // supersedes a key) has its gone ids read too, so a memory it ended is
    // never kept beside its successor. What it wrote after `version` is read
    // again at the next call. When the log was trimmed past `since` — before
    // the reads, or by a trim committed while they ran (hence the second look
    // at `trimmed`) — every live row is read instead (`reset`).
    const changes = (team: string, since: number): Effect.Effect<Changes | undefined, StoreError> =>
      Effect.gen(function*() {
        const head = yield* headOf(team)
        if (head.version === since) return undefined
        const reset = Effect.map(loadAt(team, head.version), (all): Changes => ({ ...all, reset: true }))
        if (since < head.trimmed) return yield* reset
        const rows = yield* sql<Row>`SELECT * FROM ${entries} WHERE team = ${team} AND version > ${since} AND live = 1`
        const gone = yield* sql<{ id: string }>`SELECT id FROM ${goneTable} WHERE team = ${team} AND version > ${since}`
        if (since < (yield* headOf(team)).trimmed) return yield* reset
        return { version: head.version, live: yield* toMemories(rows), gone: gone.map((r) => r.id) }
      }).pipe(fail("changes"))

    // Drops the gone ids logged before `at` − retention, at most once per
    // trim period (the team's row lock is held).
    const trim = (team: string, at: number) =>
      Effect.gen(function*() {
        const cutoff = at - retention
        const [last] = yield* sql<{ v: unknown }>`SELECT max(version) AS v FROM ${goneTable}
        WHERE team = ${team} AND at < ${cutoff}`
        if (last === undefined || last.v === null || last.v === undefined) {
          yield* sql`UPDATE ${teams} SET trimmed_at = ${at} WHERE team = ${team}`
          return
        }
        const through = Sql.toNumber(last.v)
        yield* sql`DELETE FROM ${goneTable} WHERE team = ${team} AND version <= ${through}`
        yield* sql`UPDATE ${teams} SET trimmed_at = ${at},
        trimmed = CASE WHEN trimmed > ${through} THEN trimmed ELSE ${through} END WHERE team = ${team}`
      })

    const apply = (team: string, batch: Batch): Effect.Effect<Applied, StoreError> =>
      sql.withTransaction(Effect.gen(function*() {
        const [bumped] = yield* sql<{ version: unknown; trimmed_at: unknown }>`INSERT INTO ${teams} (team, version)
        VALUES (${team}, 1) ON CONFLICT (team) DO UPDATE SET version = ${teams}.version + 1
        RETURNING version, trimmed_at`
        const version = Sql.toNumber(bumped!.version)
        if (batch.unseen !== undefined && version !== batch.unseen.since + 1) {
          const unseen = yield* sql<Row>`SELECT * FROM ${entries}
            WHERE team = ${team} AND version > ${batch.unseen.since} AND live = 1`
          // rolls the transaction back: nothing is written, not even the version
          if (batch.unseen.clashes(yield* toMemories(unseen))) return yield* new Clash()
        }
        if (batch.at >= Sql.toNumber(bumped!.trimmed_at) + trimPeriod(retention)) yield* trim(team, batch.at)
        const superseded: Array<string> = []
        const superseding: Array<string> = []
        const cleared: Array<string> = []
        const merged: Array<Memory> = []
        const missing: Array<string> = []
        // merges first (a memory merged into, then superseded by an insert of
        // this batch, keeps the merge); the stored memory is read after the
        // team's version was advanced (its row lock held), so no other writer
        // of the team can change it meanwhile
        for (const m of batch.merge) {
          const [row] = yield* sql<Row>`SELECT * FROM ${entries} WHERE id = ${m.id} AND team = ${team} AND live = 1`
          if (row === undefined) {
            missing.push(m.id)
            continue
          }
          const [stored] = yield* toMemories([row])
          const memory = mergeMemory(stored!, m)
          yield* sql`UPDATE ${entries} SET data = ${Sql.json(sql, dataOf(memory))}, version = ${version}
          WHERE id = ${m.id} AND team = ${team}`
          merged.push(memory)
        }
        // An insert with a key supersedes the stored live memory of its key,
        // or the previous insert of this batch with that key (stored superseded).
        const supersededBy = new Map<string, Memory>()
        const lastOfKey = new Map<string, Memory>()
        for (const m of batch.insert) {
          if (m.key === undefined) continue
          const scope = `${m.agent ?? ""}\u0000${m.key}`
          const previous = lastOfKey.get(scope)
          lastOfKey.set(scope, m)
          const ended: Array<string> = []
          if (previous !== undefined) {
            supersededBy.set(previous.id, m)
            ended.push(previous.id)
          } else {
            const old = yield* sql<{ id: string }>`UPDATE ${entries}
            SET live = 0, superseded_by = ${m.id}, superseded_at = ${m.createdAt}, version = ${version}
            WHERE team = ${team} AND agent = ${m.agent ?? ""} AND mkey = ${m.key} AND live = 1 RETURNING id`
            for (const { id } of old) ended.push(id)
          }
          for (const id of ended) {
            superseded.push(id)
            superseding.push(m.id)
            yield* sql`INSERT INTO ${goneTable} (team, version, id, at) VALUES (${team}, ${version}, ${id}, ${batch.at})`
          }
        }
        for (const chunk of chunks(batch.insert)) {
          yield* sql`INSERT INTO ${entries} ${
            sql.insert(chunk.map((m) => {
              const by = supersededBy.get(m.id)
              return {
                id: m.id,
                team,
                agent: m.agent ?? "",
                type: m.type,
                mkey: m.key ?? null,
                live: by === undefined ? 1 : 0,
                version,
                created_at: m.createdAt,
                last_accessed_at: m.lastAccessedAt,
                access_count: m.accessCount,
                superseded_by: by === undefined ? null : by.id,
                superseded_at: by === undefined ? null : by.createdAt,
                data: Sql.json(sql, dataOf(m))
              }
            }))
          }`
        }
        for (const chunk of chunks(batch.touch)) {
          yield* sql`UPDATE ${entries} SET access_count = access_count + 1,
          last_accessed_at = CASE WHEN last_accessed_at > ${batch.touchedAt} THEN last_accessed_at ELSE ${batch.touchedAt} END,
          version = ${version}
          WHERE team = ${team} AND live = 1 AND ${sql.in("id", chunk)}`
        }
        for (const chunk of chunks(batch.remove)) {
          yield* sql`INSERT INTO ${goneTable} (team, version, id, at)
          SELECT team, ${version}, id, ${batch.at} FROM ${entries} WHERE team = ${team} AND live = 1 AND ${
            sql.in("id", chunk)
          }`
          // live ones only: a memory another process superseded meanwhile stays in history
          yield* sql`DELETE FROM ${entries} WHERE team = ${team} AND live = 1 AND ${sql.in("id", chunk)}`
        }
        if (batch.clear !== undefined) {
          const agent = batch.clear.agent
          const scope = agent === null ? sql`team = ${team}` : sql`team = ${team} AND agent = ${agent}`
          const live = yield* sql<{ id: string }>`SELECT id FROM ${entries} WHERE ${scope} AND live = 1`
          for (const { id } of live) cleared.push(id)
          yield* sql`INSERT INTO ${goneTable} (team, version, id, at)
          SELECT team, ${version}, id, ${batch.at} FROM ${entries} WHERE ${scope} AND live = 1`
          yield* sql`DELETE FROM ${entries} WHERE ${scope}`
        }
        return { version, superseded, superseding, cleared, merged, missing }
      })).pipe(
        Effect.catchTag("Clash", () => Effect.succeed(clashed)),
        fail("apply")
      )

    const get = (team: string, id: string) =>
      sql<Row>`SELECT * FROM ${entries} WHERE team = ${team} AND id = ${id}`.pipe(
        Effect.flatMap(toMemories),
        Effect.map((memories): Memory | undefined => memories[0]),
        fail("get")
      )

    const history = (team: string, agent: string | null, key: string) =>
      Effect.flatMap(
        sql<Row>`SELECT * FROM ${entries} WHERE team = ${team} AND agent = ${agent ?? ""} AND mkey = ${key}
        ORDER BY created_at, id`,
        toMemories
      ).pipe(fail("history"))

    return { load, changes, apply, get, history } satisfies Store
  })
