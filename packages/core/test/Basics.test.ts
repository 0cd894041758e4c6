import { assert, describe, it } from "@effect/vitest"
import * as Cause from "effect/Cause"
import * as Data from "effect/Data"
import * as Effect from "effect/Effect"
import * as Logger from "effect/Logger"
import * as Schema from "effect/Schema"
import * as TestClock from "effect/TestClock"
import * as AdmissionPolicy from "../src/AdmissionPolicy.js"
import * as Complexity from "../src/Complexity.js"
import * as DeadLetters from "../src/DeadLetters.js"
import * as Failure from "../src/Failure.js"
import * as IdGenerator from "../src/IdGenerator.js"
import * as Ids from "../src/Ids.js"
import * as Json from "../src/Json.js"
import * as TokenUsage from "../src/TokenUsage.js"

describe("Ids", () => {
  it("brands validate", () => {
    assert.strictEqual(Ids.AgentId.make("alice"), "alice")
    assert.throws(() => Ids.TaskId.make(""))
    assert.throws(() => Ids.TaskId.make(" padded "))
    assert.throws(() => Schema.decodeUnknownSync(Ids.WorkflowId)("x".repeat(257)))
    assert.throws(() => Schema.decodeUnknownSync(Ids.WorkflowId)("w\u0000"), /an id cannot hold a NUL character/)
    assert.throws(() => Schema.decodeUnknownSync(Ids.TaskId)("t\ud83d"), /lone surrogate/)
    assert.strictEqual(Ids.AgentId.make("agent 👋"), "agent 👋")
  })
})

describe("IdGenerator", () => {
  it.effect("the sequential layer is deterministic for tests", () =>
    Effect.gen(function*() {
      const a = yield* IdGenerator.make(Ids.TaskId)
      const b = yield* IdGenerator.make(Ids.TaskId)
      assert.deepStrictEqual([a, b], ["task-000001", "task-000002"])
    }).pipe(Effect.provide(IdGenerator.layerSequential("task"))))

  it.effect("the default layer makes unique ids that sort by Clock time", () =>
    Effect.gen(function*() {
      const ids: Array<string> = []
      for (let i = 0; i < 50; i++) {
        ids.push(yield* IdGenerator.make(Ids.LetterId))
        yield* TestClock.adjust("1 millis")
      }
      assert.strictEqual(new Set(ids).size, 50)
      assert.deepStrictEqual([...ids].sort(), ids)
      assert.match(ids[0]!, /^[0-9A-HJKMNP-TV-Z]{26}$/)
      // Under a clock that stands still, ids still sort in creation order.
      const burst = yield* Effect.all(Array.from({ length: 1000 }, () => IdGenerator.make(Ids.TaskId)))
      assert.strictEqual(new Set(burst).size, 1000)
      assert.deepStrictEqual([...burst].sort(), burst)
      // And when the clock steps back.
      yield* TestClock.setTime(0)
      const after = yield* IdGenerator.make(Ids.TaskId)
      assert.isTrue(after > burst[burst.length - 1]!)
    }).pipe(Effect.provide(IdGenerator.layer)))

  it.effect("ids made by concurrent fibers across milliseconds are unique", () =>
    Effect.gen(function*() {
      const ids = yield* Effect.all(
        Array.from({ length: 2000 }, (_, i) =>
          Effect.zipRight(
            i % 100 === 0 ? TestClock.adjust("1 millis") : Effect.void,
            IdGenerator.make(Ids.TaskId)
          )),
        { concurrency: "unbounded" }
      )
      assert.strictEqual(new Set(ids).size, 2000)
    }).pipe(Effect.provide(IdGenerator.layer)))
})

describe("Complexity", () => {
  it("orders levels and matches capabilities", () => {
    assert.deepStrictEqual(Complexity.levels, ["trivial", "simple", "moderate", "complex", "expert"])
    assert.isTrue(Complexity.canHandle("complex", "moderate"))
    assert.isFalse(Complexity.canHandle("simple", "expert"))
    assert.strictEqual(Complexity.Order("expert", "trivial"), 1)
  })
})

