/**
 * The published conformance suite of the dead letter queue: the cases every
 * `DeadLetterQueue` layer passes (memory, file system, SQLite, Postgres), as
 * data, and the harness a layer of your own needs to run them under your own
 * vitest with `@agentos/testkit`'s `Conformance`:
 *
 * ```ts
 * import { Conformance } from "@agentos/testkit"
 * import * as Testing from "@agentos/dlq/Testing"
 *
 * Conformance.conformance("my DeadLetterQueue", {
 *   extra: { mine: Testing.harness((options) => myLayer(options)) }
 * }, Testing.suite)
 * ```
 *
 * Every case builds its queues through the harness, from a fresh harness
 * (so a fresh store); a layer that keeps its data elsewhere (a Redis, a
 * table) must start each build of the harness layer empty. The harness
 * provides core's `IdGenerator` (sequential ids, so letters sort in creation
 * order under `TestClock`): a layer of your own takes its ids from it.
 *
 * Needs the optional peer dependencies `@agentos/testkit`, `@effect/vitest`
 * and `vitest`. `index.ts` does not re-export this module.
 *
 * @since 0.2.0
 */
import * as DeadLetters from "@agentos/core/DeadLetters"
import * as IdGenerator from "@agentos/core/IdGenerator"
import * as Ids from "@agentos/core/Ids"
import * as Conformance from "@agentos/testkit/Conformance"
import { assert } from "@effect/vitest"
import * as Chunk from "effect/Chunk"
import * as Clock from "effect/Clock"
import * as Context from "effect/Context"
import * as Deferred from "effect/Deferred"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Fiber from "effect/Fiber"
import * as Layer from "effect/Layer"
import * as Queue from "effect/Queue"
import * as Ref from "effect/Ref"
import type * as Scope from "effect/Scope"
import * as TestClock from "effect/TestClock"
import * as DeadLetterQueue from "./DeadLetterQueue.js"
import type * as Letter from "./Letter.js"
import * as Redaction from "./Redaction.js"

/**
 * What the cases use to build queues: `make(options)` builds a queue over
 * the case's store (each call a new layer build, within the case's scope).
 *
 * @since 0.2.0
 * @category models
 */
export interface HarnessService {
  readonly make: (
    options?: DeadLetterQueue.Options
  ) => Effect.Effect<DeadLetterQueue.DeadLetterQueueService, unknown, Scope.Scope>
}

/**
 * @since 0.2.0
 * @category tags
 */
export class Harness extends Context.Tag("@agentos/dlq/Testing/Harness")<Harness, HarnessService>() {}

/**
 * The harness of a layer: `makeLayer` builds a `DeadLetterQueue` layer from
 * a case's options (`maxLetters`, `claimTimeout`, `redact`…; a layer of your
 * own that has no such option must still honour it, or fail its cases). The
 * harness is a layer itself, built afresh for every case; what `makeLayer`'s
 * layers need (`R`, e.g. a `SqlClient`) is provided to the harness.
 *
 * @since 0.2.0
 * @category constructors
 */
export const harness = <E, R>(
  makeLayer: (options: DeadLetterQueue.Options) => Layer.Layer<DeadLetterQueue.DeadLetterQueue, E, R>
): Layer.Layer<Harness, never, R> =>
  Layer.effect(
    Harness,
    Effect.map(Effect.context<R>(), (context) => {
      // One sequential id generator per case, so ids sort by creation order
      // under TestClock (ULIDs of one millisecond need not).
      const ids = Layer.succeed(IdGenerator.IdGenerator, IdGenerator.makeSequential("dl"))
      return Harness.of({
        make: (options = {}) =>
          Layer.build(Layer.provide(makeLayer(options), ids)).pipe(
            Effect.map((built) => Context.get(built, DeadLetterQueue.DeadLetterQueue)),
            Effect.provide(context)
          )
      })
    })
  )

/**
 * The queue of a case, built with `options` through the case's harness.
 *
 * @since 0.2.0
 * @category accessors
 */
export const queue = (
  options?: DeadLetterQueue.Options
): Effect.Effect<DeadLetterQueue.DeadLetterQueueService, unknown, Harness | Scope.Scope> =>
  Effect.flatMap(Harness, (h) => h.make(options))

/**
 * A valid `add` input (a search task that timed out after 3 attempts), with
 * `overrides`; an override of `undefined` removes the field.
 *
 * @since 0.2.0
 * @category constructors
 */
export const input = (
  overrides: { readonly [K in keyof Letter.AddInput]?: Letter.AddInput[K] | undefined } = {}
): Letter.AddInput => {
  const out: Record<string, unknown> = { ...base, ...overrides }
  for (const key of Object.keys(out)) if (out[key] === undefined) delete out[key]
  return out as unknown as Letter.AddInput
}

const base: Letter.AddInput = {
  taskType: "search",
  taskId: "task-1",
  attempts: 3,
  payload: { query: "effect dead letters", page: 1 },
  error: { tag: "Timeout", message: "the search took too long" },
  agent: "agent-a",
  firstAttemptAt: 1_000,
  lastAttemptAt: 2_000,
  context: { lastAttempt: 3 }
}

/**
 * The error of an effect that must fail (the case fails if it succeeds).
 *
 * @since 0.2.0
 * @category utils
 */
export const failure = <A, E, R>(effect: Effect.Effect<A, E, R>) =>
  Effect.map(Effect.either(effect), (either) => {
    assert.isTrue(Either.isLeft(either), "expected a failure")
    return (either as Either.Left<E, A>).left
  })

// Lets real I/O (a database, files) progress while the test clock stands still.
const tick = Effect.promise(() => new Promise<void>((resolve) => setImmediate(resolve)))

/**
 * The cases every `DeadLetterQueue` layer passes. Cases that judge a claim's
 * expiry by Effect's `Clock` (under `TestClock`) skip `sqlite` and
 * `postgres`, where the database's clock judges it; for a layer of your own
 * judged by another clock, use `suiteFor({ claimClock: "store" })`.
 *
 * @since 0.2.0
 * @category suites
 */
