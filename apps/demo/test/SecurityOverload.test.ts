// Overload as a denial of service: the short version of `pnpm overload`
// (src/overload). Ten times the measured capacity is offered for 15 s to the
// service started in-process; the test asserts correctness only — never a
// 5xx, every submission answered, every accepted task ended, the heap
// bounded by a generous limit — and never a timing.
import { Backends } from "@agentos/testkit"
import { assert, describe, it } from "@effect/vitest"
import { Duration, Effect, Logger, LogLevel } from "effect"
import * as Overload from "../src/overload/Overload.js"
import { config, start } from "./harness.js"

/** The heap may grow under the offer, but not without bound: far above the ~150 MB it idles at. */
const HEAP_LIMIT_MB = 1_536

describe("demo security: overload", () => {
  it.live(
    "ten times the capacity for 15 s: no 5xx, every submission answered, every accepted task ends, heap bounded",
    () =>
      Effect.gen(function*() {
        // The defaults' model latency, a smaller queue (a shorter drain); the built-in team off.
        const { base } = yield* start(
          config({ simLatency: Duration.millis(150), maxQueued: 50, maxBodyBytes: 64 * 1024 }),
          Backends.sqlite()
        )
        const report = yield* Overload.run({
          base,
          capacitySeconds: 5,
          factor: 10,
          offerSeconds: 15,
          drainSeconds: 600,
          stallSeconds: 60,
          heap: Effect.sync(() => process.memoryUsage())
        })
        const { drain, healthz, heap, offer } = report
        assert.isAbove(offer.sent, 0)
        assert.strictEqual(
          offer.sent,
          offer.accepted + offer.rejected429 + offer.unanswered +
            Object.values(offer.otherStatus).reduce((a, b) => a + b, 0)
        )
        // No 5xx, nor any status but 202 and 429; every submission answered.
        assert.deepStrictEqual(offer.otherStatus, {})
        assert.strictEqual(offer.unanswered, 0)
        assert.isAbove(offer.accepted, 0)
        // /healthz answered throughout (how fast is the script's figure, not this test's).
        assert.isAbove(healthz.samples, 0)
        // Every accepted task ended: nothing left queued or running (the wait gives up only after a
        // minute in which no task ended), and each one read back terminal.
        assert.isTrue(drain.drained)
        const ended = (drain.statuses["completed"] ?? 0) + (drain.statuses["failed"] ?? 0) +
          (drain.statuses["cancelled"] ?? 0)
        assert.strictEqual(ended, offer.accepted, JSON.stringify(drain.statuses))
        assert.isBelow(heap.maxHeapUsedMB, HEAP_LIMIT_MB)
      }).pipe(Effect.scoped, Logger.withMinimumLogLevel(LogLevel.None)),
    { timeout: 900_000 }
  )
})