describe("Json", () => {
  it("accepts JSON and rejects what JSON cannot hold", () => {
    const decode = Schema.decodeUnknownEither(Json.JsonValue)
    assert.isTrue(decode({ a: [1, "x", null, { b: true }] })._tag === "Right")
    assert.isTrue(decode({ a: Number.NaN })._tag === "Left")
    assert.isTrue(decode({ a: undefined })._tag === "Left")
    assert.isTrue(decode(new Date())._tag === "Left")
    assert.throws(
      () => Schema.decodeUnknownSync(Json.JsonValue)({ a: [1, { b: Infinity }] }),
      /\$\.a\[1\]\.b: Infinity/
    )
    assert.throws(() => Schema.decodeUnknownSync(Json.JsonObject)([1]), /expected a JSON object/)
  })

  it("refuses strings and keys Postgres cannot store: a NUL character or a lone surrogate", () => {
    assert.strictEqual(
      Json.findInvalid({ a: ["ok", "x\u0000y"] }),
      "$.a[1]: the string holds a NUL character (U+0000), which Postgres cannot store"
    )
    assert.match(Json.findInvalid({ "k\u0000": 1 })!, /^\$: the key "k\\u0000" holds a NUL character/)
    assert.match(Json.findInvalid({ a: "\ud83d" })!, /lone surrogate \(U\+D83D\)/)
    assert.match(Json.findInvalid({ a: "x\udc00" })!, /lone surrogate \(U\+DC00\)/)
    assert.match(Json.findInvalid({ a: "\udc00\ud83d" })!, /lone surrogate \(U\+DC00\)/)
    // A surrogate pair (an emoji) and ordinary text are fine.
    assert.isUndefined(Json.findInvalid({ a: "héllo 👋", "👋": ["\u0001"] }))
    assert.isUndefined(Json.textIssue("plain"))
    assert.strictEqual(Json.textIssue("\u0000"), "a NUL character (U+0000)")
  })

  it("measures UTF-8 bytes", () => {
    assert.strictEqual(Json.utf8Length("héllo 👋"), Buffer.byteLength("héllo 👋", "utf8"))
    assert.strictEqual(Json.byteLength({ k: "é" }), Buffer.byteLength(JSON.stringify({ k: "é" })))
  })
})

class Boom extends Data.TaggedError("Boom")<{ readonly message: string }> {}

describe("Failure", () => {
  it("describes failures, defects and interruptions", () => {
    assert.deepInclude(Failure.fromCause(Cause.fail(new Boom({ message: "bad" }))), { tag: "Boom", message: "bad" })
    assert.deepInclude(Failure.fromCause(Cause.die(new TypeError("oops"))), { tag: "TypeError", message: "oops" })
    assert.deepStrictEqual(Failure.fromCause(Cause.fail("plain")), { tag: "Unknown", message: "plain" })
    assert.isTrue(Failure.fromCause(Cause.interrupt("fiber" as never)).interrupted)
    assert.isString(Failure.fromCause(Cause.die(new Error("x"))).stack)
  })

  it("writes a NUL character or a lone surrogate as a visible escape, so every store can keep the failure", () => {
    const error = new Error("bad\u0000byte \ud83d and 👋")
    error.name = "Tag\u0000"
    const info = Failure.fromUnknown(error)
    assert.strictEqual(info.tag, "Tag\\u0000")
    assert.strictEqual(info.message, "bad\\u0000byte \\uD83D and 👋")
    assert.isUndefined(Json.findInvalid(info))
    assert.deepStrictEqual(Failure.fromCause(Cause.fail("x\udc00")), { tag: "Unknown", message: "x\\uDC00" })
    // A stack cut at its limit inside a surrogate pair keeps no lone half.
    const long = new Error("long")
    long.stack = "s".repeat(8_191) + "👋"
    assert.strictEqual(Failure.fromUnknown(long).stack, "s".repeat(8_191) + "\\uD83D")
    const plain = { tag: "Boom", message: "fine" }
    assert.strictEqual(Failure.storable(plain), plain)
  })
})

describe("DeadLetters port", () => {
  const base = {
    source: "supervisor",
    taskType: "search",
    attempt: 3,
    attempts: 3,
    payload: { q: "x" },
    error: { tag: "Boom", message: "bad" },
    firstAttemptAt: 1,
    lastAttemptAt: 2
  }

  it("requires a task id or a workflow reference", () => {
    assert.throws(() => Schema.decodeUnknownSync(DeadLetters.DeadLetterInput)(base), /taskId or a workflow/)
    assert.throws(
      () => Schema.decodeUnknownSync(DeadLetters.DeadLetterInput)({ ...base, taskId: "t1", lastAttemptAt: 0 }),
      /before firstAttemptAt/
    )
  })

  it("keys idempotency by task or workflow id and attempt", () => {
    const task = Schema.decodeUnknownSync(DeadLetters.DeadLetterInput)({ ...base, taskId: "t1" })
    const workflow = Schema.decodeUnknownSync(DeadLetters.DeadLetterInput)({
      ...base,
      workflow: { id: "w1", name: "research" }
    })
    assert.strictEqual(DeadLetters.dedupeKey(task), "task:t1:3")
    assert.strictEqual(DeadLetters.dedupeKey(workflow), "workflow:w1:3")
  })

  it("refuses names Postgres cannot store", () => {
    const decode = Schema.decodeUnknownEither(DeadLetters.DeadLetterInput)
    assert.strictEqual(decode({ ...base, taskId: "t1", taskType: "se\u0000arch" })._tag, "Left")
    assert.strictEqual(decode({ ...base, taskId: "t1", source: "\udc00" })._tag, "Left")
    assert.strictEqual(decode({ ...base, workflow: { id: "w1", name: "re\u0000search" } })._tag, "Left")
    assert.strictEqual(decode({ ...base, taskId: "t1", taskType: "" })._tag, "Left")
    assert.strictEqual(decode({ ...base, taskId: "t1" })._tag, "Right")
  })
})

