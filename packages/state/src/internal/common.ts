import { type JsonObject, textProblem } from "@agentos/core/Json"
import * as Clock from "effect/Clock"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Option from "effect/Option"
import * as ParseResult from "effect/ParseResult"
import * as Schedule from "effect/Schedule"
import * as Schema from "effect/Schema"
import type * as Scope from "effect/Scope"
import type * as Merge from "../Merge.js"
import type * as SharedState from "../SharedState.js"
import { InvalidRequest, InvalidValue, LockTimeout, VersionConflict } from "../SharedState.js"

/** @internal */
export const defaultSchedule: Schedule.Schedule<unknown, unknown> = Schedule.exponential("1 millis", 1.5).pipe(
  Schedule.union(Schedule.spaced("100 millis")),
  Schedule.jittered,
  Schedule.intersect(Schedule.recurs(100))
)

/** @internal */
export interface Rules {
  readonly strategy: SharedState.Strategy
  readonly merge: Merge.Merger
  /** A description of why a value does not decode, or undefined. */
  readonly check: ((value: JsonObject) => string | undefined) | undefined
}

/** @internal */
export interface Config {
  readonly historyLimit: number
  readonly updateConcurrency: number
  readonly rules: (key: string) => Rules
}

const STRATEGIES: ReadonlyArray<SharedState.Strategy> = ["reject", "first-write-wins", "last-write-wins", "merge"]

const checkStrategy = (strategy: unknown, where: string): void => {
  if (strategy !== undefined && !STRATEGIES.includes(strategy as SharedState.Strategy)) {
    throw new TypeError(`SharedState: unknown strategy ${JSON.stringify(strategy)} in ${where}`)
  }
}

const ARRAY_MODES: ReadonlyArray<unknown> = ["replace", "concat", "union"]

const checkMerger = (merger: unknown, where: string): void => {
  if (merger === undefined || typeof merger === "function") return
  const options = merger as { precedence?: unknown; arrays?: unknown }
  if (
    typeof merger !== "object" || merger === null ||
    (options.precedence !== undefined && options.precedence !== "current" && options.precedence !== "incoming") ||
    (options.arrays !== undefined && !ARRAY_MODES.includes(options.arrays))
  ) {
    throw new TypeError(`SharedState: invalid merge in ${where}: ${JSON.stringify(merger)}`)
  }
}

/** @internal */
export const makeConfig = (options: SharedState.StoreOptions): Config => {
  const historyLimit = options.historyLimit ?? 20
  if (!Number.isSafeInteger(historyLimit) || historyLimit < 1 || historyLimit > 100_000) {
    throw new TypeError(`SharedState: historyLimit must be an integer from 1 to 100000, got ${historyLimit}`)
  }
  const updateConcurrency = options.updateConcurrency ?? 2
  if (!Number.isSafeInteger(updateConcurrency) || updateConcurrency < 1) {
    throw new TypeError(`SharedState: updateConcurrency must be an integer >= 1, got ${updateConcurrency}`)
  }
  checkStrategy(options.strategy, "options.strategy")
  checkMerger(options.merge, "options.merge")
  const seen = new Set<string>()
  for (const p of options.prefixes ?? []) {
    if (seen.has(p.prefix)) throw new TypeError(`SharedState: prefix "${p.prefix}" is configured twice`)
    seen.add(p.prefix)
  }
  const base: Rules = { strategy: options.strategy ?? "reject", merge: options.merge ?? {}, check: undefined }
  const prefixes = [...(options.prefixes ?? [])].sort((a, b) => b.prefix.length - a.prefix.length)
  const compiled = prefixes.map((p): readonly [string, Rules] => {
    if (typeof p.prefix !== "string") {
      throw new TypeError(`SharedState: a prefix must be a string, got ${JSON.stringify(p.prefix)}`)
    }
    checkStrategy(p.strategy, `prefix "${p.prefix}"`)
    checkMerger(p.merge, `prefix "${p.prefix}"`)
    if (p.schema !== undefined && !Schema.isSchema(p.schema)) {
      throw new TypeError(`SharedState: the schema of prefix "${p.prefix}" is not a Schema`)
    }
    let check: Rules["check"] = undefined
    if (p.schema !== undefined) {
      const decode = Schema.decodeUnknownEither(p.schema)
      check = (value) => {
        const result = decode(value)
        return Either.isLeft(result) ? ParseResult.TreeFormatter.formatErrorSync(result.left) : undefined
      }
    }
    return [p.prefix, { strategy: p.strategy ?? base.strategy, merge: p.merge ?? base.merge, check }]
  })
  return {
    historyLimit,
    updateConcurrency,
    rules: compiled.length === 0 ? () => base : (key) => {
      for (const [prefix, rules] of compiled) if (key.startsWith(prefix)) return rules
      return base
    }
  }
}

