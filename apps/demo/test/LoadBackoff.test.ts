// The load generator against a service that stops answering: it backs off
// (100 ms, doubling, at most 5 s) instead of sending again at once. Time is
// the TestClock's: a generator that retried at once would never let it move,
// and the run would not end.
import { Backends } from "@agentos/testkit"
import { FetchHttpClient, HttpClient, HttpClientRequest } from "@effect/platform"
import { afterAll, assert, beforeAll, describe, it } from "@effect/vitest"
import { Effect, Exit, Fiber, Logger, LogLevel, Scope, TestClock } from "effect"
import * as Load from "../src/load/Load.js"
import { config, freePort, start } from "./harness.js"

const quiet = <A, E, R>(effect: Effect.Effect<A, E, R>) => Logger.withMinimumLogLevel(effect, LogLevel.None)

// The service runs on real time, outside the tests' TestClock; its reads answer the run's counters.
let base = ""
const scope = Effect.runSync(Scope.make())
beforeAll(async () => {
  base = (await Effect.runPromise(quiet(Scope.extend(start(config(), Backends.sqlite()), scope)))).base
}, 60_000)
afterAll(() => Effect.runPromise(Scope.close(scope, Exit.void)))

describe("demo:load, the service unreachable", () => {
  it("the pause after each unanswered request doubles from 100 ms up to 5 s", () => {
    assert.deepStrictEqual([1, 2, 3, 4, 5, 6, 7, 100].map(Load.unreachableDelay), [
      100,
      200,
      400,
      800,
      1_600,
      3_200,
      5_000,
      5_000
    ])
    assert.deepStrictEqual(
      [undefined, "", "x", "0", "-1", "2", "0.5"].map(Load.retryAfterMillis),
      [1_000, 1_000, 1_000, 1_000, 1_000, 2_000, 500]
    )
  })

  it.effect(
    "submissions that get no answer are retried with a growing pause, not at once",
    () =>
      Effect.gen(function*() {
        // Submissions go to a port where nothing listens; the service's own reads still answer.
        const dead = `http://127.0.0.1:${yield* freePort}`
        const http = (yield* HttpClient.HttpClient).pipe(
          HttpClient.mapRequest((request) =>
            request.method === "POST" ? HttpClientRequest.setUrl(request, `${dead}/tasks`) : request
          )
        )
        const agents = 3
        const fiber = yield* Load.run({ url: base, agents, durationMillis: 2_000, drainMillis: 0 }).pipe(
          Effect.provideService(HttpClient.HttpClient, http),
          Effect.fork
        )
        // Let real I/O (the refused connections, the reads) happen between small steps of the clock.
        while ((yield* Fiber.poll(fiber))._tag === "None") {
          yield* Effect.promise(() => new Promise((resolve) => setTimeout(resolve, 5)))
          yield* TestClock.adjust("10 millis")
        }
        const report = yield* Fiber.join(fiber)
        const { requests } = report
        assert.strictEqual(requests.failed, requests.sent)
        assert.strictEqual(requests.accepted, 0)
        // In 2 s each agent waits 100, 200, 400, 800 ms after its first four tries, then the rest
        // of the run: at most five tries each (fewer when a refused connection outlasts a step).
        assert.isAtLeast(requests.sent, agents)
        assert.isAtMost(requests.sent, agents * 5)
      }).pipe(Effect.provide(FetchHttpClient.layer), quiet),
    60_000
  )
})
