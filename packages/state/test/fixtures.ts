import type { JsonObject } from "@agentos/core/Json"
import * as Chunk from "effect/Chunk"
import * as Deferred from "effect/Deferred"
import * as Effect from "effect/Effect"
import * as Fiber from "effect/Fiber"
import * as Schema from "effect/Schema"
import * as Stream from "effect/Stream"
import type * as SharedState from "../src/SharedState.js"

/** The store options every conformance case runs with. */
export const options: SharedState.SqlStoreOptions = {
  strategy: "reject",
  historyLimit: 5,
  pollInterval: "20 millis",
  prefixes: [
    { prefix: "merge/", strategy: "merge" },
    { prefix: "merge/incoming/", strategy: "merge", merge: { precedence: "incoming" } },
    { prefix: "merge/union/", strategy: "merge", merge: { arrays: "union" } },
    { prefix: "merge/concat/", strategy: "merge", merge: { arrays: "concat" } },
    {
      prefix: "merge/custom/",
      strategy: "merge",
      merge: (current: JsonObject, incoming: JsonObject, context) => ({
        total: (current.total as number) + (incoming.total as number),
        lastMergeBy: context.agent
      })
    },
    { prefix: "lww/", strategy: "last-write-wins" },
    { prefix: "fww/", strategy: "first-write-wins" },
    {
      prefix: "typed/",
      strategy: "merge",
      merge: { arrays: "concat" },
      schema: Schema.Struct({
        name: Schema.String,
        age: Schema.Int.pipe(Schema.between(0, 150)),
        tags: Schema.optional(Schema.Array(Schema.String).pipe(Schema.maxItems(2)))
      })
    }
  ]
}

/**
 * Subscribes to `changes(prefix)` and returns once the subscription provably
 * sees writes (a probe key under the prefix, written until it arrives), with
 * a fiber collecting the next `n` versions other than the probe's. No sleep
 * has to guess how long subscribing takes on a loaded machine.
 */
export const collectChanges = (
  state: SharedState.SharedStateService,
  prefix: string,
  n: number
): Effect.Effect<Fiber.RuntimeFiber<ReadonlyArray<SharedState.Version>, SharedState.StoreError>> =>
  Effect.gen(function*() {
    const probe = `${prefix}~probe`
    const ready = yield* Deferred.make<void>()
    const collector = yield* Effect.fork(
      state.changes(prefix).pipe(
        Stream.tap((version) => version.key === probe ? Deferred.succeed(ready, undefined) : Effect.void),
        Stream.filter((version) => version.key !== probe),
        Stream.take(n),
        Stream.runCollect,
        Effect.map(Chunk.toReadonlyArray)
      )
    )
    const probing = yield* Effect.fork(
      Effect.forever(
        Effect.zipRight(Effect.ignore(state.set(probe, {}, { agent: "probe" })), Effect.sleep("30 millis"))
      )
    )
    yield* Deferred.await(ready)
    yield* Fiber.interrupt(probing)
    return collector
  })
