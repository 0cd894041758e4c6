import type { JsonObject } from "@agentos/core/Json"
import * as Effect from "effect/Effect"
import * as MetricLabel from "effect/MetricLabel"
import * as Option from "effect/Option"
import * as Queue from "effect/Queue"
import * as Stream from "effect/Stream"
import * as Merge from "../Merge.js"
import type * as SharedState from "../SharedState.js"
import { conflictsTotal, InvalidRequest, InvalidValue, KeyLocked, StaleFence, writesTotal } from "../SharedState.js"
import * as Common from "./common.js"
import { freezeCopy } from "./json.js"

interface Slot {
  /** The live entry; undefined after a delete. */
  entry: SharedState.Entry | undefined
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
  readonly values: Array<JsonObject | null>
  readonly modifiedBy: Array<ReadonlyArray<string>>
  readonly updatedAt: Array<number>
  start: number
}

const versionOf = (key: string, slot: Slot, index: number, version: number): SharedState.Version => {
  const value = slot.values[index]!
  const entry = slot.entry
  // The newest version is the live entry object (when it is not a delete).
  if (entry !== undefined && entry.version === version) return entry
  return { key, value, version, modifiedBy: slot.modifiedBy[index]!, updatedAt: slot.updatedAt[index]! }
}

const ordered = (key: string, slot: Slot): Array<SharedState.Version> => {
  const length = slot.values.length
  const oldest = slot.version - length + 1
  const out: Array<SharedState.Version> = new Array(length)
  for (let i = 0; i < length; i++) {
    const index = slot.start + i
    out[i] = versionOf(key, slot, index >= length ? index - length : index, oldest + i)
  }
  return out
}

const versionAt = (key: string, slot: Slot, version: number): SharedState.Version | undefined => {
  const length = slot.values.length
  const offset = version - (slot.version - length + 1)
  return offset < 0 || offset >= length ? undefined : versionOf(key, slot, (slot.start + offset) % length, version)
}

interface LockState {
  holder: string | undefined
  fence: number
  expiresAt: number
  holds: number
}

interface Subscriber {
  readonly prefix: string
  readonly queue: Queue.Queue<SharedState.Version>
}

const lowerBound = (keys: ReadonlyArray<string>, target: string): number => {
  let lo = 0
  let hi = keys.length
  while (lo < hi) {
    const mid = (lo + hi) >>> 1
    if (keys[mid]! < target) lo = mid + 1
    else hi = mid
  }
  return lo
}

