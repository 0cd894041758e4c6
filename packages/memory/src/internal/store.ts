// The store contract: what a backend must do, nothing more. The service
// (internal/service.ts) holds the rules — validation, scoring, superseding,
// consolidation, capacity — and an in-process index; backends differ in
// storage only.
//
// Every write to a team runs in one transaction that first advances the
// team's version (a row lock on SQL, so a team's writers commit in version
// order) and stamps the rows it writes with it. `changes(team, since)`
// returns the live rows stamped after `since` and the ids removed after it:
// that is how a process sees what another process wrote.
//
// The log of removed ids is trimmed: a write at time T drops the ids
// removed before T − retention (at most once per `trimPeriod`, so each trim
// drops about a period's worth of ids, never a day's at once). A reader whose
// `since` is older than what was trimmed gets every live memory instead
// (`reset`), so nothing removed comes back in a process that slept.
import type * as Effect from "effect/Effect"
import type { StoreError } from "../Errors.js"
import type { Memory } from "../Memory.js"

/** One transaction's writes to a team. */
export interface Batch {
  /**
   * New memories, in order. A memory with a key first supersedes the live
   * memories of its team, agent and key (by the database's order of writers,
   * so two processes adding one key leave one live memory), an earlier
   * insert of the same batch included: it is stored superseded.
   */
  readonly insert: ReadonlyArray<Memory>
  /**
   * Merges, applied in order before the inserts: each added memory (carrying
   * the id of the live memory it merges into) is merged with `mergeMemory`
   * into that memory as stored, inside the transaction, so a merge another
   * process made meanwhile is kept (and a memory merged into, then
   * superseded by an insert of the same batch, keeps the merge).
   */
  readonly merge: ReadonlyArray<Memory>
  /** Accessed memories: one access more each, last access at `at`. */
  readonly touch: ReadonlyArray<string>
  readonly touchedAt: number
  /** The writer's clock: removed ids are logged at this time. */
  readonly at: number
  /** Removed memories (forget, eviction): live ones only; a superseded one stays in history. */
  readonly remove: ReadonlyArray<string>
  /** Removes every memory of the team (`null`), or of an agent. */
  readonly clear?: { readonly agent: string | null }
  /**
   * Checked first, inside the write: when the live memories written after
   * `since` (by another process, unseen by the writer) clash with the batch,
   * nothing is written and `Applied.clashed` is true (consolidation: another
   * process added the same text meanwhile).
   */
  readonly unseen?: {
    readonly since: number
    readonly clashes: (memories: ReadonlyArray<Memory>) => boolean
  }
}

export interface Applied {
  readonly version: number
  /** Memories superseded by this batch's inserts. */
  readonly superseded: ReadonlyArray<string>
  /** The insert that superseded each of `superseded` (the same positions). */
  readonly superseding: ReadonlyArray<string>
  /** Memories removed by `clear`. */
  readonly cleared: ReadonlyArray<string>
  /** The merged memories as stored. */
  readonly merged: ReadonlyArray<Memory>
  /** Ids of merges whose memory was no longer live (another process ended it): nothing was written for them. */
  readonly missing: ReadonlyArray<string>
  /** The batch clashed with unseen memories (see `Batch.unseen`): nothing was written. */
  readonly clashed?: boolean
}

/** The result of a batch that clashed: nothing written, no version. */
export const clashed: Applied = {
  version: -1,
  superseded: [],
  superseding: [],
  cleared: [],
  merged: [],
  missing: [],
  clashed: true
}

export interface Changes {
  readonly version: number
  /** `live` is every live memory: what the reader holds beside it is gone (its `since` was trimmed away). */
  readonly reset?: boolean
  /** Live memories written after `since` (inserted, updated, touched). */
  readonly live: ReadonlyArray<Memory>
  /** Ids no longer live since `since` (superseded, removed, cleared); read after `live`, so an id in both is gone. */
  readonly gone: ReadonlyArray<string>
}

export interface Store {
  /** The live memories of a team and its version. */
  readonly load: (team: string) => Effect.Effect<Changes, StoreError>
  /** What changed after `since`; undefined when the version is still `since` (one cheap read). */
  readonly changes: (team: string, since: number) => Effect.Effect<Changes | undefined, StoreError>
  readonly apply: (team: string, batch: Batch) => Effect.Effect<Applied, StoreError>
  /** A memory, live or superseded. */
  readonly get: (team: string, id: string) => Effect.Effect<Memory | undefined, StoreError>
  /** Every memory of a key in a scope (`agent` null: the team's), superseded ones included, oldest first. */
  readonly history: (
    team: string,
    agent: string | null,
    key: string
  ) => Effect.Effect<ReadonlyArray<Memory>, StoreError>
}

export const emptyBatch: Batch = { insert: [], merge: [], touch: [], touchedAt: 0, at: 0, remove: [] }

/** How long removed ids are kept in the log by default: 24 hours. */
export const DEFAULT_RETENTION = 24 * 3_600_000

/** How often a team's log is trimmed: every minute, or every quarter of a shorter retention. */
export const trimPeriod = (retention: number): number => Math.min(60_000, retention / 4)
