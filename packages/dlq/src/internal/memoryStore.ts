// The contract in memory: an in-process index of letters ordered by id. The
// memory layer uses it alone; the file layer puts its files behind it
// (`Persistence` runs before the index changes, so the index never shows what
// is not on disk). Every mutation runs under one permit, so check-then-write
// is atomic.
import * as Lease from "@agentos/core/Lease"
import * as Sorted from "@agentos/core/Sorted"
import * as Clock from "effect/Clock"
import * as Effect from "effect/Effect"
import type { StoreError } from "../Errors.js"
import type { Finding, Letter } from "../Letter.js"
import type { ClaimOutcome, InsertOutcome, Query, ResolveOutcome, Store } from "./store.js"

interface Entry {
  letter: Letter
  token: number
  claimedUntil: number | undefined
}

/** Hooks a durable backend runs before the index changes. */
export interface Persistence {
  readonly write: (letter: Letter) => Effect.Effect<void, StoreError>
  /** Removes one letter (not yet durable: see `flush`). */
  readonly remove: (letter: Letter) => Effect.Effect<void, StoreError>
  /** Makes the removals so far durable. */
  readonly flush: Effect.Effect<void, StoreError>
}

const noPersistence: Persistence = { write: () => Effect.void, remove: () => Effect.void, flush: Effect.void }

const matches = (letter: Letter, query: Query): boolean =>
  (query.taskType === undefined || letter.taskType === query.taskType) &&
  (query.errorType === undefined || letter.error.tag === query.errorType) &&
  (query.agent === undefined || letter.agent === query.agent) &&
  (query.resolved === undefined || (letter.resolution !== undefined) === query.resolved) &&
  (query.since === undefined || letter.createdAt >= query.since)

