/**
 * Shared state for many agents: a versioned key-value store of JSON objects
 * with compare-and-set, per-key-prefix conflict strategies (reject,
 * first-write-wins, last-write-wins, merge), optional schemas, history, a
 * change feed, and leased locks that hand out fencing tokens.
 *
 * This module holds the service's tag, its interface, its options and its
 * layers; the rules live in one place over a narrow store contract, which
 * `layerMemory` keeps in one process and `layerSql` in SQLite or a Postgres
 * shared by many processes. Both pass one conformance suite
 * (`@agentos/state/Testing`).
 *
 * @since 0.1.0
 */
import type { JsonObject } from "@agentos/core/Json"
import type * as SqlClient from "@effect/sql/SqlClient"
import * as Context from "effect/Context"
import type * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import type * as Option from "effect/Option"
import type * as Schedule from "effect/Schedule"
import type * as Schema from "effect/Schema"
import type * as Scope from "effect/Scope"
import type * as Stream from "effect/Stream"
import type { Entry, Lock, Page, SetResult, Strategy, UpdateResult, Version } from "./Entry.js"
import type { InvalidInput, InvalidOptions, LockTimeout, StoreError, VersionConflict, WriteError } from "./Errors.js"
import * as MemoryStore from "./internal/memoryStore.js"
import * as Metrics from "./internal/metrics.js"
import * as Options from "./internal/options.js"
import * as Service from "./internal/service.js"
import * as SqlStore from "./internal/sqlStore.js"
import type { Merger } from "./Merge.js"

// ---------------------------------------------------------------------------
// options of the calls
// ---------------------------------------------------------------------------

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
  readonly get: (key: string) => Effect.Effect<Option.Option<Entry>, InvalidInput | StoreError>
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
  readonly list: (prefix: string, options?: ListOptions) => Effect.Effect<Page, InvalidInput | StoreError>
  /** The last versions of a key (deletes included as `value: null`), oldest first. */
  readonly history: (key: string) => Effect.Effect<ReadonlyArray<Version>, InvalidInput | StoreError>
  /** One version of a key, if still in its history. */
  readonly getAt: (key: string, version: number) => Effect.Effect<Option.Option<Version>, InvalidInput | StoreError>
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
  ) => Effect.Effect<Lock, LockTimeout | InvalidInput | StoreError, Scope.Scope>
}

/**
 * The shared state service tag.
 *
 * @since 0.1.0
 * @category tags
 */
export class SharedState extends Context.Tag("@agentos/state/SharedState")<SharedState, SharedStateService>() {}

// ---------------------------------------------------------------------------
// options of the layers
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

/**
 * The default retry schedule of `update`: jittered exponential backoff from
 * 1 ms (×1.5), each delay capped at 100 ms, at most 100 retries.
 *
 * @since 0.1.0
 * @category constructors
 */
export const defaultUpdateSchedule: Schedule.Schedule<unknown, unknown> = Options.defaultUpdateSchedule

// ---------------------------------------------------------------------------
// layers
// ---------------------------------------------------------------------------

/**
 * An in-process store. Lease expiry follows the Effect `Clock`. Fails with
 * `InvalidOptions` when built with options that are not valid.
 *
 * @since 0.1.0
 * @category layers
 */
export const layerMemory = (options: StoreOptions = {}): Layer.Layer<SharedState, InvalidOptions> =>
  Layer.effect(
    SharedState,
    Effect.flatMap(Options.make(options), (config) => Service.make(MemoryStore.make(config), config))
  )

/**
 * A store over `SqlClient` (SQLite or Postgres), running its migrations
 * (tables `agentos_state_*`). Lease expiry follows the database's clock; the
 * change feed polls the history table every `pollInterval`. Fails with
 * `InvalidOptions` when built with options that are not valid, before
 * anything is opened.
 *
 * @since 0.1.0
 * @category layers
 */
export const layerSql = (
  options: SqlStoreOptions = {}
): Layer.Layer<SharedState, InvalidOptions | StoreError, SqlClient.SqlClient> =>
  Layer.effect(
    SharedState,
    Effect.gen(function*() {
      const config = yield* Options.make(options)
      const pollMillis = yield* Options.pollMillis(options)
      return yield* Service.make(yield* SqlStore.make(config, pollMillis), config)
    })
  )

// ---------------------------------------------------------------------------
// accessors
// ---------------------------------------------------------------------------

/**
 * Accessor: `SharedState.get(key)` inside an effect that needs `SharedState`.
 *
 * @since 0.1.0
 * @category accessors
 */
export const get = (key: string): Effect.Effect<Option.Option<Entry>, InvalidInput | StoreError, SharedState> =>
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

// ---------------------------------------------------------------------------
// deprecated aliases
// ---------------------------------------------------------------------------

/**
 * @deprecated The models moved to the `Entry` module (`import { Entry } from "@agentos/state"`).
 * @since 0.1.0
 */
export type { Entry, Lock, Outcome, Page, SetResult, Strategy, UpdateResult, Version } from "./Entry.js"

/**
 * @deprecated The errors moved to the `Errors` module (`Errors.VersionConflict`).
 * @since 0.1.0
 */
export { InvalidValue, KeyLocked, LockTimeout, StaleFence, StoreError, VersionConflict } from "./Errors.js"

/**
 * @deprecated Moved to the `Errors` module (`Errors.WriteError`).
 * @since 0.1.0
 */
export type { WriteError } from "./Errors.js"

/**
 * @deprecated Read the metric by its name, `agentos_state_writes_total`.
 * @since 0.1.0
 */
export const writesTotal = Metrics.writesTotal

/**
 * @deprecated Read the metric by its name, `agentos_state_conflicts_total`.
 * @since 0.1.0
 */
export const conflictsTotal = Metrics.conflictsTotal
