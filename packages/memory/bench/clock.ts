// A Clock the benchmarks move by hand: it reads the time from `millis`, which
// the caller advances between operations (both sides of a comparison read it).
import * as Clock from "effect/Clock"
import * as Effect from "effect/Effect"

export const manualClock = (millis: () => number): Clock.Clock => ({
  [Clock.ClockTypeId]: Clock.ClockTypeId,
  unsafeCurrentTimeMillis: millis,
  currentTimeMillis: Effect.sync(millis),
  unsafeCurrentTimeNanos: () => BigInt(millis()) * 1_000_000n,
  currentTimeNanos: Effect.sync(() => BigInt(millis()) * 1_000_000n),
  sleep: Clock.make().sleep
})