const MAX_KEY = 1024

/** @internal */
export const checkKey = (key: unknown): string | undefined =>
  typeof key !== "string" || key.length === 0
    ? "a key must be a non-empty string"
    : key.length > MAX_KEY
    ? `a key is at most ${MAX_KEY} characters`
    : textProblem("the key", key)

/** @internal */
export const checkAgent = (agent: unknown): string | undefined =>
  typeof agent !== "string" || agent.length === 0 ? "agent must be a non-empty string" : textProblem("agent", agent)

/** @internal */
export const checkWrite = (
  key: string,
  agent: unknown,
  expectedVersion: unknown,
  fence: unknown,
  strategy: unknown
): InvalidRequest | undefined => {
  const bad = checkKey(key) ??
    checkAgent(agent) ??
    (expectedVersion !== undefined && (!Number.isSafeInteger(expectedVersion) || (expectedVersion as number) < 0)
      ? `expectedVersion must be an integer >= 0, got ${String(expectedVersion)}`
      : undefined) ??
    (fence !== undefined && (!Number.isSafeInteger(fence) || (fence as number) < 1)
      ? `fence must be an integer >= 1, got ${String(fence)}`
      : undefined) ??
    (strategy !== undefined && !STRATEGIES.includes(strategy as SharedState.Strategy)
      ? `unknown strategy ${JSON.stringify(strategy)}`
      : undefined)
  return bad === undefined ? undefined : new InvalidRequest({ reason: bad })
}

/** @internal */
export const checkSchema = (key: string, value: JsonObject, rules: Rules): InvalidValue | undefined => {
  if (rules.check === undefined) return undefined
  const reason = rules.check(value)
  return reason === undefined ? undefined : new InvalidValue({ key, reason })
}

/** @internal */
export const checkList = (prefix: unknown, options: SharedState.ListOptions | undefined): string | undefined => {
  if (typeof prefix !== "string") return "a prefix must be a string"
  const badPrefix = textProblem("the prefix", prefix)
  if (badPrefix !== undefined) return badPrefix
  const limit = options?.limit
  if (limit !== undefined && (!Number.isSafeInteger(limit) || limit < 1 || limit > 1000)) {
    return `limit must be an integer from 1 to 1000, got ${String(limit)}`
  }
  if (options?.cursor !== undefined && typeof options.cursor !== "string") return "cursor must be a string"
  return options?.cursor === undefined ? undefined : textProblem("the cursor", options.cursor)
}

/** @internal */
export const mergedBy = (current: ReadonlyArray<string>, agent: string): ReadonlyArray<string> => {
  const last = current[current.length - 1]
  return last === undefined || last === agent ? [agent] : [last, agent]
}

/** @internal */
export const isVersionConflict = (error: unknown): error is VersionConflict => error instanceof VersionConflict

/**
 * The conflict of a write that expected `expectedVersion` and met `current`
 * (none: the key is absent). `stored`: the fields come from values the store
 * checked when they were written (the memory store's frozen copies), so the
 * error's schema does not decode them a second time; values read back from a
 * database are decoded.
 */
export const versionConflict = (
  key: string,
  expectedVersion: number,
  currentVersion: number,
  current: SharedState.Entry | undefined,
  stored = false
): VersionConflict =>
  new VersionConflict({
    key,
    expectedVersion,
    currentVersion,
    currentValue: current === undefined ? null : current.value,
    modifiedBy: current === undefined ? [] : current.modifiedBy,
    updatedAt: current === undefined ? 0 : current.updatedAt
  }, stored ? { disableValidation: true } : undefined)

/**
 * The service from a backend's operations: `update` and `withLock` are built
 * the same way on every backend, on top of `get`/`set` and the lock primitives.
 */
export const makeService = (
  operations: Omit<SharedState.SharedStateService, "update" | "withLock">,
  locks: {
    readonly tryAcquire: Parameters<typeof makeWithLock>[0]
    readonly release: Parameters<typeof makeWithLock>[1]
  },
  config: Config
): SharedState.SharedStateService => ({
  ...operations,
  update: makeUpdate(operations, config.updateConcurrency),
  withLock: makeWithLock(locks.tryAcquire, locks.release)
})

