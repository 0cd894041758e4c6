import { SharedState } from "@agentos/state"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"

const program = Effect.gen(function*() {
  const state = yield* SharedState.SharedState
  // Agent A creates the key (expectedVersion 0: only if absent) and reads it.
  yield* state.set("prefs/u1", { theme: "dark" }, { agent: "A", expectedVersion: 0 })
  const read = Option.getOrThrow(yield* state.get("prefs/u1"))
  // Agent B updates it in between.
  yield* state.set("prefs/u1", { theme: "dark", lang: "en" }, { agent: "B", expectedVersion: read.version })
  // A writes back what it read: stale. Under "merge" nothing B wrote is lost.
  const late = yield* state.set("prefs/u1", { theme: "light", font: 14 }, { agent: "A", expectedVersion: read.version })
  // Read-modify-write with retries on conflict.
  const runs = yield* state.update(
    "stats/runs",
    (current) => ({ n: Option.match(current, { onNone: () => 0, onSome: (e) => e.value.n as number }) + 1 }),
    { agent: "A" }
  )
  // An exclusive section: writes carry the lock's fencing token.
  yield* Effect.scoped(Effect.gen(function*() {
    const lock = yield* state.withLock("jobs/report", { agent: "A", ttl: "30 seconds" })
    yield* state.set("jobs/report", { status: "running" }, { agent: "A", fence: lock.fence })
  }))
  return { outcome: late.outcome, prefs: Option.getOrThrow(late.entry), runs: runs.entry.value }
})

export const main = program.pipe(
  Effect.provide(SharedState.layerMemory({ prefixes: [{ prefix: "prefs/", strategy: "merge" }] }))
)