describe("AdmissionPolicy.all", () => {
  const request = { taskId: Ids.TaskId.make("t1"), taskType: "search", estimatedTokens: 100 }

  // A policy that records what happens to its grants, numbering them.
  const recording = (name: string, events: Array<string>): AdmissionPolicy.AdmissionPolicyService => {
    let next = 0
    return {
      admit: () =>
        Effect.sync(() => {
          const id = `${name}-${++next}`
          events.push(`${id}:admit`)
          return { id }
        }),
      commit: (id, usage) => Effect.sync(() => void events.push(`${id}:commit:${TokenUsage.total(usage)}`)),
      release: (id) => Effect.sync(() => void events.push(`${id}:release`))
    }
  }

  it.effect("releases earlier grants when a later policy rejects", () =>
    Effect.gen(function*() {
      const events: Array<string> = []
      const rejecting: AdmissionPolicy.AdmissionPolicyService = {
        ...AdmissionPolicy.allowAll,
        admit: () =>
          new AdmissionPolicy.AdmissionRejected({
            policy: "budget",
            reason: "exhausted",
            scope: "team",
            retryAfterMillis: 500
          })
      }
      const error = yield* Effect.flip(
        AdmissionPolicy.all([recording("a", events), rejecting, recording("c", events)]).admit(request)
      )
      assert.strictEqual(error.retryAfterMillis, 500)
      assert.strictEqual(error.message, "budget rejected the task (team): exhausted")
      assert.deepStrictEqual(events, ["a-1:admit", "a-1:release"])
    }))

  it.effect("a combined grant is a serialisable id that settles every part by id, from a fresh combination", () =>
    Effect.gen(function*() {
      const events: Array<string> = []
      const a = recording("a", events)
      const b = recording("b", events)
      const grant = yield* AdmissionPolicy.all([a, b]).admit(request)
      // The id survives a round trip through JSON, as a shared queue stores it.
      const stored = Schema.decodeUnknownSync(AdmissionPolicy.AdmissionGrant)(JSON.parse(JSON.stringify(grant)))
      // Another process builds the same combination and settles by id.
      yield* AdmissionPolicy.all([a, b]).commit(stored.id, TokenUsage.make({ inputTokens: 3, outputTokens: 4 }))
      assert.deepStrictEqual(events, ["a-1:admit", "b-1:admit", "a-1:commit:7", "b-1:commit:7"])

      events.length = 0
      const second = yield* AdmissionPolicy.all([a, b]).admit(request)
      yield* AdmissionPolicy.all([a, b]).release(second.id)
      assert.deepStrictEqual(events, ["a-2:admit", "b-2:admit", "a-2:release", "b-2:release"])
    }))

  it.effect("refuses an id that is not one of its grants", () =>
    Effect.gen(function*() {
      const events: Array<string> = []
      const combined = AdmissionPolicy.all([recording("a", events), recording("b", events)])
      const notJson = yield* Effect.flip(combined.release("a-1"))
      assert.strictEqual(notJson._tag, "AdmissionSettleError")
      const wrongArity = yield* Effect.flip(combined.commit(JSON.stringify(["a-1"]), TokenUsage.empty))
      assert.match(wrongArity.message, /not the id of a grant of these 2 policies/)
      assert.deepStrictEqual(events, [])
    }))

  it.effect("settles every part even when one fails, and reports the failure", () =>
    Effect.gen(function*() {
      const released: Array<string> = []
      const failing: AdmissionPolicy.AdmissionPolicyService = {
        admit: () => Effect.succeed({ id: "f" }),
        commit: () => Effect.void,
        release: () => new AdmissionPolicy.AdmissionSettleError({ policy: "budget", message: "store down" })
      }
      const counting: AdmissionPolicy.AdmissionPolicyService = {
        admit: () => Effect.succeed({ id: "c" }),
        commit: () => Effect.void,
        release: (id) => Effect.sync(() => void released.push(id))
      }
      const grant = yield* AdmissionPolicy.all([failing, counting]).admit(request)
      const error = yield* Effect.flip(AdmissionPolicy.all([failing, counting]).release(grant.id))
      assert.strictEqual(error.message, "store down")
      assert.deepStrictEqual(released, ["c"])
    }))
})

describe("AdmissionPolicy.unavailable", () => {
  it.effect("fails with AdmissionUnavailable carrying only the reason; the cause is logged", () =>
    Effect.gen(function*() {
      const lines: Array<string> = []
      const capture = Logger.make(({ message }) => {
        lines.push(String(Array.isArray(message) ? message.join(" ") : message))
      })
      const error = yield* Effect.flip(
        AdmissionPolicy.unavailable({
          policy: "p",
          reason: "the store is unavailable",
          cause: new Error("connect ECONNREFUSED 10.1.2.3:5432")
        }).pipe(Effect.provide(Logger.replace(Logger.defaultLogger, capture)))
      )
      assert.strictEqual(error._tag, "AdmissionUnavailable")
      assert.strictEqual(error.message, "p could not decide on the task: the store is unavailable")
      assert.strictEqual(error.retryAfterMillis, 1_000)
      assert.deepStrictEqual(lines, ["p: connect ECONNREFUSED 10.1.2.3:5432"])
    }))
})