export const suite: Conformance.Suite<Harness> = [
  Conformance.test(
    "add stores a letter that get returns, with the time it entered the queue",
    Effect.gen(function*() {
      yield* TestClock.adjust("10 seconds")
      const dlq = yield* queue()
      const added = yield* dlq.add(input())
      assert.isFalse(added.duplicate)
      const letter = yield* dlq.get(added.letter.id)
      assert.deepStrictEqual(letter, added.letter)
      assert.strictEqual(letter.taskType, "search")
      assert.strictEqual(letter.taskId, "task-1")
      assert.strictEqual(letter.agent, "agent-a")
      assert.strictEqual(letter.attempts, 3)
      assert.strictEqual(letter.dedupeKey, "task:task-1:3")
      assert.deepStrictEqual(letter.payload, { query: "effect dead letters", page: 1 })
      assert.deepStrictEqual(letter.error, { tag: "Timeout", message: "the search took too long" })
      assert.deepStrictEqual(letter.context, { lastAttempt: 3 })
      assert.strictEqual(letter.createdAt, 10_000)
      assert.strictEqual(letter.resolution, undefined)
      const missing = yield* failure(dlq.get("nope"))
      assert.strictEqual(missing._tag, "LetterNotFound")
    })
  ),
  Conformance.test(
    "a letter is a copy: changing the caller's objects or the handler's payload changes no letter",
    Effect.gen(function*() {
      const dlq = yield* queue()
      const payload = { list: [1, 2] }
      const context = { step: "a" }
      const { letter } = yield* dlq.add(input({ payload, context }))
      payload.list.push(3)
      context.step = "b"
      yield* dlq.replay(
        letter.id,
        (p) => Effect.sync(() => (p as { list: Array<number> }).list.push(4)).pipe(Effect.zipRight(Effect.fail("no")))
      )
      const stored = yield* dlq.get(letter.id)
      assert.deepStrictEqual(stored.payload, { list: [1, 2] })
      assert.deepStrictEqual(stored.context, { step: "a" })
    })
  ),
  Conformance.test(
    "invalid input is a typed InvalidInput and stores nothing",
    Effect.gen(function*() {
      const dlq = yield* queue()
      const early = yield* failure(dlq.add(input({ lastAttemptAt: 500 })))
      assert.strictEqual(early._tag, "InvalidInput")
      const empty = yield* failure(dlq.add(input({ taskType: "" })))
      assert.strictEqual(empty._tag, "InvalidInput")
      const notJson = yield* failure(dlq.add(input({ payload: { n: Number.NaN } })))
      assert.strictEqual(notJson._tag, "InvalidInput")
      assert.include(notJson.message, "NaN")
      const badFilter = yield* failure(dlq.list({ limit: 0 }))
      assert.strictEqual(badFilter._tag, "InvalidInput")
      assert.strictEqual((yield* dlq.summary()).total, 0)
    })
  ),
  Conformance.test(
    "a payload above maxPayloadBytes is refused with PayloadTooLarge, nothing truncated or stored",
    Effect.gen(function*() {
      const dlq = yield* queue({ maxPayloadBytes: 100 })
      const error = yield* failure(dlq.add(input({ payload: { text: "x".repeat(200) } })))
      assert.strictEqual(error._tag, "PayloadTooLarge")
      if (error._tag === "PayloadTooLarge") {
        assert.strictEqual(error.maxBytes, 100)
        assert.strictEqual(error.bytes, JSON.stringify({ text: "x".repeat(200) }).length)
      }
      assert.strictEqual((yield* dlq.summary()).total, 0)
      const ok = yield* dlq.add(input({ payload: { text: "x".repeat(50) } }))
      assert.strictEqual((ok.letter.payload as { text: string }).text.length, 50)
    })
  ),
  Conformance.test(
    "the same failure (task or workflow id and attempt) keeps one letter",
    Effect.gen(function*() {
      const dlq = yield* queue()
      const first = yield* dlq.add(input())
      const again = yield* dlq.add(input({ payload: { other: true } }))
      assert.isTrue(again.duplicate)
      assert.strictEqual(again.letter.id, first.letter.id)
      assert.deepStrictEqual(again.letter.payload, first.letter.payload)
      const nextAttempt = yield* dlq.add(input({ attempt: 4, attempts: 4 }))
      assert.isFalse(nextAttempt.duplicate)
      const workflow = { id: "wf-1", name: "research", step: "search" }
      const w1 = yield* dlq.add(input({ taskId: undefined, workflow, attempt: 2 }))
      const w2 = yield* dlq.add(input({ taskId: undefined, workflow, attempt: 2 }))
      assert.isTrue(w2.duplicate)
      assert.strictEqual(w2.letter.id, w1.letter.id)
      assert.strictEqual(w1.letter.dedupeKey, "workflow:wf-1:2")
      // Without a task or workflow id there is no key: every add is a letter.
      const a = yield* dlq.add(input({ taskId: undefined }))
      const b = yield* dlq.add(input({ taskId: undefined }))
      assert.notStrictEqual(a.letter.id, b.letter.id)
      assert.strictEqual((yield* dlq.summary()).total, 5)
    })
  ),
  Conformance.test(
    "maxLetters: a full queue refuses new letters with QueueFull, still recognises duplicates, never evicts",
    Effect.gen(function*() {
      const dlq = yield* queue({ maxLetters: 2 })
      const first = yield* dlq.add(input({ taskId: "t1" }))
      yield* dlq.add(input({ taskId: "t2" }))
      const full = yield* failure(dlq.add(input({ taskId: "t3" })))
      assert.strictEqual(full._tag, "QueueFull")
      assert.isTrue((yield* dlq.add(input({ taskId: "t1" }))).duplicate)
      assert.strictEqual((yield* dlq.summary()).total, 2)
      yield* dlq.resolve(first.letter.id, "fixed by hand")
      yield* TestClock.adjust("2 hours")
      assert.strictEqual(yield* dlq.purge({ resolvedOlderThan: "1 hour" }), 1)
      yield* dlq.add(input({ taskId: "t3" }))
      assert.strictEqual((yield* dlq.summary()).total, 2)
    })
  ),
  Conformance.test(
    "maxLetters holds under concurrent adds: never more letters than the limit",
    Effect.gen(function*() {
      const dlq = yield* queue({ maxLetters: 3 })
      const outcomes = yield* Effect.all(
        Array.from({ length: 10 }, (_, i) => Effect.either(dlq.add(input({ taskId: `c${i}` })))),
        { concurrency: "unbounded" }
      )
      assert.strictEqual(outcomes.filter(Either.isRight).length, 3)
      for (const outcome of outcomes) {
        if (Either.isLeft(outcome)) assert.strictEqual(outcome.left._tag, "QueueFull")
      }
      assert.strictEqual((yield* dlq.summary()).total, 3)
    })
  ),
  Conformance.test(
    "list filters by task type, error type, agent, resolved and since",
    Effect.gen(function*() {
      const dlq = yield* queue()
      yield* dlq.add(input({ taskId: "a", taskType: "search" }))
      yield* TestClock.adjust("1 minute")
      const b = yield* dlq.add(
        input({ taskId: "b", taskType: "synthesize", error: { tag: "RateLimited", message: "429" } })
      )
      yield* dlq.add(input({ taskId: "c", taskType: "search", agent: "agent-b" }))
      yield* dlq.resolve(b.letter.id, "ok")
      const ids = (page: Letter.Page) => page.letters.map((l): string | undefined => l.taskId)
      assert.deepStrictEqual(ids(yield* dlq.list({ taskType: "search" })), ["c", "a"])
      assert.deepStrictEqual(ids(yield* dlq.list({ errorType: "RateLimited" })), ["b"])
      assert.deepStrictEqual(ids(yield* dlq.list({ agent: "agent-b" })), ["c"])
      assert.deepStrictEqual(ids(yield* dlq.list({ resolved: true })), ["b"])
      assert.deepStrictEqual(ids(yield* dlq.list({ resolved: false })), ["c", "a"])
      assert.deepStrictEqual(ids(yield* dlq.list({ since: 60_000 })), ["c", "b"])
      assert.deepStrictEqual(ids(yield* dlq.list({ taskType: "search", order: "oldest" })), ["a", "c"])
    })
  ),
  Conformance.test(
    "cursor pagination is stable: every letter once, in order, even with adds between pages",
    Effect.gen(function*() {
      const dlq = yield* queue()
      for (let i = 1; i <= 7; i++) yield* dlq.add(input({ taskId: `t${i}` }))
      const collect = (order: "newest" | "oldest") =>
        Effect.gen(function*() {
          const seen: Array<string> = []
          let cursor: string | undefined
          let pages = 0
          do {
            const page: Letter.Page = yield* dlq.list({ limit: 3, order, ...(cursor === undefined ? {} : { cursor }) })
            for (const l of page.letters) seen.push(l.taskId!)
            cursor = page.nextCursor
            pages++
            if (pages === 1) yield* dlq.add(input({ taskId: `late-${order}` }))
          } while (cursor !== undefined)
          return { seen, pages }
        })
      const newest = yield* collect("newest")
      assert.deepStrictEqual(newest.seen, ["t7", "t6", "t5", "t4", "t3", "t2", "t1"])
      assert.strictEqual(newest.pages, 3)
      const oldest = yield* collect("oldest")
      assert.deepStrictEqual(oldest.seen, ["t1", "t2", "t3", "t4", "t5", "t6", "t7", "late-newest", "late-oldest"])
      const exact = yield* dlq.list({ limit: 9 })
      assert.strictEqual(exact.letters.length, 9)
      assert.strictEqual(exact.nextCursor, undefined)
    })
  ),
  Conformance.test(
    "a successful replay resolves the letter with the time and the result; a second replay is AlreadyResolved",
    Effect.gen(function*() {
      const dlq = yield* queue()
      const { letter } = yield* dlq.add(input())
      yield* TestClock.adjust("5 seconds")
      const seen: Array<unknown> = []
      const outcome = yield* dlq.replay(letter.id, (payload) => {
        seen.push(payload)
        return Effect.succeed({ documents: 3 })
      })
      assert.strictEqual(outcome._tag, "Succeeded")
      assert.deepStrictEqual(seen, [{ query: "effect dead letters", page: 1 }])
      const stored = yield* dlq.get(letter.id)
      assert.deepStrictEqual(stored.resolution, {
        kind: "replayed",
        at: 5_000,
        note: "replayed successfully",
        result: { documents: 3 }
      })
      assert.strictEqual(stored.attempts, 3)
      assert.strictEqual(stored.replays, 1)
      const again = yield* failure(dlq.replay(letter.id, () => Effect.void))
      assert.strictEqual(again._tag, "AlreadyResolved")
      const missing = yield* failure(dlq.replay("nope", () => Effect.void))
      assert.strictEqual(missing._tag, "LetterNotFound")
    })
  ),
  Conformance.test(
    "a replay result that is not JSON or above maxPayloadBytes is not stored, and the note says so",
    Effect.gen(function*() {
      const dlq = yield* queue({ maxPayloadBytes: 200 })
      const big = yield* dlq.add(input({ taskId: "big" }))
      const outcome = yield* dlq.replay(big.letter.id, () => Effect.succeed({ text: "r".repeat(500) }))
      assert.strictEqual(outcome._tag, "Succeeded")
      const stored = yield* dlq.get(big.letter.id)
      assert.strictEqual(stored.resolution?.result, undefined)
      assert.include(stored.resolution?.note, "above maxPayloadBytes 200")
      const odd = yield* dlq.add(input({ taskId: "odd" }))
      yield* dlq.replay(odd.letter.id, () => Effect.succeed(new Map([[1, 2]])))
      const oddStored = yield* dlq.get(odd.letter.id)
      assert.strictEqual(oddStored.resolution?.result, undefined)
      assert.include(oddStored.resolution?.note, "not JSON")
    })
  ),
  Conformance.test(
    "a failed replay adds an attempt and records the new error; the letter stays unresolved",
    Effect.gen(function*() {
      const dlq = yield* queue()
      const { letter } = yield* dlq.add(input())
      yield* TestClock.adjust("7 seconds")
      const outcome = yield* dlq.replay(letter.id, () => Effect.fail(new Error("still broken")))
      assert.strictEqual(outcome._tag, "Failed")
      if (outcome._tag === "Failed") {
        assert.strictEqual(outcome.failure.message, "still broken")
        assert.instanceOf(outcome.error, Error)
      }
      const stored = yield* dlq.get(letter.id)
      assert.strictEqual(stored.attempts, 4)
      assert.strictEqual(stored.lastAttemptAt, 7_000)
      assert.strictEqual(stored.error.tag, "Error")
      assert.strictEqual(stored.error.message, "still broken")
      assert.strictEqual(stored.resolution, undefined)
      // A defect is a failed replay too, and the claim is free again.
      const died = yield* dlq.replay(letter.id, () => Effect.die("boom"))
      assert.strictEqual(died._tag, "Failed")
      assert.strictEqual((yield* dlq.get(letter.id)).attempts, 5)
      assert.deepStrictEqual((yield* dlq.summary()).byErrorType, { Unknown: 1 })
    })
  ),
  Conformance.test(
    "replay with modify runs the patched payload and stores it; a bad patch changes nothing",
    Effect.gen(function*() {
      const dlq = yield* queue({ maxPayloadBytes: 200 })
      const { letter } = yield* dlq.add(input())
      const tooBig = yield* failure(
        dlq.replay(letter.id, () => Effect.void, { modify: () => ({ big: "y".repeat(500) }) })
      )
      assert.strictEqual(tooBig._tag, "PayloadTooLarge")
      const notJson = yield* failure(
        dlq.replay(letter.id, () => Effect.void, { modify: () => ({ when: new Date(0) }) as never })
      )
      assert.strictEqual(notJson._tag, "InvalidInput")
      assert.deepStrictEqual(yield* dlq.get(letter.id), letter)
      const outcome = yield* dlq.replay(
        letter.id,
        (payload) => Effect.succeed(payload),
        {
          modify: (payload) => {
            const p = payload as { query: string }
            ;(p as { query: string }).query = "fixed query"
            return p
          }
        }
      )
      assert.strictEqual(outcome._tag, "Succeeded")
      if (outcome._tag === "Succeeded") assert.deepStrictEqual(outcome.result, { query: "fixed query", page: 1 })
      assert.deepStrictEqual((yield* dlq.get(letter.id)).payload, { query: "fixed query", page: 1 })
    })
  ),
  Conformance.test(
    "concurrent replays of one letter never overlap: one runs, the others get ReplayInProgress",
    Effect.gen(function*() {
      const dlq = yield* queue()
      const { letter } = yield* dlq.add(input())
      const running = yield* Ref.make(0)
      const gate = yield* Deferred.make<void>()
      const started = yield* Deferred.make<void>()
      const handler = () =>
        Effect.gen(function*() {
          yield* Ref.update(running, (n) => n + 1)
          yield* Deferred.succeed(started, undefined)
          yield* Deferred.await(gate)
          return "done"
        })
      const first = yield* Effect.fork(dlq.replay(letter.id, handler))
      yield* Deferred.await(started)
      const others = yield* Effect.all(
        Array.from({ length: 6 }, () => Effect.either(dlq.replay(letter.id, handler))),
        { concurrency: "unbounded" }
      )
      for (const other of others) {
        assert.isTrue(Either.isLeft(other))
        if (Either.isLeft(other)) assert.strictEqual(other.left._tag, "ReplayInProgress")
      }
      const resolveWhileRunning = yield* failure(dlq.resolve(letter.id, "by hand"))
      assert.strictEqual(resolveWhileRunning._tag, "ReplayInProgress")
      yield* Deferred.succeed(gate, undefined)
      const outcome = yield* Fiber.join(first)
      assert.strictEqual(outcome._tag, "Succeeded")
      assert.strictEqual(yield* Ref.get(running), 1)
    })
  ),
  Conformance.test(
    "a claim holds until the instant it expires and is free from that instant on (Effect's Clock)",
    Effect.gen(function*() {
      const dlq = yield* queue({ claimTimeout: "1 second" })
      const gate = yield* Deferred.make<void>()
      // Three letters, each claimed at 0 by a replay that waits at the gate.
      const stuck: Array<Fiber.Fiber<unknown, unknown>> = []
      const ids: Array<Ids.LetterId> = []
      for (const taskId of ["a", "b", "c"]) {
        const { letter } = yield* dlq.add(input({ taskId }))
        const started = yield* Deferred.make<void>()
        stuck.push(
          yield* Effect.fork(
            dlq.replay(letter.id, () => Effect.zipRight(Deferred.succeed(started, undefined), Deferred.await(gate)))
          )
        )
        yield* Deferred.await(started)
        ids.push(letter.id)
      }
      const [a, b] = ids as [Ids.LetterId, Ids.LetterId, Ids.LetterId]
      const purge = () => dlq.purge({ resolvedOlderThan: "1 hour", unresolvedOlderThan: 0 })
      // One millisecond before the expiry every claim holds.
      yield* TestClock.adjust("999 millis")
      const held = yield* failure(dlq.replay(a, () => Effect.void))
      assert.strictEqual(held._tag, "ReplayInProgress")
      if (held._tag === "ReplayInProgress") assert.strictEqual(held.claimedUntil, 1_000)
      assert.strictEqual((yield* failure(dlq.resolve(b, "by hand")))._tag, "ReplayInProgress")
      assert.strictEqual(yield* purge(), 0)
      // At the expiry (now = claimedUntil) every claim is free: a replay, a
      // resolve and a purge take the letters.
      yield* TestClock.adjust("1 millis")
      assert.strictEqual((yield* dlq.replay(a, () => Effect.succeed("second")))._tag, "Succeeded")
      assert.strictEqual((yield* dlq.resolve(b, "by hand")).resolution?.kind, "manual")
      assert.strictEqual(yield* purge(), 1)
      yield* Deferred.succeed(gate, undefined)
      for (const fiber of stuck) {
        const late = yield* failure(Fiber.join(fiber))
        assert.strictEqual((late as { _tag: string })._tag, "ClaimLost")
      }
      assert.strictEqual((yield* dlq.summary()).total, 2)
    }),
    { skip: ["sqlite", "postgres"] }
  ),
  Conformance.test(
    "an interrupted replay frees its claim",
    Effect.gen(function*() {
      const dlq = yield* queue()
      const { letter } = yield* dlq.add(input())
      const started = yield* Deferred.make<void>()
      const fiber = yield* Effect.fork(
        dlq.replay(letter.id, () => Effect.zipRight(Deferred.succeed(started, undefined), Effect.never))
      )
      yield* Deferred.await(started)
      yield* Fiber.interrupt(fiber)
      const outcome = yield* dlq.replay(letter.id, () => Effect.succeed(1))
      assert.strictEqual(outcome._tag, "Succeeded")
      assert.strictEqual((yield* dlq.get(letter.id)).attempts, 3)
    })
  ),
  Conformance.test(
    "a claim expires: a crashed replayer does not block the letter, and its late outcome is ClaimLost",
    Effect.gen(function*() {
      // (That a held claim blocks a second replay is the concurrent-replay
      // case's; here only the expiry, which needs real time: the SQL claim is
      // judged by the database's clock. Sleeping longer than the claim is a
      // lower bound, so a slow machine cannot make this case fail.)
      const dlq = yield* queue({ claimTimeout: "400 millis" })
      const { letter } = yield* dlq.add(input())
      const gate = yield* Deferred.make<void>()
      const started = yield* Deferred.make<void>()
      const stuck = yield* Effect.fork(
        dlq.replay(letter.id, () => Effect.zipRight(Deferred.succeed(started, undefined), Deferred.await(gate)))
      )
      yield* Deferred.await(started)
      yield* Effect.sleep("600 millis")
      const outcome = yield* dlq.replay(letter.id, () => Effect.succeed("second"))
      assert.strictEqual(outcome._tag, "Succeeded")
      yield* Deferred.succeed(gate, undefined)
      const late = yield* Effect.either(Fiber.join(stuck))
      assert.isTrue(Either.isLeft(late))
      if (Either.isLeft(late)) assert.strictEqual(late.left._tag, "ClaimLost")
      assert.deepStrictEqual((yield* dlq.get(letter.id)).resolution?.result, "second")
    }),
    { live: true, timeout: 10_000 }
  ),
  Conformance.test(
    "a manual resolve after a claim expired fences the late replayer: ClaimLost, and the resolution stands",
    Effect.gen(function*() {
      const dlq = yield* queue({ claimTimeout: "400 millis" })
      const { letter } = yield* dlq.add(input())
      const gate = yield* Deferred.make<void>()
      const started = yield* Deferred.make<void>()
      const stuck = yield* Effect.fork(
        dlq.replay(
          letter.id,
          () =>
            Effect.zipRight(
              Deferred.succeed(started, undefined),
              Effect.zipRight(Deferred.await(gate), Effect.fail("late"))
            )
        )
      )
      yield* Deferred.await(started)
      yield* Effect.sleep("600 millis")
      const resolved = yield* dlq.resolve(letter.id, "fixed upstream")
      yield* Deferred.succeed(gate, undefined)
      const late = yield* Effect.either(Fiber.join(stuck))
      assert.isTrue(Either.isLeft(late))
      if (Either.isLeft(late)) assert.strictEqual(late.left._tag, "ClaimLost")
      const stored = yield* dlq.get(letter.id)
      assert.deepStrictEqual(stored.resolution, resolved.resolution)
      assert.strictEqual(stored.attempts, 3)
      assert.strictEqual((yield* dlq.summary()).resolved, 1)
    }),
    { live: true, timeout: 10_000 }
  ),
  Conformance.test(
    "concurrent adds of one failure keep one letter; all of them get its id",
    Effect.gen(function*() {
      const dlq = yield* queue()
      const port = yield* Effect.provide(
        DeadLetters.DeadLetters,
        Layer.provide(DeadLetterQueue.layerPort, Layer.succeed(DeadLetterQueue.DeadLetterQueue, dlq))
      )
      const sent: DeadLetters.DeadLetterInput = {
        source: "supervisor",
        taskType: "search",
        taskId: Ids.TaskId.make("task-race"),
        attempt: 3,
        attempts: 3,
        payload: { q: 1 },
        error: { tag: "Timeout", message: "slow" },
        firstAttemptAt: 1,
        lastAttemptAt: 2
      }
      const receipts = yield* Effect.all(
        [
          ...Array.from({ length: 4 }, () => port.send(sent)),
          ...Array.from({ length: 4 }, () =>
            Effect.map(dlq.add(input({ taskId: "task-race" })), (a) => ({
              letterId: a.letter.id,
              duplicate: a.duplicate
            })))
        ],
        { concurrency: "unbounded" }
      )
      assert.strictEqual(receipts.filter((r) => !r.duplicate).length, 1)
      assert.strictEqual(new Set(receipts.map((r) => r.letterId)).size, 1)
      assert.strictEqual((yield* dlq.summary()).total, 1)
    })
  ),
  Conformance.test(
    "bad layer options are InvalidOptions when the layer is built; bad purge ages are InvalidInput; nothing changes",
    Effect.gen(function*() {
      for (
        const options of [
          { maxPayloadBytes: Number.NaN },
          { maxLetters: 0 },
          { alertBuffer: -1 },
          { claimTimeout: "soon" as never },
          { claimTimeout: 0 },
          { claimTimeout: Number.POSITIVE_INFINITY },
          { redact: "yes" as never }
        ]
      ) {
        const error = yield* failure(queue(options))
        assert.strictEqual((error as { _tag: string })._tag, "InvalidOptions", String(Object.keys(options)))
        assert.include((error as { message: string }).message, Object.keys(options)[0]!)
      }
      const dlq = yield* queue()
      const { letter } = yield* dlq.add(input())
      yield* dlq.resolve(letter.id, "done")
      yield* TestClock.adjust("1 hour")
      for (const age of ["a while", -1, Number.NaN, "-2 hours"]) {
        const error = yield* failure(dlq.purge({ resolvedOlderThan: age as never }))
        assert.strictEqual(error._tag, "InvalidInput", String(age))
      }
      const unresolved = yield* failure(dlq.purge({ resolvedOlderThan: "1 minute", unresolvedOlderThan: "x" as never }))
      assert.strictEqual(unresolved._tag, "InvalidInput")
      assert.strictEqual((yield* dlq.get(letter.id)).id, letter.id)
      // An infinite age removes nothing of that kind.
      assert.strictEqual(yield* dlq.purge({ resolvedOlderThan: Number.POSITIVE_INFINITY }), 0)
      const badMax = yield* failure(dlq.replayMany({}, () => Effect.void, { ratePerSecond: 1, maxLetters: 0 }))
      assert.strictEqual(badMax._tag, "InvalidInput")
      assert.strictEqual(yield* dlq.purge({ resolvedOlderThan: "1 minute" }), 1)
    })
  ),
  Conformance.test(
    "resolve marks a letter resolved by hand, once",
    Effect.gen(function*() {
      const dlq = yield* queue()
      const { letter } = yield* dlq.add(input())
      yield* TestClock.adjust("3 seconds")
      const resolved = yield* dlq.resolve(letter.id, "not worth replaying")
      assert.deepStrictEqual(resolved.resolution, { kind: "manual", at: 3_000, note: "not worth replaying" })
      assert.deepStrictEqual(yield* dlq.get(letter.id), resolved)
      const again = yield* failure(dlq.resolve(letter.id, "again"))
      assert.strictEqual(again._tag, "AlreadyResolved")
      const missing = yield* failure(dlq.resolve("nope", "x"))
      assert.strictEqual(missing._tag, "LetterNotFound")
    })
  ),
  Conformance.test(
    "resolve with a note that is not a string is InvalidInput and changes nothing",
    Effect.gen(function*() {
      const dlq = yield* queue()
      const { letter } = yield* dlq.add(input())
      for (const note of [undefined, 42, { text: "x" }]) {
        const error = yield* failure(dlq.resolve(letter.id, note as never))
        assert.strictEqual(error._tag, "InvalidInput", String(note))
      }
      // The letter is untouched, still listed, and can be resolved properly.
      assert.deepStrictEqual(yield* dlq.get(letter.id), letter)
      assert.deepStrictEqual((yield* dlq.list()).letters, [letter])
      assert.strictEqual((yield* dlq.resolve(letter.id, "by hand")).resolution?.note, "by hand")
    })
  ),
  Conformance.test(
    "purge removes resolved letters older than resolvedOlderThan, and unresolved ones only when asked",
    Effect.gen(function*() {
      const dlq = yield* queue()
      const old = yield* dlq.add(input({ taskId: "old" }))
      yield* dlq.resolve(old.letter.id, "done")
      const open = yield* dlq.add(input({ taskId: "open" }))
      yield* TestClock.adjust("2 hours")
      const recent = yield* dlq.add(input({ taskId: "recent" }))
      yield* dlq.resolve(recent.letter.id, "done")
      assert.strictEqual(yield* dlq.purge({ resolvedOlderThan: "1 hour" }), 1)
      assert.strictEqual((yield* failure(dlq.get(old.letter.id)))._tag, "LetterNotFound")
      assert.strictEqual((yield* dlq.get(open.letter.id)).id, open.letter.id)
      assert.strictEqual(yield* dlq.purge({ resolvedOlderThan: "1 hour", unresolvedOlderThan: "90 minutes" }), 1)
      assert.strictEqual((yield* failure(dlq.get(open.letter.id)))._tag, "LetterNotFound")
      assert.strictEqual((yield* dlq.summary()).total, 1)
      // A purged failure may be dead-lettered again.
      assert.isFalse((yield* dlq.add(input({ taskId: "old" }))).duplicate)
    })
  ),
  Conformance.test(
    "purge with an age longer than the clock's history removes nothing of that kind; a fractional age is a valid age",
    Effect.gen(function*() {
      const dlq = yield* queue()
      const resolved = yield* dlq.add(input({ taskId: "resolved" }))
      yield* dlq.resolve(resolved.letter.id, "done")
      const open = yield* dlq.add(input({ taskId: "open" }))
      yield* TestClock.adjust("1 hour")
      // 1e15 hours (the cutoff would be -3.6e21 ms), the largest number of
      // milliseconds, and the longest bigint of nanoseconds: nothing is that old.
      for (const age of [Duration.hours(1e15), Number.MAX_VALUE, BigInt(Number.MAX_SAFE_INTEGER) * 1_000_000_000n]) {
        assert.strictEqual(yield* dlq.purge({ resolvedOlderThan: age, unresolvedOlderThan: age }), 0, String(age))
      }
      assert.strictEqual((yield* dlq.summary()).total, 2)
      // Half a millisecond short of the hour: both letters are older than that.
      assert.strictEqual(yield* dlq.purge({ resolvedOlderThan: "3599999.5 millis" }), 1)
      assert.strictEqual(yield* dlq.purge({ resolvedOlderThan: 0, unresolvedOlderThan: 3_599_999.5 }), 1)
      assert.strictEqual((yield* failure(dlq.get(open.letter.id)))._tag, "LetterNotFound")
    })
  ),
  Conformance.test(
    "purge never removes a letter being replayed",
    Effect.gen(function*() {
      const dlq = yield* queue()
      const { letter } = yield* dlq.add(input())
      const gate = yield* Deferred.make<void>()
      const started = yield* Deferred.make<void>()
      const replaying = yield* Effect.fork(
        dlq.replay(letter.id, () => Effect.zipRight(Deferred.succeed(started, undefined), Deferred.await(gate)))
      )
      yield* Deferred.await(started)
      yield* TestClock.adjust("1 second")
      assert.strictEqual(yield* dlq.purge({ resolvedOlderThan: 0, unresolvedOlderThan: 0 }), 0)
      yield* Deferred.succeed(gate, undefined)
      assert.strictEqual((yield* Fiber.join(replaying))._tag, "Succeeded")
      assert.strictEqual((yield* dlq.get(letter.id)).resolution?.kind, "replayed")
      yield* TestClock.adjust("1 second")
      assert.strictEqual(yield* dlq.purge({ resolvedOlderThan: 0 }), 1)
    })
  ),
  Conformance.test(
    "summary counts totals, unresolved by task type and error type, and the oldest unresolved age",
    Effect.gen(function*() {
      const dlq = yield* queue()
      const empty = yield* dlq.summary()
      assert.deepStrictEqual(empty, {
        total: 0,
        resolved: 0,
        unresolved: 0,
        byTaskType: {},
        byErrorType: {},
        oldestUnresolvedAgeMillis: undefined,
        findings: []
      })
      yield* TestClock.adjust("1 second")
      const first = yield* dlq.add(input({ taskId: "a" }))
      yield* TestClock.adjust("1 second")
      yield* dlq.add(input({ taskId: "b", taskType: "synthesize" }))
      yield* dlq.add(input({ taskId: "c", error: { tag: "RateLimited", message: "429" } }))
      yield* dlq.add(input({ taskId: "d", taskType: "format" }))
      yield* TestClock.adjust("10 seconds")
      const before = yield* dlq.summary()
      assert.strictEqual(before.oldestUnresolvedAgeMillis, 11_000)
      yield* dlq.resolve(first.letter.id, "ok")
      const summary = yield* dlq.summary()
      assert.deepStrictEqual(summary, {
        total: 4,
        resolved: 1,
        unresolved: 3,
        byTaskType: { search: 1, synthesize: 1, format: 1 },
        byErrorType: { Timeout: 2, RateLimited: 1 },
        oldestUnresolvedAgeMillis: 10_000,
        findings: []
      })
    })
  ),
  Conformance.test(
    "replayMany replays the matching unresolved letters, oldest first, at most ratePerSecond per second",
    Effect.gen(function*() {
      const dlq = yield* queue()
      for (let i = 1; i <= 5; i++) yield* dlq.add(input({ taskId: `s${i}` }))
      yield* dlq.add(input({ taskId: "other", taskType: "format" }))
      const done = yield* dlq.add(input({ taskId: "done" }))
      yield* dlq.resolve(done.letter.id, "ok")
      const starts: Array<readonly [string, number]> = []
      const fiber = yield* Effect.fork(
        dlq.replayMany(
          { taskType: "search" },
          (_payload, letter) =>
            Effect.flatMap(Clock.currentTimeMillis, (now) => {
              starts.push([letter.taskId!, now])
              return letter.taskId === "s3" ? Effect.fail("nope") : Effect.void
            }),
          { ratePerSecond: 2 }
        )
      )
      // The clock moves only while replayMany sleeps, straight to its wake-up
      // time, so each start is stamped with the time the limiter allowed it.
      // Without the limit all five would start at 0.
      while ((yield* Fiber.poll(fiber))._tag === "None") {
        // (Other fibers, e.g. a pool's connect timeout, may sleep longer: skip those.)
        const now = yield* Clock.currentTimeMillis
        const wake = Chunk.findFirst(yield* TestClock.sleeps(), (at) => at <= now + 500)
        if (wake._tag === "Some") yield* TestClock.setTime(wake.value)
        else yield* tick
      }
      const report = yield* Fiber.join(fiber)
      assert.deepStrictEqual(starts, [["s1", 0], ["s2", 500], ["s3", 1000], ["s4", 1500], ["s5", 2000]])
      assert.strictEqual(report.succeeded.length, 4)
      assert.strictEqual(report.failed.length, 1)
      assert.deepStrictEqual(report.skipped, [])
      assert.deepStrictEqual(report.claimLost, [])
      assert.deepStrictEqual((yield* dlq.summary()).byTaskType, { search: 1, format: 1 })
      const bad = yield* failure(dlq.replayMany({}, () => Effect.void, { ratePerSecond: 0 }))
      assert.strictEqual(bad._tag, "InvalidInput")
    }),
    { timeout: 20_000 }
  ),
  Conformance.test(
    "text Postgres cannot store: a failure's message keeps it as a visible escape; names, payloads, notes and filters holding it are InvalidInput",
    Effect.gen(function*() {
      const dlq = yield* queue()
      const { letter } = yield* dlq.add(input({
        taskId: "nul",
        error: { tag: "Boom\u0000", message: "binary \u0000 output \ud83d and 👋", stack: "at x\udc00" }
      }))
      const stored = yield* dlq.get(letter.id)
      assert.deepStrictEqual(stored.error, {
        tag: "Boom\\u0000",
        message: "binary \\u0000 output \\uD83D and 👋",
        stack: "at x\\uDC00"
      })
      for (
        const bad of [{ taskType: "se\u0000arch" }, { payload: { q: "a\u0000" } }, { context: { "k\ud83d": 1 } }, {
          agent: "a\u0000"
        }]
      ) {
        const refused = yield* failure(dlq.add(input({ taskId: "bad", ...bad })))
        assert.strictEqual(refused._tag, "InvalidInput", JSON.stringify(bad))
      }
      const note = yield* failure(dlq.resolve(letter.id, "fixed\u0000"))
      assert.strictEqual(note._tag, "InvalidInput")
      const filter = yield* failure(dlq.list({ errorType: "Boom\u0000" }))
      assert.strictEqual(filter._tag, "InvalidInput")
      assert.strictEqual((yield* dlq.summary()).total, 1)
      assert.isUndefined((yield* dlq.get(letter.id)).resolution)
    })
  ),
  Conformance.test(
    "replayMany stopped by a bad patch says where, what it did before, and why; that letter is unchanged",
    Effect.gen(function*() {
      const dlq = yield* queue({ maxPayloadBytes: 200 })
      const ids: Array<Ids.LetterId> = []
      for (let i = 1; i <= 4; i++) ids.push((yield* dlq.add(input({ taskId: `s${i}` }))).letter.id)
      const third = yield* dlq.get(ids[2]!)
      let patches = 0
      const stopped = yield* failure(
        dlq.replayMany({}, (_payload, letter) => letter.taskId === "s2" ? Effect.fail("no") : Effect.void, {
          ratePerSecond: 1_000,
          // The third patch inflates its payload past maxPayloadBytes.
          modify: (payload) => ++patches === 3 ? { big: "y".repeat(500) } : payload
        })
      )
      assert.strictEqual(stopped._tag, "ReplayManyStopped")
      if (stopped._tag === "ReplayManyStopped") {
        assert.strictEqual(stopped.letterId, ids[2])
        assert.deepStrictEqual(stopped.report, { succeeded: [ids[0]!], failed: [ids[1]!], skipped: [], claimLost: [] })
        assert.strictEqual(stopped.error._tag, "PayloadTooLarge")
        assert.include(stopped.message, `at dead letter "${ids[2]}" after 2 letters`)
      }
      assert.deepStrictEqual(yield* dlq.get(ids[2]!), third)
      assert.isUndefined((yield* dlq.get(ids[3]!)).resolution)
    }),
    { live: true }
  ),
  Conformance.test(
    "replayMany reports a letter whose claim was lost while its handler ran as claimLost, not as replayed",
    Effect.gen(function*() {
      const dlq = yield* queue({ claimTimeout: "300 millis" })
      const { letter } = yield* dlq.add(input({ taskId: "slow" }))
      const started = yield* Deferred.make<void>()
      const gate = yield* Deferred.make<void>()
      const run = yield* Effect.fork(
        dlq.replayMany({}, () => Effect.zipRight(Deferred.succeed(started, undefined), Deferred.await(gate)), {
          ratePerSecond: 10
        })
      )
      yield* Deferred.await(started)
      yield* Effect.sleep("500 millis")
      yield* dlq.resolve(letter.id, "fixed by hand")
      yield* Deferred.succeed(gate, undefined)
      const report = yield* Fiber.join(run)
      assert.deepStrictEqual(report, { succeeded: [], failed: [], skipped: [], claimLost: [letter.id] })
      assert.strictEqual((yield* dlq.get(letter.id)).resolution?.kind, "manual")
    }),
    { live: true, timeout: 10_000 }
  ),
  Conformance.test(
    "redaction applies to payload, context, error and a replay's result before anything is stored or alerted",
    Effect.gen(function*() {
      const dlq = yield* queue({ redact: Redaction.make() })
      const alerts = yield* dlq.subscribe
      const { letter } = yield* dlq.add(input({
        payload: { prompt: "use key sk-abcdefghijklmnopqrstuvwx please", headers: { Authorization: "Bearer abc.def" } },
        context: { api_key: "secret-value", user: "ann" }
      }))
      const expectedPayload = { prompt: "use key [REDACTED] please", headers: { Authorization: "[REDACTED]" } }
      assert.deepStrictEqual(letter.payload, expectedPayload)
      assert.deepStrictEqual(letter.context, { api_key: "[REDACTED]", user: "ann" })
      assert.deepStrictEqual((yield* dlq.get(letter.id)).payload, expectedPayload)
      assert.deepStrictEqual((yield* dlq.get(letter.id)).context, { api_key: "[REDACTED]", user: "ann" })
      const alerted = yield* Queue.take(alerts)
      assert.deepStrictEqual(alerted.payload, expectedPayload)
      // A patch is redacted too before it is stored, and so is a failed replay's error.
      const failed = yield* dlq.replay(
        letter.id,
        () => Effect.fail(new Error("401 for key sk-zyxwvutsrqponmlkjihgfe")),
        { modify: () => ({ token: "t0ps3cret" }) }
      )
      assert.strictEqual(failed._tag, "Failed")
      const afterReplay = yield* dlq.get(letter.id)
      assert.deepStrictEqual(afterReplay.payload, { token: "[REDACTED]" })
      assert.strictEqual(afterReplay.error.message, "401 for key [REDACTED]")
      assert.notInclude(afterReplay.error.stack ?? "", "sk-zyxwvutsrqponmlkjihgfe")
      // A successful replay's result is redacted before it is stored in the resolution;
      // the caller still gets the handler's own value.
      const secretResult = { session: { access_token: "tok-123" }, log: "called with sk-abcdefghijklmnopqrstuvwx" }
      const succeeded = yield* dlq.replay(letter.id, () => Effect.succeed(secretResult))
      assert.strictEqual(succeeded._tag, "Succeeded")
      if (succeeded._tag === "Succeeded") assert.strictEqual(succeeded.result, secretResult)
      const expectedResult = { session: { access_token: "[REDACTED]" }, log: "called with [REDACTED]" }
      assert.deepStrictEqual((yield* dlq.get(letter.id)).resolution?.result, expectedResult)
      secretResult.log = "changed"
      assert.deepStrictEqual((yield* dlq.get(letter.id)).resolution?.result, expectedResult)
      // The error given to add is redacted as well.
      const withKey = yield* dlq.add(input({
        taskId: "leaky",
        error: {
          tag: "Unauthorized",
          message: "bad key sk-abcdefghijklmnopqrstuvwx",
          stack: "at sk-abcdefghijklmnopqrstuvwx"
        }
      }))
      assert.deepStrictEqual((yield* dlq.get(withKey.letter.id)).error, {
        tag: "Unauthorized",
        message: "bad key [REDACTED]",
        stack: "at [REDACTED]"
      })
    })
  ),
  Conformance.test(
    "a redaction hook that fails on a replay's error or result withholds it, never stores it unredacted",
    Effect.gen(function*() {
      const dlq = yield* queue({
        redact: (value, field) => {
          if (field === "error" && JSON.stringify(value).includes("leak")) throw new Error("cannot redact errors")
          if (field === "result") throw new Error("cannot redact results")
          return value
        }
      })
      const { letter } = yield* dlq.add(input())
      const failed = yield* dlq.replay(letter.id, () => Effect.fail(new Error("leak sk-abcdefghijklmnopqrstuvwx")))
      assert.strictEqual(failed._tag, "Failed")
      const error = (yield* dlq.get(letter.id)).error
      assert.strictEqual(error.tag, "Error")
      assert.include(error.message, "withheld")
      assert.notInclude(JSON.stringify(error), "sk-abcdefghijklmnopqrstuvwx")
      const succeeded = yield* dlq.replay(letter.id, () => Effect.succeed({ token: "sk-abcdefghijklmnopqrstuvwx" }))
      assert.strictEqual(succeeded._tag, "Succeeded")
      const resolution = (yield* dlq.get(letter.id)).resolution
      assert.strictEqual(resolution?.result, undefined)
      assert.include(resolution?.note, "withheld: the redaction hook threw on the result")
    })
  ),
  Conformance.test(
    "alerts carry each new letter once, never a duplicate",
    Effect.gen(function*() {
      const dlq = yield* queue()
      const alerts = yield* dlq.subscribe
      const a = yield* dlq.add(input({ taskId: "a" }))
      yield* dlq.add(input({ taskId: "a" }))
      const b = yield* dlq.add(input({ taskId: "b" }))
      const got = yield* Queue.takeAll(alerts)
      assert.deepStrictEqual(Chunk.toReadonlyArray(got).map((l) => l.id), [a.letter.id, b.letter.id])
    })
  ),
  Conformance.test(
    "the DeadLetters port: send is idempotent and maps errors to DeadLetterRejected reasons",
    Effect.gen(function*() {
      const dlq = yield* queue({ maxLetters: 2, maxPayloadBytes: 100 })
      const port = yield* Effect.provide(
        DeadLetters.DeadLetters,
        Layer.provide(DeadLetterQueue.layerPort, Layer.succeed(DeadLetterQueue.DeadLetterQueue, dlq))
      )
      const letter: DeadLetters.DeadLetterInput = {
        source: "supervisor",
        taskType: "search",
        taskId: Ids.TaskId.make("task-9"),
        attempt: 3,
        attempts: 3,
        payload: { q: 1 },
        error: { tag: "Timeout", message: "slow" },
        firstAttemptAt: 1,
        lastAttemptAt: 2
      }
      const first = yield* port.send(letter)
      assert.isFalse(first.duplicate)
      const again = yield* port.send(letter)
      assert.deepStrictEqual(again, { letterId: first.letterId, duplicate: true })
      const stored = yield* dlq.get(first.letterId)
      assert.strictEqual(stored.source, "supervisor")
      assert.strictEqual(stored.dedupeKey, DeadLetters.dedupeKey(letter))
      const reason = (effect: Effect.Effect<unknown, DeadLetters.DeadLetterRejected>) =>
        Effect.map(failure(effect), (error) => error.reason)
      const { taskId: _, ...withoutTask } = letter
      assert.strictEqual(yield* reason(port.send(withoutTask as DeadLetters.DeadLetterInput)), "invalid")
      assert.strictEqual(
        yield* reason(port.send({ ...letter, attempt: 4, payload: { text: "z".repeat(200) } })),
        "payload-too-large"
      )
      yield* port.send({ ...letter, attempt: 5 })
      assert.strictEqual(yield* reason(port.send({ ...letter, attempt: 6 })), "queue-full")
    })
  )
]

/**
 * The names of the cases that judge a claim's expiry by Effect's `Clock`
 * (they move it with `TestClock`).
 *
 * @since 0.2.0
 * @category suites
 */
export const effectClockCases: ReadonlySet<string> = new Set(
  suite.filter((c) => c.skip?.includes("postgres") === true).map((c) => c.name)
)

/**
 * The suite for a layer: `claimClock: "effect"` (the default) runs every
 * case; `"store"`, for a layer whose claims are judged by its store's own
 * clock (a database, a Redis), leaves out the cases that move Effect's
 * `Clock` past a claim's expiry.
 *
 * @since 0.2.0
 * @category suites
 */
export const suiteFor = (options: { readonly claimClock?: "effect" | "store" } = {}): Conformance.Suite<Harness> =>
  options.claimClock === "store" ? suite.filter((c) => !effectClockCases.has(c.name)) : suite
