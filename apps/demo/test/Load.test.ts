// The load generator against the service started in-process: what it reports
// must be what the service's own counters say happened.
import { Backends } from "@agentos/testkit"
import { FetchHttpClient } from "@effect/platform"
import { assert, describe, it } from "@effect/vitest"
import { Duration, Effect, Logger, LogLevel } from "effect"
import * as Load from "../src/load/Load.js"
import { config, freePort, start } from "./harness.js"

const quiet = <A, E, R>(effect: Effect.Effect<A, E, R>) => Logger.withMinimumLogLevel(effect, LogLevel.None)

describe("demo:load", () => {
  for (const backend of Backends.sqlBackends()) {
    it.live(
      `a short run's figures match the service's own counters (${backend.name})`,
      () =>
        Effect.gen(function*() {
          // A queue of two and slow model calls: some submissions are refused.
          const { base } = yield* start(
            config({ maxQueued: 2, simLatency: Duration.millis(150), agents: ["a", "b", "c", "d"] }),
            backend.layer
          )
          const report = yield* Load.run({
            url: base,
            agents: 8,
            count: 40,
            durationMillis: 4_000,
            drainMillis: 30_000
          })
          const { requests, service } = report
          assert.strictEqual(
            requests.sent,
            requests.accepted + requests.rejected429 + requests.failed +
              Object.values(requests.otherStatus).reduce((a, b) => a + b, 0)
          )
          assert.deepStrictEqual(requests.otherStatus, {})
          assert.strictEqual(requests.failed, 0)
          assert.isAbove(requests.accepted, 0)
          assert.isAbove(requests.rejected429, 0)
          // The service counted the same answers, and ended every accepted task.
          assert.strictEqual(service.accepted, requests.accepted)
          assert.strictEqual(service.rejected429, requests.rejected429)
          assert.isTrue(report.drain.drained)
          assert.strictEqual(service.tasksEnded, requests.accepted)
          assert.isAbove(service.spentMicros, 0)
          assert.isAtMost(report.latencyMillis.p50, report.latencyMillis.p90)
          assert.isAtMost(report.latencyMillis.p90, report.latencyMillis.p99)
          assert.isAtMost(report.latencyMillis.p99, report.latencyMillis.max)
        }).pipe(Effect.scoped, Effect.provide(FetchHttpClient.layer), quiet),
      { timeout: 60_000 }
    )
  }

  it.effect("bad options are refused before anything is sent", () =>
    Effect.gen(function*() {
      for (
        const options of [
          { url: "http://127.0.0.1:1", agents: 0, count: 1, drainMillis: 0 },
          { url: "http://127.0.0.1:1", agents: 1, drainMillis: 0 },
          { url: "not a url", agents: 1, count: 1, drainMillis: 0 },
          { url: "http://127.0.0.1:1", agents: 1, count: -1, drainMillis: 0 }
        ]
      ) {
        const error = yield* Effect.flip(Load.run(options))
        assert.strictEqual(error._tag, "LoadError")
        assert.include(error.message, "invalid options")
      }
    }).pipe(Effect.provide(FetchHttpClient.layer)))

  it.live("an unreachable service is a LoadError naming the URL", () =>
    Effect.gen(function*() {
      const port = yield* freePort
      const url = `http://127.0.0.1:${port}`
      const error = yield* Effect.flip(Load.run({ url, agents: 1, count: 1, drainMillis: 0 }))
      assert.strictEqual(error._tag, "LoadError")
      assert.include(error.message, url)
    }).pipe(Effect.provide(FetchHttpClient.layer)))

  it("percentiles are nearest-rank", () => {
    const values = Array.from({ length: 100 }, (_, i) => 100 - i)
    assert.deepStrictEqual(Load.percentiles(values), { p50: 50, p90: 90, p99: 99, max: 100 })
    assert.deepStrictEqual(Load.percentiles([]), { p50: 0, p90: 0, p99: 0, max: 0 })
  })
})
