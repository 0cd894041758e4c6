// The task queue in memory. Each type's queue is split into lanes, one per
// group key (tasks without a group share one lane); a lane holds its tasks
// by priority, then arrival (a list per priority: O(1) for each task), and
// each type keeps a heap of its ready lanes ordered by their first task. `take` pops the best ready lane; a lane whose
// group is at its limit leaves the ready heap until its group's next
// `finish`, so a full group never blocks the tasks behind it.
//
// The leased protocol (claim, renew, retry, end) keeps a `Leased` entry per
// claimed task beside the same lanes, judged by `Clock`; ended tasks keep a
// terminal record until `purge`.
import * as Lease from "@agentos/core/Lease"
import type { TokenUsage } from "@agentos/core/TokenUsage"
import * as Clock from "effect/Clock"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import * as Stream from "effect/Stream"
import type * as Task from "../Task.js"
import type * as TaskQueue from "../TaskQueue.js"
import { type Bucket, Buckets } from "./buckets.js"
import { Heap } from "./heap.js"

interface Entry {
  readonly record: Task.TaskRecord
  readonly priority: number
  readonly seq: number
  readonly lane: Lane
  prev: Entry | undefined
  next: Entry | undefined
  bucket: Bucket<Entry> | undefined
}

interface Lane {
  heapIndex: number
  readonly type: TypeQueue
  readonly group: string | undefined
  readonly entries: Buckets<Entry>
}

interface TypeQueue {
  readonly name: string
  readonly lanes: Map<string | undefined, Lane>
  readonly ready: Heap<Lane>
  depth: number
}

interface Group {
  running: number
  queued: number
  readonly lanes: Set<Lane>
}

const entryBefore = (a: Entry, b: Entry): boolean =>
  a.priority < b.priority || (a.priority === b.priority && a.seq < b.seq)
const laneBefore = (a: Lane, b: Lane): boolean => entryBefore(a.entries.peek()!, b.entries.peek()!)

/**
 * The memory queue's operations as plain calls. The supervisor over its own
 * memory queue calls them directly, without an Effect per call; any other
 * queue (a wrapper of this one included: the property is not enumerable, so
 * a spread does not copy it) is called through the `TaskQueue` contract.
 */
export interface Direct {
  readonly offer: (
    record: Task.TaskRecord,
    options: { readonly maxQueued: number; readonly force?: boolean }
  ) => TaskQueue.OfferResult
  readonly take: (type: string, limits: TaskQueue.GroupLimits) => Task.TaskRecord | undefined
  readonly finish: (id: string) => void
}

const DirectId = Symbol.for("@agentos/supervisor/internal/memoryQueue/Direct")

/** The direct calls of a memory queue made by `make`, else undefined. */
export const direct = (queue: TaskQueue.TaskQueueService): Direct | undefined =>
  (queue as unknown as { readonly [DirectId]?: Direct })[DirectId]

const limitOf = (limits: TaskQueue.GroupLimits, group: string): number | undefined =>
  limits.byGroup?.[group] ?? limits.default

// A task claimed at least once, until it ends.
interface Leased {
  record: Task.TaskRecord
  state: "running" | "retrying" | "queued"
  token: number
  expiresAt: number
  runAfter: number
  deliveries: number
  lost: number
  failures: number
  poisoned: boolean
  cancelRequested: boolean
}

/** The stored error of a task cancelled by `cancel` (an encoded `TaskCancelled`). */
export const cancelledError = (id: string) => ({ _tag: "TaskCancelled", taskId: id, reason: "cancelled" })

