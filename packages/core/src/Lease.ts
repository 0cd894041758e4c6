/**
 * Leases: exclusive, expiring ownership of a key with a fencing token — the
 * one mechanism behind a dead letter's replay claim, a state key's lock and a
 * workflow's lease. Every AgentOS package judges a lease by the same rule:
 *
 * - a lease is **live** while `now < expiresAt`, and **free** from
 *   `expiresAt` on (a lease whose expiry equals now is expired);
 * - on SQL, `now` is the database's clock, read inside the statement
 *   (`sqlLive`, `sqlFree`, `sqlExpiresAt`), so that processes on machines
 *   with skewed clocks agree; in memory it is Effect's `Clock`;
 * - every grant of a key carries a **fencing token** strictly greater than
 *   every token granted for that key before, also after a release or an
 *   expiry, so a holder that paused past its lease can be refused by token.
 *
 * @since 0.2.0
 */
import type * as SqlClient from "@effect/sql/SqlClient"
import type * as Statement from "@effect/sql/Statement"
import * as Clock from "effect/Clock"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import { nowMillis } from "./Sql.js"

/**
 * Whether a lease with this expiry (epoch milliseconds; none for a released
 * lease) is live at `now`: `now < expiresAt`.
 *
 * @since 0.2.0
 * @category rule
 */
export const isLive = (expiresAt: number | null | undefined, now: number): boolean =>
  expiresAt !== null && expiresAt !== undefined && now < expiresAt

/**
 * Whether a lease with this expiry is free at `now` (released, or
 * `expiresAt <= now`): the negation of `isLive`.
 *
 * @since 0.2.0
 * @category rule
 */
export const isFree = (expiresAt: number | null | undefined, now: number): boolean => !isLive(expiresAt, now)

/**
 * Milliseconds until a live lease expires (0 when it is free): a retry-after
 * hint for whoever found it held.
 *
 * @since 0.2.0
 * @category rule
 */
export const remainingMillis = (expiresAt: number | null | undefined, now: number): number =>
  isLive(expiresAt, now) ? expiresAt! - now : 0

const COLUMN = /^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)?$/

const column = (sql: SqlClient.SqlClient, name: string): Statement.Fragment => {
  if (!COLUMN.test(name)) throw new TypeError(`Lease: "${name}" is not a column name`)
  return sql.literal(name)
}

/**
 * The SQL condition "the lease in `expiresAtColumn` is live", judged by the
 * database's clock: `(col IS NOT NULL AND col > now)`. The column holds epoch
 * milliseconds (a bigint), NULL for a released lease.
 *
 * @since 0.2.0
 * @category sql
 */
export const sqlLive = (sql: SqlClient.SqlClient, expiresAtColumn: string): Statement.Fragment => {
  const col = column(sql, expiresAtColumn)
  return sql`(${col} IS NOT NULL AND ${col} > ${nowMillis(sql)})`
}

/**
 * The SQL condition "the lease in `expiresAtColumn` is free", judged by the
 * database's clock: `(col IS NULL OR col <= now)`.
 *
 * @since 0.2.0
 * @category sql
 */
export const sqlFree = (sql: SqlClient.SqlClient, expiresAtColumn: string): Statement.Fragment => {
  const col = column(sql, expiresAtColumn)
  return sql`(${col} IS NULL OR ${col} <= ${nowMillis(sql)})`
}

/**
 * The expiry of a lease granted or renewed now for `ttlMillis`, by the
 * database's clock: `(now + ttl)`, to assign in the granting statement.
 *
 * @since 0.2.0
 * @category sql
 */
export const sqlExpiresAt = (sql: SqlClient.SqlClient, ttlMillis: number): Statement.Fragment => {
  if (!Number.isSafeInteger(ttlMillis) || ttlMillis <= 0) {
    throw new RangeError(`Lease.sqlExpiresAt: the ttl must be a positive integer of milliseconds, got ${ttlMillis}`)
  }
  return sql`(${nowMillis(sql)} + ${ttlMillis})`
}

/**
 * A lease as granted: who holds which key, with which fencing token, until
 * when (epoch milliseconds).
 *
 * @since 0.2.0
 * @category models
 */
export interface Grant {
  readonly key: string
  readonly holder: string
  readonly token: number
  readonly expiresAt: number
}

/**
 * What `acquire` found: the lease was granted, or another holder's live
 * lease stands (its grant says who and until when).
 *
 * @since 0.2.0
 * @category models
 */
export type AcquireOutcome =
  | { readonly _tag: "Acquired"; readonly grant: Grant }
  | { readonly _tag: "Held"; readonly grant: Grant }

