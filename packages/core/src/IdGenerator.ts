/**
 * A service that makes identifiers, so that tests can make them deterministic.
 *
 * The default layer makes ULID-style ids: 10 characters of millisecond time
 * (from Effect's `Clock`) followed by 16 characters of randomness (from
 * Effect's `Random`), in Crockford base 32. Within a millisecond they are
 * monotonic, so one generator's ids sort in creation order (which also keeps
 * B-tree inserts cheap).
 *
 * @since 0.1.0
 */
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Random from "effect/Random"

/**
 * @since 0.1.0
 * @category models
 */
export interface IdGeneratorService {
  /** A new identifier, unique within this generator. */
  readonly next: Effect.Effect<string>
}

/**
 * @since 0.1.0
 * @category tags
 */
export class IdGenerator extends Context.Tag("@agentos/core/IdGenerator")<IdGenerator, IdGeneratorService>() {}

const ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"

const encode = (value: number, length: number): string => {
  let out = ""
  let rest = value
  for (let i = 0; i < length; i++) {
    out = ALPHABET[rest % 32] + out
    rest = Math.floor(rest / 32)
  }
  return out
}

const RANDOM_SPACE = 2 ** 40

/**
 * Makes a ULID-style id from a millisecond timestamp and two random numbers in
 * `[0, 1)`. Exposed for callers that need ids outside of Effect.
 *
 * @since 0.1.0
 * @category constructors
 */
export const ulid = (millis: number, r1: number, r2: number): string =>
  encodeParts(millis, Math.floor(r1 * RANDOM_SPACE), Math.floor(r2 * RANDOM_SPACE))

const encodeParts = (millis: number, high: number, low: number): string =>
  encode(Math.max(0, Math.floor(millis)) % 2 ** 50, 10) + encode(high, 8) + encode(low, 8)

/**
 * A monotonic ULID-style generator: within one millisecond (or when the clock
 * stands still, as `TestClock` does, or steps back) each id increments the
 * previous one's random part, so ids sort in creation order and stay unique.
 *
 * @since 0.1.0
 * @category constructors
 */
export const makeMonotonic = (): IdGeneratorService => {
  let lastMillis = -1
  let high = 0
  let low = 0
  // Within the last id's millisecond (or earlier) the next id is the last one
  // plus one, with no randomness drawn: the common case of a burst costs a
  // clock read and an increment.
  const increment = () => {
    if (++low === RANDOM_SPACE) {
      low = 0
      if (++high === RANDOM_SPACE) {
        high = 0
        lastMillis++
      }
    }
    return encodeParts(lastMillis, high, low)
  }
  return {
    next: Effect.clockWith((clock) => {
      const millis = clock.unsafeCurrentTimeMillis()
      if (millis <= lastMillis) return Effect.sync(increment)
      return Effect.map(Effect.zip(Random.next, Random.next), ([r1, r2]) => {
        // Another fiber may have made an id of this millisecond meanwhile.
        if (millis <= lastMillis) return increment()
        lastMillis = millis
        high = Math.floor(r1 * RANDOM_SPACE)
        low = Math.floor(r2 * RANDOM_SPACE)
        return encodeParts(lastMillis, high, low)
      })
    })
  }
}

/**
 * The process-wide default generator (monotonic, see `makeMonotonic`), for
 * callers that need one without a layer.
 *
 * @since 0.1.0
 * @category constructors
 */
export const makeUlid: IdGeneratorService = makeMonotonic()

/**
 * A deterministic generator for tests: `prefix-000001`, `prefix-000002`, …
 *
 * @since 0.1.0
 * @category constructors
 */
export const makeSequential = (prefix = "id"): IdGeneratorService => {
  let counter = 0
  return {
    next: Effect.sync(() => `${prefix}-${String(++counter).padStart(6, "0")}`)
  }
}

/**
 * The default layer (ULID-style ids from `Clock` and `Random`).
 *
 * @since 0.1.0
 * @category layers
 */
export const layer: Layer.Layer<IdGenerator> = Layer.sync(IdGenerator, makeMonotonic)

/**
 * A deterministic layer for tests; every build starts counting from 1.
 *
 * @since 0.1.0
 * @category layers
 */
export const layerSequential = (prefix = "id"): Layer.Layer<IdGenerator> =>
  Layer.sync(IdGenerator, () => makeSequential(prefix))

/**
 * A new id of a branded kind, e.g. `IdGenerator.make(TaskId)`.
 *
 * @since 0.1.0
 * @category accessors
 */
export const make = <A>(schema: { readonly make: (value: string) => A }): Effect.Effect<A, never, IdGenerator> =>
  Effect.flatMap(IdGenerator, (generator) => Effect.map(generator.next, (id) => schema.make(id)))
