/**
 * Shared state for many agents: a versioned key-value store of JSON objects
 * with compare-and-set, per-key-prefix conflict strategies (reject,
 * first-write-wins, last-write-wins, merge), optional schemas, history, a
 * change feed, and leased locks that hand out fencing tokens.
 *
 * The service is backend-neutral; `layerMemory` serves one process,
 * `layerSql` serves SQLite or a Postgres shared by many processes. Both pass
 * one conformance suite.
 *
 * @since 0.1.0
 */
import { JsonObject } from "@agentos/core/Json"
import type * as SqlClient from "@effect/sql/SqlClient"
import * as Context from "effect/Context"
import type * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Metric from "effect/Metric"
import type * as Option from "effect/Option"
import type * as Schedule from "effect/Schedule"
import * as Schema from "effect/Schema"
import type * as Scope from "effect/Scope"
import type * as Stream from "effect/Stream"
import * as InternalCommon from "./internal/common.js"
import * as InternalMemory from "./internal/memory.js"
import * as InternalSql from "./internal/sql.js"
import type { Merger } from "./Merge.js"

// ---------------------------------------------------------------------------
// models
// ---------------------------------------------------------------------------

/**
 * The current version of a key.
 *
 * @since 0.1.0
 * @category models
 */
export interface Entry {
  readonly key: string
  readonly value: JsonObject
  /** Starts at 1, +1 on every committed write or delete of the key; never reused. */
  readonly version: number
  /** Who wrote this version: one agent, or two for a merge (the writer merged into, then the incoming writer). */
  readonly modifiedBy: ReadonlyArray<string>
  /** Epoch milliseconds of the write, from the writer's `Clock`. */
  readonly updatedAt: number
}

/**
 * One committed version, as kept in history and sent on the change feed.
 * `value` is `null` for a delete.
 *
 * @since 0.1.0
 * @category models
 */
export interface Version {
  readonly key: string
  readonly value: JsonObject | null
  readonly version: number
  readonly modifiedBy: ReadonlyArray<string>
  readonly updatedAt: number
}

/**
 * What decides a write whose `expectedVersion` is not the current version.
 * See the package README for the table of rules.
 *
 * @since 0.1.0
 * @category models
 */
export type Strategy = "reject" | "first-write-wins" | "last-write-wins" | "merge"

/**
 * Options of one `set`.
 *
 * @since 0.1.0
 * @category models
 */
export interface SetOptions {
  /** Who writes (recorded as `modifiedBy`). */
  readonly agent: string
  /**
   * The version the writer read: `0` means "the key must not exist". Without
   * it the write is unconditional.
   */
  readonly expectedVersion?: number
  /** Overrides the store's strategy (and the key prefix's) for this write. */
  readonly strategy?: Strategy
  /** The fencing token of a lock on this key held by the writer. */
  readonly fence?: number
}

/**
 * How a `set` ended:
 * - `written`: the expected version matched, or there was none;
 * - `overwritten`: a conflict, resolved by last-write-wins;
 * - `merged`: a conflict, resolved by merging into the current value;
 * - `kept-current`: a conflict, resolved by first-write-wins: nothing written.
 *
 * @since 0.1.0
 * @category models
 */
export type Outcome = "written" | "overwritten" | "merged" | "kept-current"

/**
 * The result of a `set`.
 *
 * @since 0.1.0
 * @category models
 */
export interface SetResult {
  /** Whether this call committed a new version. */
  readonly applied: boolean
  readonly outcome: Outcome
  /** The key's current entry after the call (none when first-write-wins kept an absent key absent). */
  readonly entry: Option.Option<Entry>
  /** On a conflict: the version the writer expected and the one it found. */
  readonly conflict?: { readonly expectedVersion: number; readonly currentVersion: number }
}

/**
 * Options of `delete`.
 *
 * @since 0.1.0
 * @category models
 */
export interface DeleteOptions {
  readonly agent: string
  /** Fails with `VersionConflict` unless the key is at this version (`0`: absent). */
  readonly expectedVersion?: number
  readonly fence?: number
}

/**
 * Options of `update`.
 *
 * @since 0.1.0
 * @category models
 */