/** @internal */
export const makeUpdate = (
  service: Pick<SharedState.SharedStateService, "get" | "set">,
  concurrency: number
): SharedState.SharedStateService["update"] => {
  const gate = makeGate(concurrency)
  return <E>(
    key: string,
    f: (current: Option.Option<SharedState.Entry>) => JsonObject | Effect.Effect<JsonObject, E>,
    options: SharedState.UpdateOptions
  ) =>
    Effect.suspend(() => {
      // Checked before `f` ever runs: a bad request runs nothing.
      const bad = checkWrite(key, options.agent, undefined, options.fence, undefined)
      if (bad !== undefined) return Effect.fail(bad)
      let attempts = 0
      let conflicts = 0
      const attempt = Effect.flatMap(service.get(key), (current) => {
        attempts++
        const expectedVersion = Option.isSome(current) ? current.value.version : 0
        const write = (value: JsonObject) =>
          Effect.map(
            service.set(key, value, {
              agent: options.agent,
              expectedVersion,
              strategy: "reject",
              ...(options.fence === undefined ? {} : { fence: options.fence })
            }),
            (result) => Option.getOrThrow(result.entry)
          )
        const next = f(current)
        return Effect.isEffect(next) ? Effect.flatMap(next, write) : write(next)
      })
      // At most `concurrency` attempts on one key are in flight in this store
      // instance; the rest wait here rather than with a stale read.
      const gated = gate(key, attempt)
      return gated.pipe(
        Effect.tapError((error) =>
          Effect.sync(() => {
            if (isVersionConflict(error)) conflicts++
          })
        ),
        Effect.retry({
          schedule: (options.schedule ?? defaultSchedule) as Schedule.Schedule<unknown, unknown>,
          while: isVersionConflict
        }),
        Effect.map((entry): SharedState.UpdateResult => ({ entry, attempts, conflicts }))
      )
    })
}

/**
 * Per-key semaphores, created on demand and dropped when unused.
 *
 * @internal
 */
export const makeGate = (permits: number) => {
  const gates = new Map<string, { readonly semaphore: Effect.Semaphore; users: number }>()
  return <A, E>(key: string, effect: Effect.Effect<A, E>): Effect.Effect<A, E> =>
    Effect.acquireUseRelease(
      Effect.sync(() => {
        let gate = gates.get(key)
        if (gate === undefined) {
          gate = { semaphore: Effect.unsafeMakeSemaphore(permits), users: 0 }
          gates.set(key, gate)
        }
        gate.users++
        return gate
      }),
      (gate) => gate.semaphore.withPermits(1)(effect),
      (gate) =>
        Effect.sync(() => {
          if (--gate.users === 0) gates.delete(key)
        })
    )
}

const LOCK_RETRY_MILLIS = 10

/** @internal */
export const makeWithLock = (
  tryAcquire: (
    key: string,
    agent: string,
    ttlMillis: number
  ) => Effect.Effect<number | undefined, SharedState.StoreError>,
  release: (key: string, agent: string, fence: number) => Effect.Effect<void, SharedState.StoreError>
): SharedState.SharedStateService["withLock"] =>
(key, options) =>
  Effect.suspend((): Effect.Effect<
    SharedState.Lock,
    LockTimeout | InvalidRequest | SharedState.StoreError,
    Scope.Scope
  > => {
    const agent = options.agent
    const ttl = Option.map(Duration.decodeUnknown(options.ttl ?? "30 seconds"), Duration.toMillis)
    const wait = Option.map(Duration.decodeUnknown(options.wait ?? "5 seconds"), Duration.toMillis)
    const bad = checkKey(key) ??
      checkAgent(agent) ??
      (Option.isNone(ttl) || !(ttl.value >= 1) || !Number.isFinite(ttl.value)
        ? "ttl must be a finite duration of at least 1 millisecond"
        : undefined) ??
      (Option.isNone(wait) || !(wait.value >= 0) ? "wait must be a duration >= 0" : undefined)
    if (bad !== undefined) return Effect.fail(new InvalidRequest({ reason: bad }))
    const ttlMillis = Math.ceil(Option.getOrThrow(ttl))
    const waitMillis = Option.getOrThrow(wait)
    // One release is registered before the first attempt; each attempt runs
    // uninterruptibly and records its grant, so a granted lock is always
    // released with the scope, the waiting between attempts stays
    // interruptible, and a long wait adds no finalizer per attempt.
    let granted: number | undefined
    const attempt = Effect.uninterruptible(Effect.tap(tryAcquire(key, agent, ttlMillis), (fence) => {
      granted = fence
    }))
    return Effect.zipRight(
      Effect.addFinalizer(() =>
        granted === undefined ? Effect.void : Effect.ignoreLogged(release(key, agent, granted))
      ),
      Effect.flatMap(Clock.currentTimeMillis, (start) => {
        const loop: Effect.Effect<SharedState.Lock, LockTimeout | SharedState.StoreError> = Effect.flatMap(
          attempt,
          (fence) =>
            fence !== undefined ?
              Effect.succeed({ key, agent, fence }) :
              Effect.flatMap(Clock.currentTimeMillis, (now) => {
                const waited = now - start
                return waited >= waitMillis
                  ? Effect.fail(new LockTimeout({ key, agent, waitedMillis: waited }))
                  : Effect.zipRight(Effect.sleep(Math.min(LOCK_RETRY_MILLIS, waitMillis - waited)), loop)
              })
        )
        return loop
      })
    )
  })