/** @internal */
export const make = (options: SharedState.StoreOptions): Effect.Effect<SharedState.SharedStateService> =>
  Effect.map(Effect.clock, (clock) => {
    const config = Common.makeConfig(options)
    const limit = config.historyLimit
    const slots = new Map<string, Slot>()
    const locks = new Map<string, LockState>()
    let sortedKeys: Array<string> | undefined
    const subscribers: Array<Subscriber> = []
    // One constant label array: the metric caches its hook by this array's identity.
    const labels = [MetricLabel.make("backend", "memory")]
    const countWrite = () => writesTotal.unsafeUpdate(1, labels)
    const countConflict = () => conflictsTotal.unsafeUpdate(1, labels)

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
      value: JsonObject | null,
      modifiedBy: ReadonlyArray<string>,
      now: number
    ): SharedState.Version => {
      if (slot === undefined) {
        slot = { entry: undefined, version: 0, values: [], modifiedBy: [], updatedAt: [], start: 0 }
        slots.set(key, slot)
        sortedKeys = undefined
      }
      const version = slot.version + 1
      const committed: SharedState.Version = { key, value, version, modifiedBy, updatedAt: now }
      slot.version = version
      slot.entry = value === null ? undefined : committed as SharedState.Entry
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
      countWrite()
      for (let i = 0; i < subscribers.length; i++) {
        const subscriber = subscribers[i]!
        if (key.startsWith(subscriber.prefix)) subscriber.queue.unsafeOffer(committed)
      }
      return committed
    }

    const lockError = (key: string, fence: number | undefined, now: number): StaleFence | KeyLocked | undefined => {
      const lock = locks.get(key)
      if (fence !== undefined) {
        const newest = lock === undefined ? 0 : lock.fence
        return fence === newest ? undefined : new StaleFence({ key, fence, newestFence: newest })
      }
      return lock !== undefined && lock.holder !== undefined && lock.expiresAt > now
        ? new KeyLocked({ key, holder: lock.holder })
        : undefined
    }

    const written = (outcome: SharedState.Outcome, committed: SharedState.Version): SharedState.SetResult => ({
      applied: true,
      outcome,
      entry: Option.some(committed as SharedState.Entry)
    })

    const set = (key: string, value: JsonObject, options: SharedState.SetOptions) =>
      Effect.suspend((): Effect.Effect<SharedState.SetResult, SharedState.WriteError> => {
        const { agent, expectedVersion, fence, strategy } = options
        const bad = Common.checkWrite(key, agent, expectedVersion, fence, strategy)
        if (bad !== undefined) return Effect.fail(bad)
        const rules = config.rules(key)
        const prepared = freezeCopy(value)
        if (typeof prepared === "string") return Effect.fail(new InvalidValue({ key, reason: prepared }))
        const invalid = Common.checkSchema(key, prepared, rules)
        if (invalid !== undefined) return Effect.fail(invalid)
        const now = clock.unsafeCurrentTimeMillis()
        const locked = lockError(key, fence, now)
        if (locked !== undefined) return Effect.fail(locked)
        const slot = slots.get(key)
        // A live entry's version is its slot's newest version: read from the
        // slot, so that a write does not touch the previous entry object.
        const currentVersion = slot === undefined || slot.entry === undefined ? 0 : slot.version
        if (expectedVersion === undefined || expectedVersion === currentVersion) {
          return Effect.succeed(written("written", commit(key, slot, prepared, singleBy(agent), now)))
        }
        const current = slot?.entry
        countConflict()
        const conflict = { expectedVersion, currentVersion }
        switch (strategy ?? rules.strategy) {
          case "reject":
            return Effect.fail(
              Common.versionConflict(key, expectedVersion, currentVersion, current, true)
            )
          case "first-write-wins":
            return Effect.succeed<SharedState.SetResult>({
              applied: false,
              outcome: "kept-current",
              entry: Option.fromNullable(current),
              conflict
            })
          case "last-write-wins":
            return Effect.succeed({
              ...written("overwritten", commit(key, slot, prepared, singleBy(agent), now)),
              conflict
            })
          case "merge": {
            if (current === undefined) {
              return Effect.succeed({
                ...written("merged", commit(key, slot, prepared, singleBy(agent), now)),
                conflict
              })
            }
            let merged: JsonObject | string
            try {
              merged = freezeCopy(
                Merge.apply(rules.merge, current.value, prepared, {
                  key,
                  currentVersion,
                  currentModifiedBy: current.modifiedBy,
                  agent
                })
              )
            } catch (error) {
              merged = `the merge function threw: ${String(error)}`
            }
            if (typeof merged === "string") return Effect.fail(new InvalidValue({ key, reason: merged }))
            const invalidMerge = Common.checkSchema(key, merged, rules)
            if (invalidMerge !== undefined) return Effect.fail(invalidMerge)
            return Effect.succeed({
              ...written(
                "merged",
                commit(key, slot, merged, Object.freeze(Common.mergedBy(current.modifiedBy, agent)), now)
              ),
              conflict
            })
          }
        }
      })

    const get = (key: string) =>
      Effect.suspend(() => {
        const bad = Common.checkKey(key)
        if (bad !== undefined) return Effect.fail(new InvalidRequest({ reason: bad }))
        return Effect.succeed(Option.fromNullable(slots.get(key)?.entry))
      })

    const del = (key: string, options: SharedState.DeleteOptions) =>
      Effect.suspend((): Effect.Effect<boolean, SharedState.WriteError> => {
        const { agent, expectedVersion, fence } = options
        const bad = Common.checkWrite(key, agent, expectedVersion, fence, undefined)
        if (bad !== undefined) return Effect.fail(bad)
        const now = clock.unsafeCurrentTimeMillis()
        const locked = lockError(key, fence, now)
        if (locked !== undefined) return Effect.fail(locked)
        const slot = slots.get(key)
        const current = slot?.entry
        const currentVersion = current === undefined ? 0 : current.version
        if (expectedVersion !== undefined && expectedVersion !== currentVersion) {
          countConflict()
          return Effect.fail(
            Common.versionConflict(key, expectedVersion, currentVersion, current, true)
          )
        }
        if (current === undefined) return Effect.succeed(false)
        commit(key, slot, null, singleBy(agent), now)
        return Effect.succeed(true)
      })

    const list = (prefix: string, options?: SharedState.ListOptions) =>
      Effect.suspend(() => {
        const bad = Common.checkList(prefix, options)
        if (bad !== undefined) return Effect.fail(new InvalidRequest({ reason: bad }))
        const limit = options?.limit ?? 100
        if (sortedKeys === undefined) sortedKeys = Array.from(slots.keys()).sort()
        const keys = sortedKeys
        const cursor = options?.cursor
        let i = lowerBound(keys, cursor !== undefined && cursor >= prefix ? cursor : prefix)
        if (cursor !== undefined && keys[i] === cursor) i++
        const entries: Array<SharedState.Entry> = []
        let more = false
        for (; i < keys.length; i++) {
          const key = keys[i]!
          if (!key.startsWith(prefix)) break
          const entry = slots.get(key)!.entry
          if (entry === undefined) continue
          if (entries.length === limit) {
            more = true
            break
          }
          entries.push(entry)
        }
        return Effect.succeed<SharedState.Page>({
          entries,
          cursor: more ? Option.some(entries[entries.length - 1]!.key) : Option.none()
        })
      })

    const history = (key: string) =>
      Effect.suspend(() => {
        const bad = Common.checkKey(key)
        if (bad !== undefined) return Effect.fail(new InvalidRequest({ reason: bad }))
        const slot = slots.get(key)
        return Effect.succeed<ReadonlyArray<SharedState.Version>>(slot === undefined ? [] : ordered(key, slot))
      })

    const getAt = (key: string, version: number) =>
      Effect.suspend(() => {
        const bad = Common.checkKey(key) ??
          (Number.isSafeInteger(version) && version >= 1 ? undefined : "version must be an integer >= 1")
        if (bad !== undefined) return Effect.fail(new InvalidRequest({ reason: bad }))
        const slot = slots.get(key)
        return Effect.succeed(Option.fromNullable(slot === undefined ? undefined : versionAt(key, slot, version)))
      })

    const changes = (keyOrPrefix: string): Stream.Stream<SharedState.Version> =>
      Stream.unwrapScoped(
        Effect.map(
          Effect.acquireRelease(
            Effect.flatMap(Queue.unbounded<SharedState.Version>(), (queue) =>
              Effect.sync(() => {
                const subscriber = { prefix: keyOrPrefix, queue }
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
      Effect.sync(() => {
        const now = clock.unsafeCurrentTimeMillis()
        const lock = locks.get(key)
        if (lock === undefined) {
          locks.set(key, { holder: agent, fence: 1, expiresAt: now + ttlMillis, holds: 1 })
          return 1
        }
        const live = lock.holder !== undefined && lock.expiresAt > now
        if (live && lock.holder === agent) {
          lock.holds++
          lock.expiresAt = Math.max(lock.expiresAt, now + ttlMillis)
          return lock.fence
        }
        if (live) return undefined
        lock.holder = agent
        lock.fence++
        lock.holds = 1
        lock.expiresAt = now + ttlMillis
        return lock.fence
      })

    const release = (key: string, agent: string, fence: number) =>
      Effect.sync(() => {
        const lock = locks.get(key)
        if (lock === undefined || lock.holder !== agent || lock.fence !== fence) return
        lock.holds--
        if (lock.holds <= 0) {
          lock.holds = 0
          lock.holder = undefined
        }
      })

    return Common.makeService(
      { get, set, delete: del, list, history, getAt, changes },
      { tryAcquire, release },
      config
    )
  })