export interface UpdateOptions {
  readonly agent: string
  readonly fence?: number
  /**
   * When to retry after a conflict. Default: `defaultUpdateSchedule`
   * (jittered exponential backoff from 1 ms, capped at 100 ms, 100 retries).
   */
  readonly schedule?: Schedule.Schedule<unknown, VersionConflict>
}

/**
 * The result of `update`: the committed entry, how many times the function
 * ran, and how many of those attempts lost a compare-and-set race.
 *
 * @since 0.1.0
 * @category models
 */
export interface UpdateResult {
  readonly entry: Entry
  readonly attempts: number
  readonly conflicts: number
}

/**
 * Options of `list`.
 *
 * @since 0.1.0
 * @category models
 */
export interface ListOptions {
  /** Page size, 1–1000 (default 100). */
  readonly limit?: number
  /** The `cursor` of the previous page. */
  readonly cursor?: string
}

/**
 * A page of entries in key order; `cursor` is set when more may follow.
 *
 * @since 0.1.0
 * @category models
 */
export interface Page {
  readonly entries: ReadonlyArray<Entry>
  readonly cursor: Option.Option<string>
}

/**
 * Options of `withLock`.
 *
 * @since 0.1.0
 * @category models
 */
export interface LockOptions {
  /** Who holds the lock. Re-acquiring by the same agent while its lease is live is re-entrant. */
  readonly agent: string
  /** The lease: after it the lock may be granted to another agent (default 30 seconds). */
  readonly ttl?: Duration.DurationInput
  /** How long to wait for a lock held by another agent (default 5 seconds; 0: try once). */
  readonly wait?: Duration.DurationInput
}

/**
 * A granted lock. Pass `fence` to `set`, `delete` and `update` while holding it.
 *
 * @since 0.1.0
 * @category models
 */
export interface Lock {
  readonly key: string
  readonly agent: string
  /** The fencing token: strictly increasing per key across grants; the same on a re-entrant grant. */
  readonly fence: number
}

// ---------------------------------------------------------------------------
// errors
// ---------------------------------------------------------------------------

/**
 * A write or delete expected another version (strategy `reject`, or any
 * delete). Carries what the caller needs to retry: the current version,
 * value (`null` if absent) and who wrote it.
 *
 * @since 0.1.0
 * @category errors
 */
export class VersionConflict extends Schema.TaggedError<VersionConflict>()("VersionConflict", {
  key: Schema.String,
  expectedVersion: Schema.Number,
  currentVersion: Schema.Number,
  currentValue: Schema.NullOr(JsonObject),
  modifiedBy: Schema.Array(Schema.String),
  /** When the current version was written (0 if absent). */
  updatedAt: Schema.Number
}) {
  /** @since 0.1.0 */
  override get message(): string {
    return `version conflict on "${this.key}": expected version ${this.expectedVersion}, current is ${this.currentVersion} (by ${
      this.modifiedBy.join("+") || "nobody"
    })`
  }
}

/**
 * A write carried a fencing token that is not the newest granted for the
 * key: its lock was lost (lease expired and granted again) or never existed.
 *
 * @since 0.1.0
 * @category errors
 */
export class StaleFence extends Schema.TaggedError<StaleFence>()("StaleFence", {
  key: Schema.String,
  fence: Schema.Number,
  newestFence: Schema.Number
}) {
  /** @since 0.1.0 */
  override get message(): string {
    return `stale fence on "${this.key}": ${this.fence}, the newest granted is ${this.newestFence}`
  }
}

/**
 * A write without a fence to a key whose lock is held (lease live).
 *
 * @since 0.1.0
 * @category errors
 */
export class KeyLocked extends Schema.TaggedError<KeyLocked>()("KeyLocked", {
  key: Schema.String,
  holder: Schema.String
}) {
  /** @since 0.1.0 */
  override get message(): string {
    return `"${this.key}" is locked by ${this.holder}: write with its fence`
  }
}

/**
 * `withLock` waited its `wait` and the lock was still held by another agent.
 *
 * @since 0.1.0
 * @category errors
 */
export class LockTimeout extends Schema.TaggedError<LockTimeout>()("LockTimeout", {
  key: Schema.String,
  agent: Schema.String,
  waitedMillis: Schema.Number
}) {
  /** @since 0.1.0 */
  override get message(): string {
    return `lock on "${this.key}" not granted to ${this.agent} within ${this.waitedMillis} ms`
  }
}

