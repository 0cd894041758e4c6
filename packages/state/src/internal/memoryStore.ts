// The store contract in memory: one process, locks judged by the Effect
// Clock (core's Lease table), values kept as deep frozen copies.
import * as Json from "@agentos/core/Json"
import * as Lease from "@agentos/core/Lease"
import * as Sorted from "@agentos/core/Sorted"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Queue from "effect/Queue"
import * as Stream from "effect/Stream"
import type { Entry, Version } from "../Entry.js"
import { KeyLocked, StaleFence } from "../Errors.js"
import type { Config } from "./options.js"
import { type Conflict, conflict, type Decision, type LockRefusal, type Store } from "./store.js"

/**
 * A deep, frozen copy of an object the service checked (core's
 * `Json.frozenCopy`: one walk checks and copies), or why it is not JSON.
 */
const prepare = (value: unknown): Json.JsonObject | string => {
  const copy = Json.frozenCopy(value)
  return Either.isRight(copy) ? copy.right as Json.JsonObject : copy.left
}

// ---------------------------------------------------------------------------
// the store
// ---------------------------------------------------------------------------

interface Slot {
  /** The live entry; undefined after a delete. */
  entry: Entry | undefined
  /** The newest version, a delete included. */
  version: number
  /**
   * The last versions as a ring buffer of parallel columns (value, writers,
   * time): they grow to the history limit, then `start` is the index of the
   * oldest. Versions of a key are consecutive, so version v sits at a
   * computed index. A committed version keeps only its frozen value alive
   * here: `modifiedBy` arrays are shared, times are stored unboxed (a number
   * array of doubles) and the `Version` objects are rebuilt on read — with
   * many keys, every stored version lives for thousands of writes, so each
   * object kept per version is copied and promoted by the garbage collector.
   */
  readonly values: Array<Json.JsonObject | null>
  readonly modifiedBy: Array<ReadonlyArray<string>>
  readonly updatedAt: Array<number>
  start: number
}

const versionOf = (key: string, slot: Slot, index: number, version: number): Version => {
  const value = slot.values[index]!
  const entry = slot.entry
  // The newest version is the live entry object (when it is not a delete).
  if (entry !== undefined && entry.version === version) return entry
  return { key, value, version, modifiedBy: slot.modifiedBy[index]!, updatedAt: slot.updatedAt[index]! }
}

const ordered = (key: string, slot: Slot): Array<Version> => {
  const length = slot.values.length
  const oldest = slot.version - length + 1
  const out: Array<Version> = new Array(length)
  for (let i = 0; i < length; i++) {
    const index = slot.start + i
    out[i] = versionOf(key, slot, index >= length ? index - length : index, oldest + i)
  }
  return out
}

const versionAt = (key: string, slot: Slot, version: number): Version | undefined => {
  const length = slot.values.length
  const offset = version - (slot.version - length + 1)
  return offset < 0 || offset >= length ? undefined : versionOf(key, slot, (slot.start + offset) % length, version)
}

interface Subscriber {
  readonly prefix: string
  readonly queue: Queue.Queue<Version>
}

/** A re-entrant grant: how many scopes hold the lease of `token`. */
interface Holds {
  readonly token: number
  count: number
}