export const make = (): TaskQueue.TaskQueueService => {
  const types = new Map<string, TypeQueue>()
  const groups = new Map<string, Group>()
  // Queued entries by id; running tasks by id with their group.
  const queued = new Map<string, Entry>()
  const running = new Map<string, Task.TaskRecord>()
  const leased = new Map<string, Leased>()
  const retrying = new Set<Leased>()
  // Ended tasks in the order they ended (a Map keeps insertion order).
  const ended = new Map<string, TaskQueue.StoredTask>()
  let seq = 0

  const typeQueue = (name: string): TypeQueue => {
    let queue = types.get(name)
    if (queue === undefined) {
      queue = { name, lanes: new Map(), ready: new Heap(laneBefore), depth: 0 }
      types.set(name, queue)
    }
    return queue
  }

  const group = (key: string): Group => {
    let state = groups.get(key)
    if (state === undefined) {
      state = { running: 0, queued: 0, lanes: new Set() }
      groups.set(key, state)
    }
    return state
  }

  const dropGroupIfIdle = (key: string, state: Group) => {
    if (state.running === 0 && state.queued === 0 && state.lanes.size === 0) groups.delete(key)
  }

  // A lane that lost its first entry: re-sorted, or dropped when empty.
  const afterLaneShrank = (lane: Lane) => {
    if (lane.entries.size > 0) {
      lane.type.ready.update(lane)
      return
    }
    lane.type.ready.remove(lane)
    lane.type.lanes.delete(lane.group)
    if (lane.group !== undefined) {
      const state = groups.get(lane.group)
      if (state !== undefined) {
        state.lanes.delete(lane)
        dropGroupIfIdle(lane.group, state)
      }
    }
  }

  // Idempotency keys of the tasks the queue keeps, to their ids.
  const keys = new Map<string, string>()
  const forgetKey = (record: Task.TaskRecord) => {
    const key = record.idempotencyKey
    if (key !== undefined && keys.get(key) === record.id) keys.delete(key)
  }

  const offerNow = (
    record: Task.TaskRecord,
    options: { readonly maxQueued: number; readonly force?: boolean }
  ): TaskQueue.OfferResult => {
    const key = record.idempotencyKey
    if (key !== undefined) {
      const holder = keys.get(key)
      if (holder !== undefined && holder !== record.id) return { _tag: "Duplicate", id: holder }
    }
    const queue = typeQueue(record.type)
    if (options.force !== true && queue.depth >= options.maxQueued) return { _tag: "Full", depth: queue.depth }
    if (key !== undefined) keys.set(key, record.id)
    let lane = queue.lanes.get(record.groupKey)
    if (lane === undefined) {
      lane = { heapIndex: -1, type: queue, group: record.groupKey, entries: new Buckets() }
      queue.lanes.set(record.groupKey, lane)
      if (record.groupKey !== undefined) group(record.groupKey).lanes.add(lane)
    }
    const entry: Entry = {
      record,
      priority: record.priority,
      seq: ++seq,
      lane,
      prev: undefined,
      next: undefined,
      bucket: undefined
    }
    const head = lane.entries.peek()
    lane.entries.push(entry)
    queue.depth++
    queued.set(record.id, entry)
    if (record.groupKey !== undefined) group(record.groupKey).queued++
    if (!queue.ready.has(lane)) queue.ready.push(lane)
    else if (head !== lane.entries.peek()) queue.ready.update(lane)
    return { _tag: "Queued", depth: queue.depth }
  }

  const takeNow = (type: string, limits: TaskQueue.GroupLimits): Task.TaskRecord | undefined => {
    const queue = types.get(type)
    if (queue === undefined) return undefined
    for (;;) {
      const lane = queue.ready.peek()
      if (lane === undefined) return undefined
      let state: Group | undefined
      if (lane.group !== undefined) {
        state = group(lane.group)
        const limit = limitOf(limits, lane.group)
        if (limit !== undefined && state.running >= limit) {
          // Out of the ready heap until this group's next finish.
          queue.ready.remove(lane)
          continue
        }
      }
      const entry = lane.entries.pop()!
      queue.depth--
      queued.delete(entry.record.id)
      running.set(entry.record.id, entry.record)
      if (state !== undefined) {
        state.queued--
        state.running++
      }
      afterLaneShrank(lane)
      return entry.record
    }
  }

  const finishNow = (id: string): void => {
    const key = running.get(id)?.groupKey
    if (!running.delete(id) || key === undefined) return
    const state = groups.get(key)
    if (state === undefined) return
    state.running--
    for (const lane of state.lanes) {
      if (lane.entries.size > 0 && !lane.type.ready.has(lane)) lane.type.ready.push(lane)
    }
    dropGroupIfIdle(key, state)
  }

  const removeNow = (id: string): boolean => {
    const entry = queued.get(id)
    if (entry === undefined) return false
    queued.delete(id)
    const lane = entry.lane
    const wasHead = lane.entries.peek() === entry
    lane.entries.remove(entry)
    lane.type.depth--
    if (lane.group !== undefined) {
      const state = groups.get(lane.group)
      if (state !== undefined) state.queued--
    }
    if (lane.entries.size === 0 || wasHead) afterLaneShrank(lane)
    leased.delete(id)
    return true
  }

  const remove = (id: string) =>
    Effect.sync(() => {
      const record = queued.get(id)?.record
      if (!removeNow(id)) return false
      forgetKey(record!)
      return true
    })

  // A task taken with `take` ended: the queue no longer keeps it.
  const finishTaken = (id: string): void => {
    const record = running.get(id)
    finishNow(id)
    if (record !== undefined && !leased.has(id) && !ended.has(id)) forgetKey(record)
  }

  const depth = (type: string) => Effect.sync(() => types.get(type)?.depth ?? 0)

  const stats = Effect.sync((): TaskQueue.QueueStats => {
    const byType: Record<string, number> = {}
    for (const [name, queue] of types) byType[name] = queue.depth
    const byGroup: Record<string, { queued: number; running: number }> = {}
    for (const [key, state] of groups) {
      if (state.queued > 0 || state.running > 0) byGroup[key] = { queued: state.queued, running: state.running }
    }
    return { byType, byGroup }
  })

  // ---- the leased protocol ----

  const storedOf = (lease: Leased): TaskQueue.StoredTask => ({
    record: lease.record,
    status: lease.state,
    deliveries: lease.deliveries,
    lostDeliveries: lease.lost,
    failures: lease.failures,
    cancelRequested: lease.cancelRequested
  })

  const endNow = (lease: Leased, outcome: TaskQueue.Outcome, now: number) => {
    const id = lease.record.id
    leased.delete(id)
    retrying.delete(lease)
    if (lease.state === "running") finishNow(id)
    const failed = (outcome.status === "failed" || outcome.status === "dead-lettered") && !lease.poisoned
    ended.set(id, {
      record: lease.record,
      status: outcome.status,
      deliveries: lease.deliveries,
      lostDeliveries: lease.lost,
      failures: lease.failures + (failed ? 1 : 0),
      cancelRequested: lease.cancelRequested,
      outcome,
      finishedAt: now
    })
  }

  const current = (id: string, token: number): Leased | undefined => {
    const lease = leased.get(id)
    return lease !== undefined && lease.state === "running" && lease.token === token ? lease : undefined
  }

  const claim = (type: string, options: TaskQueue.ClaimOptions) =>
    Effect.map(Clock.currentTimeMillis, (now): Option.Option<TaskQueue.Claim> => {
      const record = takeNow(type, options.limits)
      if (record === undefined) return Option.none()
      let lease = leased.get(record.id)
      if (lease === undefined) {
        lease = {
          record,
          state: "running",
          token: 0,
          expiresAt: 0,
          runAfter: 0,
          deliveries: 0,
          lost: 0,
          failures: 0,
          poisoned: false,
          cancelRequested: false
        }
        leased.set(record.id, lease)
      }
      lease.state = "running"
      lease.token++
      lease.deliveries++
      lease.expiresAt = now + options.leaseMillis
      return Option.some({
        record,
        token: lease.token,
        deliveries: lease.deliveries,
        lostDeliveries: lease.lost,
        failures: lease.failures,
        poisoned: lease.poisoned
      })
    })

  const renew = (id: string, token: number, leaseMillis: number) =>
    Effect.map(Clock.currentTimeMillis, (now): TaskQueue.RenewResult => {
      const lease = current(id, token)
      if (lease === undefined) return { _tag: "Lost" }
      lease.expiresAt = now + leaseMillis
      return { _tag: "Renewed", cancelRequested: lease.cancelRequested }
    })

  // A claimed task that leaves its runner (a retry, a hand-back): ended as
  // cancelled when a cancel was asked, else `then`.
  const requeueClaimed = (
    id: string,
    token: number,
    countsFailure: boolean,
    usage: TokenUsage | undefined,
    then: (lease: Leased, now: number) => TaskQueue.RequeueResult
  ) =>
    Effect.map(Clock.currentTimeMillis, (now): TaskQueue.RequeueResult => {
      const lease = current(id, token)
      if (lease === undefined) return { _tag: "Lost" }
      if (countsFailure) lease.failures++
      if (usage !== undefined) lease.record = { ...lease.record, usage }
      if (lease.cancelRequested) {
        endNow(lease, { status: "cancelled", error: cancelledError(id) }, now)
        return { _tag: "Cancelled" }
      }
      finishNow(id)
      return then(lease, now)
    })

  const retry = (id: string, token: number, delayMillis: number, usage?: TokenUsage) =>
    requeueClaimed(id, token, true, usage, (lease, now) => {
      lease.state = "retrying"
      lease.runAfter = now + Math.max(0, delayMillis)
      retrying.add(lease)
      return { _tag: "Retrying" }
    })

  // Handed back: queued again behind its priority's queued tasks, as a reclaimed task is.
  const release = (id: string, token: number, usage?: TokenUsage) =>
    requeueClaimed(id, token, false, usage, (lease) => {
      requeue(lease)
      return { _tag: "Released" }
    })

  const end = (id: string, token: number, outcome: TaskQueue.Outcome) =>
    Effect.map(Clock.currentTimeMillis, (now) => {
      const lease = current(id, token)
      if (lease === undefined) return false
      endNow(lease, outcome, now)
      return true
    })

  const requeue = (lease: Leased) => {
    lease.state = "queued"
    offerNow(lease.record, { maxQueued: 0, force: true })
  }

  const reclaim = (options: { readonly maxDeliveries: number }) =>
    Effect.map(Clock.currentTimeMillis, (now): TaskQueue.ReclaimResult => {
      let requeued = 0
      let poisoned = 0
      let due = 0
      const cancelledTasks: Array<Task.TaskRecord> = []
      for (const lease of [...leased.values()]) {
        if (lease.state !== "running" || Lease.isLive(lease.expiresAt, now)) continue
        // Taken with `take` (no lease) never expires: such a task has no Leased entry.
        if (lease.cancelRequested) {
          endNow(lease, { status: "cancelled", error: cancelledError(lease.record.id) }, now)
          cancelledTasks.push(lease.record)
          continue
        }
        finishNow(lease.record.id)
        lease.lost++
        if (!lease.poisoned && lease.lost >= options.maxDeliveries) {
          lease.poisoned = true
          poisoned++
        } else {
          requeued++
        }
        requeue(lease)
      }
      for (const lease of [...retrying]) {
        if (lease.cancelRequested) {
          endNow(lease, { status: "cancelled", error: cancelledError(lease.record.id) }, now)
          cancelledTasks.push(lease.record)
          continue
        }
        if (now < lease.runAfter) continue
        retrying.delete(lease)
        requeue(lease)
        due++
      }
      return { requeued, poisoned, due, cancelledTasks }
    })

  // What the one-process protocol left: queued tasks and tasks taken without a lease.
  const clear = Effect.sync(() => {
    const dropped: Array<Task.TaskRecord> = []
    for (const [id, entry] of [...queued]) {
      removeNow(id)
      forgetKey(entry.record)
      dropped.push(entry.record)
    }
    for (const [id, record] of [...running]) {
      if (leased.has(id)) continue
      finishTaken(id)
      dropped.push(record)
    }
    return dropped
  })

  const cancel = (id: string) =>
    Effect.map(Clock.currentTimeMillis, (now): TaskQueue.CancelResult => {
      const done = ended.get(id)
      if (done !== undefined) return { _tag: "Ended", status: done.status }
      const lease = leased.get(id)
      if (lease?.state === "running") {
        lease.cancelRequested = true
        return { _tag: "Requested" }
      }
      const entry = queued.get(id)
      if (lease === undefined && entry === undefined) {
        const taken = running.get(id)
        if (taken === undefined) return { _tag: "NotFound" }
        // Taken with `take`: its process ends it; the request is all a store can keep.
        return { _tag: "Requested" }
      }
      if (entry !== undefined) removeNow(id)
      const record = lease?.record ?? entry!.record
      const cancelled: TaskQueue.Outcome = { status: "cancelled", error: cancelledError(id) }
      if (lease !== undefined) {
        lease.state = "queued"
        endNow(lease, cancelled, now)
      } else {
        ended.set(id, {
          record,
          status: "cancelled",
          deliveries: 0,
          lostDeliveries: 0,
          failures: 0,
          cancelRequested: true,
          outcome: cancelled,
          finishedAt: now
        })
      }
      return { _tag: "Cancelled", record }
    })

  const status = (id: string) =>
    Effect.sync((): Option.Option<TaskQueue.StoredTask> => {
      const done = ended.get(id)
      if (done !== undefined) return Option.some(done)
      const lease = leased.get(id)
      if (lease !== undefined) return Option.some(storedOf(lease))
      const record = queued.get(id)?.record ?? running.get(id)
      if (record === undefined) return Option.none()
      return Option.some({
        record,
        status: queued.has(id) ? "queued" : "running",
        deliveries: queued.has(id) ? 0 : 1,
        lostDeliveries: 0,
        failures: 0,
        cancelRequested: false
      })
    })

  const purge = (options: { readonly retentionMillis: number; readonly maxCount: number }) =>
    Effect.map(Clock.currentTimeMillis, (now) => {
      let dropped = 0
      for (const [id, task] of ended) {
        if (ended.size <= options.maxCount && task.finishedAt! + options.retentionMillis > now) break
        ended.delete(id)
        forgetKey(task.record)
        dropped++
      }
      return dropped
    })

  const service: TaskQueue.TaskQueueService = {
    offer: (record, options) => Effect.sync(() => offerNow(record, options)),
    take: (type, limits) => Effect.sync(() => Option.fromNullable(takeNow(type, limits))),
    finish: (id) => Effect.sync(() => finishTaken(id)),
    keyHolder: (key) => Effect.sync(() => Option.fromNullable(keys.get(key))),
    remove,
    clear,
    depth,
    stats,
    claim,
    renew,
    retry,
    release,
    end,
    endThenClaim: (ended, type, options) =>
      Effect.flatMap(
        end(ended.id, ended.token, ended.outcome),
        (recorded) => Effect.map(claim(type, options), (next) => ({ ended: recorded, next }))
      ),
    reclaim,
    cancel,
    status,
    purge,
    notifications: Stream.never
  }
  const calls: Direct = { offer: offerNow, take: takeNow, finish: finishTaken }
  Object.defineProperty(service, DirectId, { value: calls, enumerable: false })
  return service
}
