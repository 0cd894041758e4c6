// Task ids when the application provides no IdGenerator: ULID-style, as
// core's default generator makes them (ten characters of milliseconds,
// sixteen of randomness, monotonic within the process), but made by a plain
// call on the submit path instead of an Effect step per id. The randomness
// comes from a small generator (sfc32) seeded from `Random` when the layer is
// built, so a test's Random decides it.
import * as IdGenerator from "@agentos/core/IdGenerator"
import type * as Clock from "effect/Clock"

const SPACE = 2 ** 40

export const makeUlid = (clock: Clock.Clock, seed: readonly [number, number, number, number]): () => string => {
  let [a, b, c, d] = seed.map((word) => word >>> 0) as [number, number, number, number]
  const next32 = (): number => {
    a >>>= 0
    b >>>= 0
    c >>>= 0
    d >>>= 0
    let t = (a + b) | 0
    a = b ^ (b >>> 9)
    b = (c + (c << 3)) | 0
    c = (c << 21) | (c >>> 11)
    d = (d + 1) | 0
    t = (t + d) | 0
    c = (c + t) | 0
    return t >>> 0
  }
  // 40 random bits: 32 of one draw and 8 of another.
  const next40 = () => next32() * 256 + (next32() & 255)
  for (let i = 0; i < 12; i++) next32()
  let lastMillis = -1
  let high = 0
  let low = 0
  // The time and high parts change once a millisecond: encoded then, not per id.
  let prefix = ""
  return () => {
    const millis = clock.unsafeCurrentTimeMillis()
    if (millis > lastMillis) {
      lastMillis = millis
      high = next40()
      low = next40()
      prefix = ""
    } else if (++low === SPACE) {
      low = 0
      prefix = ""
      if (++high === SPACE) {
        high = 0
        lastMillis++
      }
    }
    if (prefix === "") prefix = IdGenerator.ulid(lastMillis, high / SPACE, 0).slice(0, 18)
    return prefix + encode8(low)
  }
}

const ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"

// Eight characters of Crockford base 32, as core's ULIDs encode their low 40 bits.
const encode8 = (value: number): string => {
  let out = ""
  let rest = value
  for (let i = 0; i < 8; i++) {
    out = ALPHABET[rest % 32] + out
    rest = Math.floor(rest / 32)
  }
  return out
}
