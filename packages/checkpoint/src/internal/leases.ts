// The engine's lease handling: taking a workflow's lease (waiting for a busy
// one when asked), releasing it at the end of a run, and the watchdog that
// renews it every heartbeat while the steps run and stops the step loop on a
// timeout, a lost lease or a cancellation request.
import * as Clock from "effect/Clock"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Fiber from "effect/Fiber"
import * as Predicate from "effect/Predicate"
import * as Schedule from "effect/Schedule"
import type { Checkpoint, Lease } from "../Checkpoint.js"
import type { CheckpointStoreService } from "../CheckpointStore.js"
import type { InvalidInput, StoreError, WorkflowBusy } from "../Errors.js"
import type { RunOptions } from "../WorkflowEngine.js"
import * as Options from "./options.js"

/**
 * A granted lease; the first checkpoint when it was saved with the grant
 * (`acquireAndCreate`); and whether a save already released the lease (the
 * save that completes a workflow does), so the end of the run does not
 * release it again.
 */
export interface Held {
  readonly lease: Lease
  readonly created?: { readonly checkpoint: Checkpoint; readonly cancelRequested: boolean }
  released: boolean
}

/** A release that fails leaves the lease to expire after its ttl: logged, not fatal. */
export const release = (store: CheckpointStoreService) => (lease: Lease): Effect.Effect<void> =>
  store.release(lease).pipe(
    Effect.catchAll((error) =>
      Effect.logWarning("checkpoint: the lease was not released; it expires after its ttl", {
        workflowId: lease.workflowId,
        message: error.message
      })
    )
  )

/**
 * Runs `use` under the workflow's lease, released afterwards (unless a save
 * released it). With `onBusy: "wait"` it polls for a busy lease every 250 ms
 * up to `waitTimeout`; the wait stays interruptible (only each single grant
 * is not).
 */
export const withLease = <A, E, R>(
  store: CheckpointStoreService,
  grant: Effect.Effect<Held, WorkflowBusy | StoreError>,
  runOptions: RunOptions | undefined,
  use: (held: Held) => Effect.Effect<A, E, R>
): Effect.Effect<A, E | WorkflowBusy | StoreError | InvalidInput, R> => {
  const once = Effect.acquireUseRelease(
    grant,
    use,
    (held) => held.released ? Effect.void : release(store)(held.lease)
  )
  if (runOptions?.onBusy !== "wait") return once
  return Effect.flatMap(Options.waitLimit(runOptions), (limit) =>
    once.pipe(
      Effect.retry({
        while: (error) => Predicate.isTagged(error, "WorkflowBusy"),
        schedule: Schedule.spaced("250 millis").pipe(Schedule.upTo(limit))
      })
    ))
}

/** Why the watchdog (or the loop itself) stopped the step loop. */
export type Stop =
  | { readonly _tag: "Timeout"; readonly stepIndex: number }
  | { readonly _tag: "LeaseLost" }
  | { readonly _tag: "Cancelled" }

/** What the step loop and its watchdog share. */
export interface Watch {
  /** The running attempt and its deadline (epoch ms). */
  current: { readonly stepIndex: number; readonly deadline: number } | undefined
  /** Why the loop was stopped, set before it is interrupted. */
  stop: Stop | undefined
  /** When the watchdog wakes next. */
  wakeAt: number
  /**
   * When the next renewal is due. Kept across watchdogs: a watchdog is
   * replaced whenever an attempt's deadline comes before its wake-up and the
   * loop restarts after every timeout, and a new watchdog that started the
   * count again would postpone the renewal for as long as such attempts come
   * faster than the heartbeat (the lease would expire under a live runner).
   */
  nextBeat: number
}

/**
 * Sleeps until the next renewal or the running attempt's deadline,
 * whichever comes first; renews the lease every heartbeat and interrupts the
 * loop (so the step's finalizers run) on a timeout, a lost lease or a
 * cancellation request.
 */
export const watchdog = (
  store: CheckpointStoreService,
  lease: Lease,
  heartbeatMillis: number,
  watch: Watch,
  loop: Fiber.RuntimeFiber<unknown, unknown>
): Effect.Effect<void> =>
  Effect.gen(function*() {
    while (true) {
      const now = yield* Clock.currentTimeMillis
      watch.wakeAt = Math.min(watch.nextBeat, watch.current?.deadline ?? Number.POSITIVE_INFINITY)
      yield* Effect.sleep(Duration.millis(Math.max(0, watch.wakeAt - now)))
      const at = yield* Clock.currentTimeMillis
      const attempt = watch.current
      if (attempt !== undefined && at >= attempt.deadline) {
        watch.stop = { _tag: "Timeout", stepIndex: attempt.stepIndex }
        return yield* Fiber.interruptFork(loop)
      }
      if (at >= watch.nextBeat) {
        const renewed = yield* Effect.either(store.renew(lease))
        // Only once the renewal answered: one cut short (this watchdog
        // replaced) is made at once by the next watchdog.
        watch.nextBeat = at + heartbeatMillis
        // A store that fails for a moment is not a lost lease: the next
        // renewal or the next save decides.
        if (renewed._tag === "Left" && renewed.left._tag === "LeaseLost") {
          watch.stop = { _tag: "LeaseLost" }
          return yield* Fiber.interruptFork(loop)
        }
        if (renewed._tag === "Right" && renewed.right.cancelRequested) {
          watch.stop = { _tag: "Cancelled" }
          return yield* Fiber.interruptFork(loop)
        }
      }
    }
  })
