// The timer of task deadlines (src/internal/timeouts.ts): one fiber over a
// heap, parked when the heap is empty. A deadline added while the timer is
// between finding the heap empty and parking (its fiber may yield there, at
// any operation) must still fire. Run on a ControlledScheduler stepped by
// hand, with every yield point tried: deterministic, no real time waited.
import { assert, describe, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as FiberRef from "effect/FiberRef"
import * as Scheduler from "effect/Scheduler"
import * as Timeouts from "../src/internal/timeouts.js"

/** Steps the scheduler until `done` or `max` steps, letting microtasks (a fiber's start) run between steps. */
const stepUntil = async (scheduler: Scheduler.ControlledScheduler, done: () => boolean, max = 1_000) => {
  for (let i = 0; i < max && !done(); i++) {
    await Promise.resolve()
    scheduler.step()
  }
  return done()
}

describe("Timeouts", () => {
  it("a deadline added at any point of the timer's way to parking fires", async () => {
    const lost: Array<string> = []
    for (const maxOps of [10, 12, 15, 20, 30]) {
      for (let k = 0; k < 30; k++) {
        const scheduler = new Scheduler.ControlledScheduler()
        const timeouts = Timeouts.make((effect) =>
          Effect.runFork(effect.pipe(
            Effect.locally(FiberRef.currentMaxOpsBeforeYield, maxOps),
            Effect.withScheduler(scheduler)
          ))
        )
        let first = false
        let second = false
        // Due already: the timer fires it without sleeping, then finds the heap empty.
        timeouts.add(0, () => Effect.sync(() => (first = true)), undefined)
        assert.isTrue(await stepUntil(scheduler, () => first), "the first deadline fires")
        for (let i = 0; i < k; i++) scheduler.step()
        timeouts.add(0, () => Effect.sync(() => (second = true)), undefined)
        if (!(await stepUntil(scheduler, () => second))) lost.push(`maxOps ${maxOps}, ${k} steps`)
        Effect.runFork(timeouts.shutdown)
      }
    }
    assert.deepStrictEqual(lost, [])
  })
})