/**
 * A value that is not a JSON object, or does not decode with the schema of
 * its key's prefix. Nothing was written.
 *
 * @since 0.1.0
 * @category errors
 */
export class InvalidValue extends Schema.TaggedError<InvalidValue>()("InvalidValue", {
  key: Schema.String,
  reason: Schema.String
}) {
  /** @since 0.1.0 */
  override get message(): string {
    return `invalid value for "${this.key}": ${this.reason}`
  }
}

/**
 * A malformed request: an empty key, a negative version, a bad limit, a
 * missing agent. Nothing was written.
 *
 * @since 0.1.0
 * @category errors
 */
export class InvalidRequest extends Schema.TaggedError<InvalidRequest>()("InvalidRequest", {
  reason: Schema.String
}) {
  /** @since 0.1.0 */
  override get message(): string {
    return this.reason
  }
}

/**
 * The backend failed (a `SqlError`, described).
 *
 * @since 0.1.0
 * @category errors
 */
export class StoreError extends Schema.TaggedError<StoreError>()("StoreError", {
  operation: Schema.String,
  reason: Schema.String
}) {
  /** @since 0.1.0 */
  override get message(): string {
    return `state store failed in ${this.operation}: ${this.reason}`
  }
}

/**
 * The errors of a write.
 *
 * @since 0.1.0
 * @category errors
 */
export type WriteError = VersionConflict | StaleFence | KeyLocked | InvalidValue | InvalidRequest | StoreError

// ---------------------------------------------------------------------------
// service
// ---------------------------------------------------------------------------

/**
 * The shared state service.
 *
 * @since 0.1.0
 * @category models
 */
export interface SharedStateService {
  /** The current entry of a key, or none. */
  readonly get: (key: string) => Effect.Effect<Option.Option<Entry>, InvalidRequest | StoreError>
  /** Writes a value; see `SetOptions` and the README's table of strategies. */
  readonly set: (key: string, value: JsonObject, options: SetOptions) => Effect.Effect<SetResult, WriteError>
  /**
   * Read, apply `f`, compare-and-set, and on a conflict retry under the
   * schedule. `f` sees the current entry (none if absent) and may run effects.
   */
  readonly update: <E = never>(
    key: string,
    f: (current: Option.Option<Entry>) => JsonObject | Effect.Effect<JsonObject, E>,
    options: UpdateOptions
  ) => Effect.Effect<UpdateResult, WriteError | E>
  /** Deletes a key; `true` if it existed. Versions continue after a delete (no reuse). */
  readonly delete: (key: string, options: DeleteOptions) => Effect.Effect<boolean, WriteError>
  /** The live keys starting with `prefix`, in key order, a page at a time. */
  readonly list: (prefix: string, options?: ListOptions) => Effect.Effect<Page, InvalidRequest | StoreError>
  /** The last versions of a key (deletes included as `value: null`), oldest first. */
  readonly history: (key: string) => Effect.Effect<ReadonlyArray<Version>, InvalidRequest | StoreError>
  /** One version of a key, if still in its history. */
  readonly getAt: (key: string, version: number) => Effect.Effect<Option.Option<Version>, InvalidRequest | StoreError>
  /**
   * The versions committed from now on to keys starting with `keyOrPrefix`
   * (an exact key is its own prefix).
   */
  readonly changes: (keyOrPrefix: string) => Stream.Stream<Version, StoreError>
  /**
   * Acquires the key's lock for the scope and yields its fencing token;
   * released when the scope closes (only by its holder).
   */
  readonly withLock: (
    key: string,
    options: LockOptions
  ) => Effect.Effect<Lock, LockTimeout | InvalidRequest | StoreError, Scope.Scope>
}

/**
 * The shared state service tag.
 *
 * @since 0.1.0
 * @category tags
 */
export class SharedState extends Context.Tag("@agentos/state/SharedState")<SharedState, SharedStateService>() {}

// ---------------------------------------------------------------------------
// options
// ---------------------------------------------------------------------------

/**
 * Settings for the keys under one prefix (the longest matching prefix wins).
 *
 * @since 0.1.0
 * @category models
 */
export interface PrefixOptions {
  readonly prefix: string
  readonly strategy?: Strategy
  readonly merge?: Merger
  /** Values under this prefix must decode with this schema (from their JSON form). */
  readonly schema?: Schema.Schema<any, any, never>
}

