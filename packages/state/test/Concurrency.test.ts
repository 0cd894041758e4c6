import { Backends } from "@agentos/testkit"
import * as SqlClient from "@effect/sql/SqlClient"
import { assert, describe, it } from "@effect/vitest"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Fiber from "effect/Fiber"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Schedule from "effect/Schedule"
import { SharedState } from "../src/index.js"
import { collectChanges } from "../src/Testing.js"

const AGENTS = 50
const INCREMENTS = 100

// The default backoff (jittered, capped at 100 ms), without its retry limit.
const schedule = Schedule.exponential("1 millis", 1.5).pipe(
  Schedule.union(Schedule.spaced("100 millis")),
  Schedule.jittered,
  Schedule.intersect(Schedule.recurs(100_000))
)

const counterRun = Effect.gen(function*() {
  const state = yield* SharedState.SharedState
  const perAgent = yield* Effect.forEach(
    Array.from({ length: AGENTS }, (_, i) => `agent-${i}`),
    (agent) =>
      Effect.forEach(
        Array.from({ length: INCREMENTS }),
        () =>
          state.update(
            "counter",
            (current) =>
              // An agent "thinks" between its read and its write, as real ones do.
              Effect.as(Effect.yieldNow(), {
                n: Option.match(current, { onNone: () => 0, onSome: (entry) => entry.value.n as number }) + 1
              }),
            { agent, schedule }
          )
      ),
    { concurrency: "unbounded" }
  )
  const results = perAgent.flat()
  const conflicts = results.reduce((sum, r) => sum + r.conflicts, 0)
  const attempts = results.reduce((sum, r) => sum + r.attempts, 0)
  const final = Option.getOrThrow(yield* state.get("counter"))
  assert.deepStrictEqual(final.value, { n: AGENTS * INCREMENTS })
  assert.strictEqual(final.version, AGENTS * INCREMENTS)
  // Conflicts really happened and were retried: each one cost an extra attempt.
  assert.isAbove(conflicts, 0)
  assert.strictEqual(attempts, AGENTS * INCREMENTS + conflicts)
  // Every committed version was a distinct increment: the history is gap-free.
  const history = yield* state.history("counter")
  assert.deepStrictEqual(
    history.map((v) => v.value!.n),
    history.map((v) => v.version)
  )
  return conflicts
})

const backends: ReadonlyArray<readonly [string, Layer.Layer<SharedState.SharedState, unknown>]> = [
  ["memory", SharedState.layerMemory()],
  ["sqlite", SharedState.layerSql().pipe(Layer.provide(Backends.sqlite()))],
  ...(Backends.pgUrl() === undefined ? [] : [
    [
      "postgres (8 pooled connections)",
      SharedState.layerSql().pipe(Layer.provide(Backends.postgres({ maxConnections: 8 })))
    ] as const
  ])
]

describe("SharedState under contention", () => {
  for (const [name, layer] of backends) {
    it.live(
      `${AGENTS} agents × ${INCREMENTS} update increments of one counter end at exactly 5,000 — ${name}`,
      () =>
        Effect.gen(function*() {
          const conflicts = yield* counterRun
          yield* Effect.logDebug(`${name}: ${conflicts} conflicts retried`)
        }).pipe(Effect.provide(layer)),
      240_000
    )
  }

  // A backend, and how a second client attaches to the same database.
  type Attached = readonly [
    string,
    Layer.Layer<SqlClient.SqlClient | Backends.TestDatabase, unknown>,
    (db: typeof Backends.TestDatabase.Service) => Layer.Layer<SqlClient.SqlClient, unknown>
  ]
  const attached: ReadonlyArray<Attached> = [
    ["sqlite", Backends.sqlite(), (db) => Backends.sqlite({ filename: db.filename! })],
    ...(Backends.pgUrl() === undefined ? [] : [
      ["postgres", Backends.postgres(), (db) => Backends.postgres({ schema: db.schema! })] satisfies Attached
    ])
  ]
  for (const [name, backend, attach] of attached) {
    it.live(
      `the SQL change feed carries writes made through another client (its own connections) of the same database — ${name}`,
      () =>
        Effect.scoped(Effect.gen(function*() {
          // Two "processes": each has its own SqlClient (SQLite connection or
          // Postgres pool) and its own store; they share only the database.
          const writerContext = yield* Layer.build(backend)
          const readerContext = yield* Layer.build(attach(Context.get(writerContext, Backends.TestDatabase)))
          assert.notStrictEqual(
            Context.get(readerContext, SqlClient.SqlClient),
            Context.get(writerContext, SqlClient.SqlClient)
          )
          const writer = yield* Layer.build(SharedState.layerSql()).pipe(Effect.provide(writerContext))
          const reader = yield* Layer.build(SharedState.layerSql({ pollInterval: "25 millis" })).pipe(
            Effect.provide(readerContext)
          )
          const writerState = Context.get(writer, SharedState.SharedState)
          const readerState = Context.get(reader, SharedState.SharedState)
          const feed = yield* collectChanges(readerState, "job/", 3)
          yield* writerState.set("job/1", { step: 1 }, { agent: "w" })
          yield* writerState.set("job/1", { step: 2 }, { agent: "w", expectedVersion: 1 })
          yield* writerState.set("job/2", { step: 1 }, { agent: "w" })
          const seen = yield* Fiber.join(feed).pipe(Effect.timeout("5 seconds"))
          assert.deepStrictEqual(seen.map((v) => [v.key, v.version]), [["job/1", 1], ["job/1", 2], ["job/2", 1]])
        })),
      30_000
    )
  }
})