/** The store in memory. */
export const make = (config: Config): Store => {
  const limit = config.historyLimit
  const slots = new Map<string, Slot>()
  const leases = Lease.makeMemory()
  const holds = new Map<string, Holds>()
  let sortedKeys: Array<string> | undefined
  const subscribers: Array<Subscriber> = []

  // `modifiedBy` of single-writer versions: one frozen array per agent,
  // shared by all its versions (bounded: cleared past 10,000 agents).
  const byAgent = new Map<string, ReadonlyArray<string>>()
  const singleBy = (agent: string): ReadonlyArray<string> => {
    let by = byAgent.get(agent)
    if (by === undefined) {
      if (byAgent.size >= 10_000) byAgent.clear()
      by = Object.freeze([agent])
      byAgent.set(agent, by)
    }
    return by
  }

  const commit = (
    key: string,
    slot: Slot | undefined,
    value: Json.JsonObject | null,
    modifiedBy: ReadonlyArray<string>,
    now: number
  ): Version => {
    if (slot === undefined) {
      slot = { entry: undefined, version: 0, values: [], modifiedBy: [], updatedAt: [], start: 0 }
      slots.set(key, slot)
      if (sortedKeys !== undefined) Sorted.insert(sortedKeys, key)
    }
    const version = slot.version + 1
    const committed: Version = { key, value, version, modifiedBy, updatedAt: now }
    slot.version = version
    slot.entry = value === null ? undefined : committed as Entry
    if (slot.values.length < limit) {
      slot.values.push(value)
      slot.modifiedBy.push(modifiedBy)
      slot.updatedAt.push(now)
    } else {
      const start = slot.start
      slot.values[start] = value
      slot.modifiedBy[start] = modifiedBy
      slot.updatedAt[start] = now
      slot.start = start + 1 === limit ? 0 : start + 1
    }
    for (let i = 0; i < subscribers.length; i++) {
      const subscriber = subscribers[i]!
      if (key.startsWith(subscriber.prefix)) subscriber.queue.unsafeOffer(committed)
    }
    return committed
  }

  /**
   * Runs `body` once the key's lock check passes. A key that was never
   * locked (the common case) is checked synchronously; a locked one asks the
   * lease table for its live grant.
   */
  const checkLock = <A, E>(
    key: string,
    fence: number | undefined,
    body: () => Effect.Effect<A, E>
  ): Effect.Effect<A, E | LockRefusal> => {
    const newest = leases.lastToken(key)
    if (fence !== undefined) {
      return fence === newest ? body() : Effect.fail(new StaleFence({ key, fence, newestFence: newest }))
    }
    if (newest === 0) return body()
    return Effect.flatMap(
      leases.current(key),
      (grant): Effect.Effect<A, E | LockRefusal> =>
        grant === undefined ? body() : Effect.fail(new KeyLocked({ key, holder: grant.holder }))
    )
  }

  /** The compare-and-set once the lock check passed. */
  const casUnlocked = (
    key: string,
    value: Json.JsonObject,
    agent: string,
    at: number,
    expected: number | undefined
  ): Entry | Conflict => {
    const slot = slots.get(key)
    // A live entry's version is its slot's newest version: read from the
    // slot, so that a write does not touch the previous entry object.
    const current = slot === undefined ? undefined : slot.entry
    const currentVersion = current === undefined ? 0 : slot!.version
    if (expected === undefined || expected === currentVersion) {
      return commit(key, slot, value, singleBy(agent), at) as Entry
    }
    return conflict(current)
  }

  const compareAndSetNow = (
    key: string,
    value: Json.JsonObject,
    agent: string,
    at: number,
    expected: number | undefined,
    fence: number | undefined
  ): Entry | Conflict | LockRefusal | undefined => {
    const newest = leases.lastToken(key)
    if (fence !== undefined) {
      return fence === newest
        ? casUnlocked(key, value, agent, at, expected)
        : new StaleFence({ key, fence, newestFence: newest })
    }
    // A key that was never locked (the common case) needs no lease check; a
    // locked one asks the lease table for its live grant, an effect.
    return newest === 0 ? casUnlocked(key, value, agent, at, expected) : undefined
  }

  const compareAndSet = (
    key: string,
    value: Json.JsonObject,
    agent: string,
    at: number,
    expected: number | undefined,
    fence: number | undefined
  ): Effect.Effect<Entry | Conflict, LockRefusal> =>
    checkLock(key, fence, () => Effect.sync(() => casUnlocked(key, value, agent, at, expected)))

  const modify = <A, E>(
    _operation: string,
    key: string,
    fence: number | undefined,
    at: number,
    decide: (current: Entry | undefined) => Decision<A, E>
  ) =>
    checkLock(key, fence, (): Effect.Effect<A, E> => {
      const slot = slots.get(key)
      const decision = decide(slot?.entry)
      switch (decision._tag) {
        case "Write":
          return Effect.succeed(decision.result(commit(key, slot, decision.value, decision.modifiedBy, at)))
        case "Keep":
          return Effect.succeed(decision.result)
        case "Fail":
          return Effect.fail(decision.error)
      }
    })

  const list = (prefix: string, after: string | undefined, limit: number) =>
    Effect.sync(() => {
      if (sortedKeys === undefined) sortedKeys = Array.from(slots.keys()).sort()
      const keys = sortedKeys
      let i = Sorted.lowerBound(keys, after !== undefined && after >= prefix ? after : prefix)
      if (after !== undefined && keys[i] === after) i++
      const entries: Array<Entry> = []
      for (; i < keys.length && entries.length <= limit; i++) {
        const key = keys[i]!
        if (!key.startsWith(prefix)) break
        const entry = slots.get(key)!.entry
        if (entry !== undefined) entries.push(entry)
      }
      return entries
    })

  const changes = (prefix: string): Stream.Stream<Version> =>
    Stream.unwrapScoped(
      Effect.map(
        Effect.acquireRelease(
          Effect.flatMap(Queue.unbounded<Version>(), (queue) =>
            Effect.sync(() => {
              const subscriber = { prefix, queue }
              subscribers.push(subscriber)
              return subscriber
            })),
          (subscriber) =>
            Effect.suspend(() => {
              const index = subscribers.indexOf(subscriber)
              if (index >= 0) subscribers.splice(index, 1)
              return Queue.shutdown(subscriber.queue)
            })
        ),
        (subscriber) => Stream.fromQueue(subscriber.queue)
      )
    )

  const tryAcquire = (key: string, agent: string, ttlMillis: number) =>
    Effect.map(leases.acquire(key, agent, ttlMillis, { reentrant: true }), (outcome) => {
      if (outcome._tag === "Held") return undefined
      const token = outcome.grant.token
      const held = holds.get(key)
      if (held !== undefined && held.token === token) held.count++
      else holds.set(key, { token, count: 1 })
      return token
    })

  const release = (key: string, _agent: string, fence: number) =>
    Effect.suspend(() => {
      const held = holds.get(key)
      // A fence is granted once per key: it names its holder.
      if (held === undefined || held.token !== fence) return Effect.void
      if (--held.count > 0) return Effect.void
      holds.delete(key)
      return Effect.asVoid(leases.release(key, fence))
    })

  return {
    backend: "memory",
    trusted: true,
    spans: false,
    prepare,
    compareAndSet,
    compareAndSetNow,
    modify,
    get: (key) => Effect.sync(() => slots.get(key)?.entry),
    list,
    history: (key) =>
      Effect.sync(() => {
        const slot = slots.get(key)
        return slot === undefined ? [] : ordered(key, slot)
      }),
    getAt: (key, version) =>
      Effect.sync(() => {
        const slot = slots.get(key)
        return slot === undefined ? undefined : versionAt(key, slot, version)
      }),
    changes,
    tryAcquire,
    release
  }
}
