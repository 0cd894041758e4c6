// The persistence contract every backend implements. The service
// (internal/service.ts) holds the rules — validation, the conflict
// strategies, per-prefix merges and schemas, `update`'s retries, `withLock`'s
// waiting, metrics — so that backends differ in storage only.
//
// A write reaches a store in one of two shapes, and the service picks by
// strategy: `compareAndSet`, the hot path (on SQL one statement: the lock
// check, the compare, the write and its history row), and `modify`, a read-
// modify-write under the key's row lock, for what has to look at the current
// value first (merge and last-write-wins after a conflict, delete).
import type { JsonObject } from "@agentos/core/Json"
import type * as Effect from "effect/Effect"
import type * as Stream from "effect/Stream"
import type { Entry, Version } from "../Entry.js"
import type { KeyLocked, StaleFence, StoreError } from "../Errors.js"

/** What a write's lock check can refuse. */
export type LockRefusal = StaleFence | KeyLocked

/**
 * A compare-and-set that wrote nothing because the key is not at the
 * expected version: `current` is the key's entry (undefined when absent),
 * read after the attempt. `undefined` as a whole when the caller asked not
 * to be told (see `compareAndSet`).
 */
export interface Conflict {
  readonly _tag: "Conflict"
  readonly current: Entry | undefined
}

/** A `Conflict` with this current entry. */
export const conflict = (current: Entry | undefined): Conflict => ({ _tag: "Conflict", current })

/**
 * What `compareAndSet` did: the committed entry, or why not. An `Entry` has
 * no `_tag`, which tells it from the rest without an `instanceof` on the
 * hot path.
 */
export type CasResult = Entry | Conflict | undefined

/**
 * What `modify`'s function decides after seeing the current entry: write a
 * value (a tombstone, `null`, deletes) by these writers, write nothing, or
 * fail.
 * `result` is what `modify` then returns, given the committed version.
 */
export type Decision<A, E> =
  | {
    readonly _tag: "Write"
    readonly value: JsonObject | null
    readonly modifiedBy: ReadonlyArray<string>
    readonly result: (committed: Version) => A
  }
  | { readonly _tag: "Keep"; readonly result: A }
  | { readonly _tag: "Fail"; readonly error: E }

/** The store as the service sees it. */
export interface Store {
  /** The label of the store's metrics (`memory`, `sql`). */
  readonly backend: string
  /**
   * Whether the entries it returns hold values it checked when they were
   * written (the memory store's frozen copies): errors built from them skip
   * a second validation. Values read back from a database are decoded.
   */
  readonly trusted: boolean
  /**
   * Whether the service traces the store's hot methods (`get`, `set`,
   * `update`, `delete`, `list`, `history`, `getAt`) with spans: worth it
   * where a call is a database round trip, not where it is a microsecond of
   * in-process work (see internal/service.ts). `withLock` is always traced.
   */
  readonly spans: boolean
  /**
   * The value as the store will keep it (the memory store: a deep frozen
   * copy), or why it is not JSON. Called for every value the service
   * writes, a merge's result included, once the service has checked that
   * it is an object.
   */
  readonly prepare: (value: unknown) => JsonObject | string
  /**
   * Writes `value` by `agent` at `at` (epoch milliseconds, from the
   * service's Clock) when the lock check passes (`fence`: the writer's
   * fence; none: the key must not be locked by anyone) and the key is at
   * version `expected` (0: absent; undefined: unconditional). On a version
   * mismatch it reports the current entry when `explain` is true, else
   * undefined (the caller goes on to `modify`, which reads it anyway: no read
   * is wasted). A lock refusal fails with it.
   */
  readonly compareAndSet: (
    key: string,
    value: JsonObject,
    agent: string,
    at: number,
    expected: number | undefined,
    fence: number | undefined,
    explain: boolean
  ) => Effect.Effect<CasResult, LockRefusal | StoreError>
  /**
   * Optional, for a store that works in process: `compareAndSet` answered
   * at once (a lock refusal returned, not failed; always explained), or
   * undefined when it cannot answer without an effect (the service then
   * calls `compareAndSet`). The memory store's writes take about a
   * microsecond, so building and running one more Effect per write would be
   * a good part of their cost.
   */
  readonly compareAndSetNow?: (
    key: string,
    value: JsonObject,
    agent: string,
    at: number,
    expected: number | undefined,
    fence: number | undefined
  ) => Entry | Conflict | LockRefusal | undefined
  /**
   * Checks the key's lock (as `compareAndSet`), reads the current entry with
   * the key locked against other writers, and commits what `decide` returns
   * (at the version it saw). `decide` must be pure: a store may call it
   * again when it retries a transaction.
   */
  readonly modify: <A, E>(
    /** The operation a StoreError names (`set`, `delete`). */
    operation: string,
    key: string,
    fence: number | undefined,
    at: number,
    decide: (current: Entry | undefined) => Decision<A, E>
  ) => Effect.Effect<A, E | LockRefusal | StoreError>
  readonly get: (key: string) => Effect.Effect<Entry | undefined, StoreError>
  /**
   * Up to `limit + 1` live entries whose keys start with `prefix`, above
   * `after` when given, in key order (the service pages with the extra one).
   */
  readonly list: (
    prefix: string,
    after: string | undefined,
    limit: number
  ) => Effect.Effect<ReadonlyArray<Entry>, StoreError>
  /** The last `historyLimit` versions of a key, oldest first. */
  readonly history: (key: string) => Effect.Effect<ReadonlyArray<Version>, StoreError>
  /** One version, if among the last `historyLimit`. */
  readonly getAt: (key: string, version: number) => Effect.Effect<Version | undefined, StoreError>
  /** The versions committed from subscription on to keys starting with `prefix`, in commit order. */
  readonly changes: (prefix: string) => Stream.Stream<Version, StoreError>
  /**
   * Grants the key's lock to `agent` for `ttlMillis` (re-entrant: the same
   * fence while its own lease is live); its fence, or undefined while
   * another agent's lease is live.
   */
  readonly tryAcquire: (key: string, agent: string, ttlMillis: number) => Effect.Effect<number | undefined, StoreError>
  /** Undoes one grant of `fence` by `agent`; frees the lock after the last. A stale fence does nothing. */
  readonly release: (key: string, agent: string, fence: number) => Effect.Effect<void, StoreError>
}

/** Whether a `compareAndSet` result is a committed entry. */
export const isEntry = (result: CasResult | LockRefusal): result is Entry =>
  result !== undefined && (result as { readonly _tag?: string })._tag === undefined
