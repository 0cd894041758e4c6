// Timeouts and retry delays without a fiber per task: deadlines sit in one heap and a
// single timer fiber sleeps (on the Clock, so TestClock drives it) until the
// earliest, then fires what is due. A deadline earlier than the one the
// timer sleeps for restarts the timer; a removed deadline costs O(log n).
import * as Clock from "effect/Clock"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import type * as Fiber from "effect/Fiber"
import * as FiberId from "effect/FiberId"
import { Heap } from "./heap.js"

export interface Deadline {
  heapIndex: number
  readonly at: number
  /** Runs uninterruptibly on the timer fiber; a failure is logged. */
  readonly fire: () => Effect.Effect<void>
}

export interface Timeouts {
  readonly add: (at: number, fire: () => Effect.Effect<void>) => Effect.Effect<Deadline>
  readonly remove: (deadline: Deadline) => void
  readonly shutdown: Effect.Effect<void>
}

export const make = (fork: (effect: Effect.Effect<void>) => Fiber.RuntimeFiber<void>): Timeouts => {
  const heap = new Heap<Deadline>((a, b) => a.at < b.at)
  let timer: Fiber.RuntimeFiber<void> | undefined
  let closed = false

  const step: Effect.Effect<void> = Effect.suspend(() => {
    const head = heap.peek()
    if (head === undefined) {
      timer = undefined
      return Effect.void
    }
    return Effect.flatMap(Clock.currentTimeMillis, (now) => {
      if (head.at <= now) {
        heap.remove(head)
        return Effect.zipRight(
          Effect.uninterruptible(
            Effect.catchAllCause(
              Effect.suspend(head.fire),
              (cause) => Effect.logError("supervisor: a timer failed", cause)
            )
          ),
          step
        )
      }
      return Effect.zipRight(Effect.sleep(Duration.millis(head.at - now)), step)
    })
  })

  const restart = Effect.suspend(() => {
    if (closed) return Effect.void
    timer?.unsafeInterruptAsFork(FiberId.none)
    timer = fork(step)
    return Effect.void
  })

  return {
    add: (at, fire) =>
      Effect.suspend(() => {
        const deadline: Deadline = { heapIndex: -1, at, fire }
        heap.push(deadline)
        return heap.peek() === deadline ? Effect.as(restart, deadline) : Effect.succeed(deadline)
      }),
    remove: (deadline) => heap.remove(deadline),
    shutdown: Effect.suspend(() => {
      closed = true
      const fiber = timer
      timer = undefined
      return fiber === undefined ? Effect.void : Effect.asVoid(fiber.interruptAsFork(FiberId.none))
    })
  }
}
