// The store contract in memory: one process, nothing survives a restart.
// It keeps the same versions and change log as the SQL store so the service
// runs unchanged over both.
import * as Effect from "effect/Effect"
import type { Memory } from "../Memory.js"
import { mergeMemory } from "./merge.js"
import { type Applied, type Batch, type Changes, clashed, DEFAULT_RETENTION, type Store, trimPeriod } from "./store.js"

interface Row {
  memory: Memory
  version: number
}

interface Team {
  version: number
  readonly rows: Map<string, Row>
  /** id → the version at which it stopped being live, and when (in the order logged). */
  readonly gone: Map<string, { readonly version: number; readonly at: number }>
  /** The log of gone ids was trimmed through this version, last at `trimmedAt`. */
  trimmed: number
  trimmedAt: number
  /** team-or-agent and key → the live memory's id. */
  readonly keys: Map<string, string>
}

const scopeKey = (memory: Memory) => `${memory.agent ?? ""}\u0000${memory.key ?? ""}`

export const makeMemoryStore = (retention: number = DEFAULT_RETENTION): Effect.Effect<Store> =>
  Effect.sync(() => {
    const teams = new Map<string, Team>()
    const team = (name: string): Team => {
      let t = teams.get(name)
      if (t === undefined) {
        t = { version: 0, rows: new Map(), gone: new Map(), keys: new Map(), trimmed: 0, trimmedAt: 0 }
        teams.set(name, t)
      }
      return t
    }
    const isLive = (row: Row) => row.memory.supersededBy === undefined

    // The rule of the SQL store: drop the ids logged before `at` − retention
    // and every id of a version up to theirs, at most once per trim period.
    // The log is in version order (a Map keeps insertion order), so a trim
    // walks only what it drops.
    const trim = (t: Team, at: number) => {
      if (at < t.trimmedAt + trimPeriod(retention)) return
      t.trimmedAt = at
      const cutoff = at - retention
      let through = t.trimmed
      for (const [id, entry] of t.gone) {
        if (entry.at >= cutoff && entry.version > through) break
        through = Math.max(through, entry.version)
        t.gone.delete(id)
      }
      t.trimmed = through
    }

    const apply = (name: string, batch: Batch): Applied => {
      const t = team(name)
      if (batch.unseen !== undefined && t.version !== batch.unseen.since) {
        const since = batch.unseen.since
        const unseen = [...t.rows.values()].filter((row) => row.version > since && isLive(row)).map((r) => r.memory)
        if (batch.unseen.clashes(unseen)) return clashed
      }
      const version = ++t.version
      trim(t, batch.at)
      const superseded: Array<string> = []
      const superseding: Array<string> = []
      const cleared: Array<string> = []
      const merged: Array<Memory> = []
      const missing: Array<string> = []
      // merges first: a memory merged into and then superseded in one batch keeps its merge
      for (const memory of batch.merge) {
        const row = t.rows.get(memory.id)
        if (row !== undefined && isLive(row)) {
          row.memory = mergeMemory(row.memory, memory)
          row.version = version
          merged.push(row.memory)
        } else missing.push(memory.id)
      }
      for (const memory of batch.insert) {
        if (memory.key !== undefined) {
          const k = scopeKey(memory)
          const row = t.rows.get(t.keys.get(k) ?? "")
          if (row !== undefined && isLive(row)) {
            row.memory = { ...row.memory, supersededBy: memory.id, supersededAt: memory.createdAt }
            row.version = version
            t.gone.set(row.memory.id, { version, at: batch.at })
            superseded.push(row.memory.id)
            superseding.push(memory.id)
          }
          t.keys.set(k, memory.id)
        }
        t.rows.set(memory.id, { memory, version })
        t.gone.delete(memory.id)
      }
      for (const id of batch.touch) {
        const row = t.rows.get(id)
        if (row !== undefined && isLive(row)) {
          row.memory = {
            ...row.memory,
            accessCount: row.memory.accessCount + 1,
            lastAccessedAt: Math.max(row.memory.lastAccessedAt, batch.touchedAt)
          }
          row.version = version
        }
      }
      const drop = (id: string) => {
        const row = t.rows.get(id)
        if (row === undefined) return false
        t.rows.delete(id)
        t.gone.set(id, { version, at: batch.at })
        if (row.memory.key !== undefined && t.keys.get(scopeKey(row.memory)) === id) t.keys.delete(scopeKey(row.memory))
        return true
      }
      // live ones only, as on SQL: a superseded memory stays in history
      for (const id of batch.remove) {
        const row = t.rows.get(id)
        if (row !== undefined && isLive(row)) drop(id)
      }
      if (batch.clear !== undefined) {
        const agent = batch.clear.agent
        for (const [id, row] of t.rows) {
          if ((agent === null || row.memory.agent === agent) && drop(id) && isLive(row)) cleared.push(id)
        }
      }
      return { version, superseded, superseding, cleared, merged, missing }
    }

    const changesSince = (t: Team, since: number): Changes => {
      const live: Array<Memory> = []
      for (const row of t.rows.values()) if (row.version > since && isLive(row)) live.push(row.memory)
      const gone: Array<string> = []
      for (const [id, entry] of t.gone) if (entry.version > since) gone.push(id)
      return { version: t.version, live, gone }
    }

    const store: Store = {
      load: (name) => Effect.sync(() => changesSince(team(name), 0)),
      changes: (name, since) =>
        Effect.sync(() => {
          const t = team(name)
          if (t.version === since) return undefined
          return since < t.trimmed ? { ...changesSince(t, 0), gone: [], reset: true } : changesSince(t, since)
        }),
      apply: (name, batch) => Effect.sync(() => apply(name, batch)),
      get: (name, id) => Effect.sync(() => team(name).rows.get(id)?.memory),
      history: (name, agent, key) =>
        Effect.sync(() =>
          [...team(name).rows.values()]
            .map((row) => row.memory)
            .filter((m) => m.key === key && (m.agent ?? null) === agent)
            .sort((a, b) => a.createdAt - b.createdAt || (a.id < b.id ? -1 : 1))
        )
    }
    return store
  })