/**
 * Options of a store.
 *
 * @since 0.1.0
 * @category models
 */
export interface StoreOptions {
  /** The default strategy (default `reject`). */
  readonly strategy?: Strategy
  /** The default merge (default: deep merge, current wins, arrays replace). */
  readonly merge?: Merger
  /** Per-prefix strategy, merge and schema. */
  readonly prefixes?: ReadonlyArray<PrefixOptions>
  /** Versions kept per key (default 20). */
  readonly historyLimit?: number
  /**
   * Contention management inside one process, not a correctness mechanism:
   * how many `update` attempts on one key may be in flight at once in this
   * store instance (default 2). The others wait for their turn before they
   * read, instead of reading a value that is stale by the time their
   * compare-and-set runs: under contention this cuts wasted round trips.
   * It is not a lock: attempts in flight, plain `set`s and writers in other
   * processes still race, and compare-and-set alone keeps writes correct.
   */
  readonly updateConcurrency?: number
}

/**
 * Options of the SQL store.
 *
 * @since 0.1.0
 * @category models
 */
export interface SqlStoreOptions extends StoreOptions {
  /**
   * How often the change feed polls the history table (default 50 millis).
   * A committed write reaches a subscriber within about one interval.
   */
  readonly pollInterval?: Duration.DurationInput
}

// ---------------------------------------------------------------------------
// metrics
// ---------------------------------------------------------------------------

/**
 * Committed writes (sets and deletes), by backend.
 *
 * @since 0.1.0
 * @category metrics
 */
export const writesTotal = Metric.counter("agentos_state_writes_total", {
  description: "Committed writes and deletes of shared state",
  incremental: true
})

/**
 * Conflicts met by `set` (any strategy) and retried by `update`.
 *
 * @since 0.1.0
 * @category metrics
 */
export const conflictsTotal = Metric.counter("agentos_state_conflicts_total", {
  description: "Writes whose expected version was not the current one",
  incremental: true
})

/**
 * The default retry schedule of `update`: jittered exponential backoff from
 * 1 ms (×1.5), each delay capped at 100 ms, at most 100 retries.
 *
 * @since 0.1.0
 * @category constructors
 */
export const defaultUpdateSchedule: Schedule.Schedule<unknown, unknown> = InternalCommon.defaultSchedule

// ---------------------------------------------------------------------------
// layers
// ---------------------------------------------------------------------------

/**
 * An in-process store. Lease expiry follows the Effect `Clock`.
 *
 * @since 0.1.0
 * @category layers
 */
export const layerMemory = (options: StoreOptions = {}): Layer.Layer<SharedState> =>
  Layer.effect(SharedState, InternalMemory.make(options))

/**
 * A store over `SqlClient` (SQLite or Postgres), running its migrations
 * (tables `agentos_state_*`). Lease expiry follows the database's clock; the
 * change feed polls the history table every `pollInterval`.
 *
 * @since 0.1.0
 * @category layers
 */
export const layerSql = (
  options: SqlStoreOptions = {}
): Layer.Layer<SharedState, StoreError, SqlClient.SqlClient> => Layer.effect(SharedState, InternalSql.make(options))

/**
 * Accessor: `SharedState.get(key)` inside an effect that needs `SharedState`.
 *
 * @since 0.1.0
 * @category accessors
 */
export const get = (key: string): Effect.Effect<Option.Option<Entry>, InvalidRequest | StoreError, SharedState> =>
  Effect.flatMap(SharedState, (state) => state.get(key))

/**
 * Accessor for `set`.
 *
 * @since 0.1.0
 * @category accessors
 */
export const set = (
  key: string,
  value: JsonObject,
  options: SetOptions
): Effect.Effect<SetResult, WriteError, SharedState> =>
  Effect.flatMap(SharedState, (state) => state.set(key, value, options))

/**
 * Accessor for `update`.
 *
 * @since 0.1.0
 * @category accessors
 */
export const update = <E = never>(
  key: string,
  f: (current: Option.Option<Entry>) => JsonObject | Effect.Effect<JsonObject, E>,
  options: UpdateOptions
): Effect.Effect<UpdateResult, WriteError | E, SharedState> =>
  Effect.flatMap(SharedState, (state) => state.update(key, f, options))
