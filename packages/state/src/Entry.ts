/**
 * The data of shared state: a key's entry, the versions kept in its history
 * and sent on the change feed, what a write reports, a page of `list`, a
 * granted lock.
 *
 * @since 0.2.0
 */
import type { JsonObject } from "@agentos/core/Json"
import type * as Option from "effect/Option"

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
