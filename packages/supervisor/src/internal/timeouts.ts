// Timeouts and retry delays without a fiber per task: deadlines sit in one heap and a
// single timer fiber sleeps (on the Clock, so TestClock drives it) until the
// earliest, then fires what is due. Adding and removing are plain calls
// (O(log n)), made on the dispatch path without an Effect step. The timer is
// restarted only for a deadline earlier than the one it sleeps for: the
// deadlines of a busy supervisor come in time order, so it is forked about
// once per timeout period, not once per task. When the heap empties (every
// task ended before its deadline) the timer parks until the next deadline
// is added, which resumes it: a fiber that ended there was forked anew for
// the next task, once per task when tasks are short.
import * as Clock from "effect/Clock"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import type * as Fiber from "effect/Fiber"
import * as FiberId from "effect/FiberId"
import { Heap } from "./heap.js"

export interface Deadline {
  heapIndex: number
  readonly at: number
  /** Runs uninterruptibly on the timer fiber with `target`; a failure is logged. */
  readonly fire: (target: any) => Effect.Effect<void>
  readonly target: unknown
}

export interface Timeouts {
  /** `fire(target)` at `at` (a shared function and its argument: no closure per deadline). */
  readonly add: <T>(at: number, fire: (target: T) => Effect.Effect<void>, target: T) => Deadline
  readonly remove: (deadline: Deadline) => void
  readonly shutdown: Effect.Effect<void>
}

export const make = (fork: (effect: Effect.Effect<void>) => Fiber.RuntimeFiber<void>): Timeouts => {
  const heap = new Heap<Deadline>((a, b) => a.at < b.at)
  let timer: Fiber.RuntimeFiber<void> | undefined
  // When the running timer wakes next (Infinity while it is firing or parked).
  let wakeAt = Infinity
  // Resumes the timer parked on an empty heap.
  let parked: ((effect: Effect.Effect<void>) => void) | undefined
  let closed = false

  // The timer found the heap empty, but its fiber may have yielded since
  // (at any operation): a deadline added meanwhile saw no parked timer and
  // left it to the timer. It looks again here, where nothing can come
  // between the look and the parking.
  const park = Effect.async<void>((resume) => {
    if (heap.peek() !== undefined) return resume(Effect.void)
    parked = resume
    return Effect.sync(() => {
      if (parked === resume) parked = undefined
    })
  })

  const step: Effect.Effect<void> = Effect.suspend(() => {
    const head = heap.peek()
    if (head === undefined) {
      wakeAt = Infinity
      return Effect.zipRight(park, step)
    }
    return Effect.flatMap(Clock.currentTimeMillis, (now) => {
      if (head.at <= now) {
        heap.remove(head)
        wakeAt = Infinity
        return Effect.zipRight(
          Effect.uninterruptible(
            Effect.catchAllCause(
              Effect.suspend(() => head.fire(head.target)),
              (cause) => Effect.logError("supervisor: a timer failed", cause)
            )
          ),
          step
        )
      }
      wakeAt = head.at
      return Effect.zipRight(Effect.sleep(Duration.millis(head.at - now)), step)
    })
  })

  const restart = () => {
    if (closed) return
    timer?.unsafeInterruptAsFork(FiberId.none)
    wakeAt = Infinity
    timer = fork(step)
  }

  return {
    add: (at, fire, target) => {
      const deadline: Deadline = { heapIndex: -1, at, fire, target }
      heap.push(deadline)
      // A parked timer is resumed; one that is firing (wakeAt Infinity) looks
      // at the heap again before it sleeps; one sleeping past `at` must wake
      // earlier.
      if (parked !== undefined) {
        const resume = parked
        parked = undefined
        resume(Effect.void)
      } else if (timer === undefined || (wakeAt !== Infinity && at < wakeAt)) restart()
      return deadline
    },
    remove: (deadline) => heap.remove(deadline),
    shutdown: Effect.suspend(() => {
      closed = true
      const fiber = timer
      timer = undefined
      return fiber === undefined ? Effect.void : Effect.asVoid(fiber.interruptAsFork(FiberId.none))
    })
  }
}