/**
 * Options of `acquire`.
 *
 * @since 0.2.0
 * @category models
 */
export interface AcquireOptions {
  /**
   * The new token is above this too (a store that keeps tokens elsewhere,
   * e.g. in a saved checkpoint, passes its last one so tokens never repeat).
   */
  readonly minToken?: number
  /**
   * A holder asking again while its own lease is live gets the same token
   * and an expiry of at least now + ttl (re-entrant locks). Otherwise its
   * own live lease is `Held` like anyone's.
   */
  readonly reentrant?: boolean
}

/**
 * An in-process lease table, judged by `Clock`: the memory and file stores
 * of every package use it (they serve one process).
 *
 * @since 0.2.0
 * @category memory
 */
export interface MemoryLeases {
  /** Grants the key's lease to `holder` when it is free (see `AcquireOptions`). */
  readonly acquire: (
    key: string,
    holder: string,
    ttlMillis: number,
    options?: AcquireOptions
  ) => Effect.Effect<AcquireOutcome>
  /**
   * Extends the lease to now + ttl while `token` is the key's current grant
   * and not released — also past its expiry when nobody took it since, as a
   * SQL row keeps its token until someone takes it. None otherwise.
   */
  readonly renew: (key: string, token: number, ttlMillis: number) => Effect.Effect<Option.Option<Grant>>
  /** Releases the lease if `token` is its current grant; whether it did. */
  readonly release: (key: string, token: number) => Effect.Effect<boolean>
  /** The key's live grant, if any. */
  readonly current: (key: string) => Effect.Effect<Grant | undefined>
  /** Whether `token` is the key's current grant and not released (expired but untaken counts). */
  readonly holds: (key: string, token: number) => boolean
  /** The last token granted for the key (0 when never). */
  readonly lastToken: (key: string) => number
}

interface Entry {
  holder: string
  token: number
  /** undefined once released. */
  expiresAt: number | undefined
}

const checkTtl = (ttlMillis: number) => {
  if (!Number.isFinite(ttlMillis) || ttlMillis <= 0) {
    throw new RangeError(`Lease: the ttl must be a positive number of milliseconds, got ${ttlMillis}`)
  }
}

/**
 * A new, empty in-process lease table.
 *
 * @since 0.2.0
 * @category memory
 */
export const makeMemory = (): MemoryLeases => {
  const entries = new Map<string, Entry>()
  const grantOf = (key: string, entry: Entry): Grant => ({
    key,
    holder: entry.holder,
    token: entry.token,
    expiresAt: entry.expiresAt ?? 0
  })
  return {
    acquire: (key, holder, ttlMillis, options = {}) =>
      Effect.map(Clock.currentTimeMillis, (now): AcquireOutcome => {
        checkTtl(ttlMillis)
        const entry = entries.get(key)
        if (entry !== undefined && isLive(entry.expiresAt, now)) {
          if (options.reentrant === true && entry.holder === holder) {
            entry.expiresAt = Math.max(entry.expiresAt!, now + ttlMillis)
            return { _tag: "Acquired", grant: grantOf(key, entry) }
          }
          return { _tag: "Held", grant: grantOf(key, entry) }
        }
        const token = Math.max(entry?.token ?? 0, options.minToken ?? 0) + 1
        const next: Entry = { holder, token, expiresAt: now + ttlMillis }
        entries.set(key, next)
        return { _tag: "Acquired", grant: grantOf(key, next) }
      }),
    renew: (key, token, ttlMillis) =>
      Effect.map(Clock.currentTimeMillis, (now) => {
        checkTtl(ttlMillis)
        const entry = entries.get(key)
        if (entry === undefined || entry.token !== token || entry.expiresAt === undefined) return Option.none()
        entry.expiresAt = now + ttlMillis
        return Option.some(grantOf(key, entry))
      }),
    release: (key, token) =>
      Effect.sync(() => {
        const entry = entries.get(key)
        if (entry === undefined || entry.token !== token || entry.expiresAt === undefined) return false
        entry.expiresAt = undefined
        return true
      }),
    current: (key) =>
      Effect.map(Clock.currentTimeMillis, (now) => {
        const entry = entries.get(key)
        return entry !== undefined && isLive(entry.expiresAt, now) ? grantOf(key, entry) : undefined
      }),
    holds: (key, token) => {
      const entry = entries.get(key)
      return entry !== undefined && entry.token === token && entry.expiresAt !== undefined
    },
    lastToken: (key) => entries.get(key)?.token ?? 0
  }
}