/** The store in memory, over `initial` letters, with `persistence` run before each change. */
export const makeMemoryStore = (
  persistence: Persistence = noPersistence,
  initial: ReadonlyArray<Letter> = [],
  findings: ReadonlyArray<Finding> = []
): Effect.Effect<Store> =>
  Effect.map(Effect.makeSemaphore(1), (semaphore) => {
    const entries = new Map<string, Entry>()
    const byKey = new Map<string, string>()
    const ids: Array<string> = []
    const put = (letter: Letter) => {
      const existing = entries.get(letter.id)
      if (existing === undefined) {
        entries.set(letter.id, { letter, token: 0, claimedUntil: undefined })
        Sorted.insert(ids, letter.id)
        if (letter.dedupeKey !== undefined) byKey.set(letter.dedupeKey, letter.id)
      } else {
        existing.letter = letter
      }
    }
    for (const letter of initial) put(letter)
    const locked = semaphore.withPermits(1)
    const isClaimed = (entry: Entry, now: number) => Lease.isLive(entry.claimedUntil, now)

    const store: Store = {
      insert: (letter, maxLetters) =>
        locked(Effect.suspend(() => {
          if (letter.dedupeKey !== undefined) {
            const existing = byKey.get(letter.dedupeKey)
            if (existing !== undefined) {
              return Effect.succeed<InsertOutcome>({ _tag: "Duplicate", letter: entries.get(existing)!.letter })
            }
          }
          if (maxLetters !== undefined && entries.size >= maxLetters) {
            return Effect.succeed<InsertOutcome>({ _tag: "Full" })
          }
          return Effect.as(persistence.write(letter), { _tag: "Inserted", letter } as InsertOutcome).pipe(
            Effect.tap(() => put(letter))
          )
        })),
      get: (id) => Effect.sync(() => entries.get(id)?.letter),
      list: (query) =>
        Effect.sync(() => {
          const out: Array<Letter> = []
          if (query.order === "oldest") {
            let i = query.after === undefined ? 0 : Sorted.lowerBound(ids, query.after)
            if (query.after !== undefined && ids[i] === query.after) i++
            for (; i < ids.length && out.length < query.limit; i++) {
              const letter = entries.get(ids[i]!)!.letter
              if (matches(letter, query)) out.push(letter)
            }
          } else {
            let i = query.after === undefined ? ids.length - 1 : Sorted.lowerBound(ids, query.after) - 1
            for (; i >= 0 && out.length < query.limit; i--) {
              const letter = entries.get(ids[i]!)!.letter
              if (matches(letter, query)) out.push(letter)
            }
          }
          return out
        }),
      claim: (id, timeoutMillis) =>
        locked(Effect.map(Clock.currentTimeMillis, (now): ClaimOutcome => {
          const entry = entries.get(id)
          if (entry === undefined) return { _tag: "NotFound" }
          if (entry.letter.resolution !== undefined) return { _tag: "Resolved", resolvedAt: entry.letter.resolution.at }
          if (isClaimed(entry, now)) return { _tag: "InProgress", claimedUntil: entry.claimedUntil! }
          entry.token++
          entry.claimedUntil = now + timeoutMillis
          return { _tag: "Claimed", letter: entry.letter, token: entry.token }
        })),
      release: (id, token) =>
        locked(Effect.sync(() => {
          const entry = entries.get(id)
          if (entry !== undefined && entry.token === token) entry.claimedUntil = undefined
        })),
      complete: (id, token, letter) =>
        locked(Effect.suspend(() => {
          const entry = entries.get(id)
          if (entry === undefined || entry.token !== token || entry.claimedUntil === undefined) {
            return Effect.succeed(false)
          }
          return Effect.as(persistence.write(letter), true).pipe(Effect.tap(() => {
            entry.letter = letter
            entry.claimedUntil = undefined
          }))
        })),
      resolve: (id, resolution) =>
        locked(Effect.flatMap(Clock.currentTimeMillis, (now): Effect.Effect<ResolveOutcome, StoreError> => {
          const entry = entries.get(id)
          if (entry === undefined) return Effect.succeed({ _tag: "NotFound" })
          if (entry.letter.resolution !== undefined) {
            return Effect.succeed({ _tag: "Resolved", resolvedAt: entry.letter.resolution.at })
          }
          if (isClaimed(entry, now)) return Effect.succeed({ _tag: "InProgress", claimedUntil: entry.claimedUntil! })
          const letter: Letter = { ...entry.letter, resolution }
          return Effect.as(persistence.write(letter), { _tag: "Done", letter } as ResolveOutcome).pipe(
            Effect.tap(() => {
              entry.letter = letter
              // Fences a replayer whose claim expired: its late outcome is ClaimLost.
              entry.token++
              entry.claimedUntil = undefined
            })
          )
        })),
      purge: (resolvedBefore, unresolvedBefore) =>
        locked(Effect.flatMap(Clock.currentTimeMillis, (now) => {
          const doomed: Array<Letter> = []
          for (const entry of entries.values()) {
            const letter = entry.letter
            if (isClaimed(entry, now)) continue
            if (
              letter.resolution !== undefined
                ? letter.resolution.at < resolvedBefore
                : unresolvedBefore !== undefined && letter.createdAt < unresolvedBefore
            ) doomed.push(letter)
          }
          if (doomed.length === 0) return Effect.succeed(0)
          // One letter at a time, each leaving the index as soon as it is gone
          // from the backend: a failure part-way leaves the index equal to
          // what is stored (the letters removed so far are gone from both).
          // (The entry, its key and its id leave together: a `list` running
          // meanwhile never meets an id without its entry.)
          const forget = (letter: Letter) =>
            Effect.sync(() => {
              entries.delete(letter.id)
              if (letter.dedupeKey !== undefined) byKey.delete(letter.dedupeKey)
              Sorted.remove(ids, letter.id)
            })
          return Effect.forEach(doomed, (letter) => Effect.zipRight(persistence.remove(letter), forget(letter)), {
            discard: true
          }).pipe(
            // On failure the removals made so far are still flushed; the
            // removal's error is the one reported.
            Effect.onError(() => Effect.exit(persistence.flush)),
            Effect.zipRight(persistence.flush),
            Effect.as(doomed.length)
          )
        })),
      counts: Effect.sync(() => {
        let resolved = 0
        const byTaskType: Record<string, number> = {}
        const byErrorType: Record<string, number> = {}
        let oldest: number | undefined
        for (const { letter } of entries.values()) {
          if (letter.resolution !== undefined) {
            resolved++
            continue
          }
          byTaskType[letter.taskType] = (byTaskType[letter.taskType] ?? 0) + 1
          byErrorType[letter.error.tag] = (byErrorType[letter.error.tag] ?? 0) + 1
          if (oldest === undefined || letter.createdAt < oldest) oldest = letter.createdAt
        }
        return { total: entries.size, resolved, byTaskType, byErrorType, oldestUnresolvedCreatedAt: oldest }
      }),
      findings: Effect.succeed(findings)
    }
    return store
  })
