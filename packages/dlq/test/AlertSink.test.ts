import * as NodeHttpClient from "@effect/platform-node/NodeHttpClient"
import { assert, describe, it } from "@effect/vitest"
import * as Chunk from "effect/Chunk"
import * as Context from "effect/Context"
import * as Deferred from "effect/Deferred"
import * as Effect from "effect/Effect"
import * as Fiber from "effect/Fiber"
import * as Layer from "effect/Layer"
import * as Logger from "effect/Logger"
import * as Option from "effect/Option"
import * as Stream from "effect/Stream"
import * as TestClock from "effect/TestClock"
import * as Http from "node:http"
import type { AddressInfo } from "node:net"
import * as AlertSink from "../src/AlertSink.js"
import * as DeadLetterQueue from "../src/DeadLetterQueue.js"
import type { Letter } from "../src/Letter.js"
import * as Redaction from "../src/Redaction.js"
import { input } from "../src/Testing.js"

const queueWith = (sink: Layer.Layer<AlertSink.AlertSink>, options?: DeadLetterQueue.Options) =>
  Layer.build(Layer.provide(DeadLetterQueue.layerMemory(options), sink)).pipe(
    Effect.map((context) => Context.get(context, DeadLetterQueue.DeadLetterQueue))
  )

/** A logger that keeps the lines it is given. */
const captureLogs = () => {
  const logs: Array<string> = []
  const logger = Logger.make(({ message }) => {
    logs.push(String(Array.isArray(message) ? message.join(" ") : message))
  })
  return { logger, logs }
}

/**
 * Opens a queue on `sink`, adds letter "a", waits until the sink holds it
 * (`busy`), adds "b" and "c", then closes the queue.
 */
const addWhileSinkBusy = (
  sink: Layer.Layer<AlertSink.AlertSink>,
  busy: Deferred.Deferred<void>,
  logger: Logger.Logger<unknown, void>
) =>
  Effect.scoped(Effect.gen(function*() {
    const dlq = yield* queueWith(sink)
    yield* dlq.add(input({ taskId: "a" }))
    yield* Deferred.await(busy)
    yield* dlq.add(input({ taskId: "b" }))
    yield* dlq.add(input({ taskId: "c" }))
  })).pipe(Effect.provide(Logger.replace(Logger.defaultLogger, logger)))

interface Received {
  readonly headers: Http.IncomingHttpHeaders
  readonly body: unknown
}

/** A local HTTP server on an ephemeral port, closed with the scope. */
const server = (status: (n: number) => number) =>
  Effect.acquireRelease(
    Effect.async<{ url: string; received: Array<Received>; srv: Http.Server }>((resume) => {
      const received: Array<Received> = []
      const srv = Http.createServer((req, res) => {
        let body = ""
        req.on("data", (chunk) => (body += chunk))
        req.on("end", () => {
          received.push({ headers: req.headers, body: JSON.parse(body) })
          res.statusCode = status(received.length)
          res.end()
        })
      })
      srv.listen(0, "127.0.0.1", () => {
        const port = (srv.address() as AddressInfo).port
        resume(Effect.succeed({ url: `http://127.0.0.1:${port}/alerts`, received, srv }))
      })
    }),
    ({ srv }) =>
      Effect.async<void>((resume) => {
        srv.close(() => resume(Effect.void))
      })
  )

describe("AlertSink", () => {
  it.scoped("a user's sink gets every new letter (redacted), never a duplicate", () =>
    Effect.gen(function*() {
      const seen: Array<Letter> = []
      const two = yield* Deferred.make<void>()
      const sink = Layer.succeed(AlertSink.AlertSink, {
        alert: (letter) =>
          Effect.sync(() => {
            seen.push(letter)
            if (seen.length === 2) Deferred.unsafeDone(two, Effect.void)
          })
      })
      const dlq = yield* queueWith(sink, { redact: Redaction.make() })
      yield* dlq.add(input({ taskId: "a", context: { password: "hunter2" } }))
      yield* dlq.add(input({ taskId: "a" }))
      yield* dlq.add(input({ taskId: "b" }))
      yield* Deferred.await(two)
      assert.deepStrictEqual(seen.map((l) => l.taskId as string), ["a", "b"])
      assert.deepStrictEqual(seen[0]!.context, { password: "[REDACTED]" })
    }))

  it.scoped("a burst of letters reaches the sink whole and in order", () =>
    Effect.gen(function*() {
      const seen: Array<string> = []
      const all = yield* Deferred.make<void>()
      const sink = Layer.succeed(AlertSink.AlertSink, {
        alert: (letter) =>
          Effect.sync(() => {
            seen.push(letter.taskId as string)
            if (seen.length === 200) Deferred.unsafeDone(all, Effect.void)
          })
      })
      const dlq = yield* queueWith(sink)
      const ids = Array.from({ length: 200 }, (_, i) => `burst-${i}`)
      yield* Effect.forEach(ids, (taskId) => dlq.add(input({ taskId })), { discard: true })
      yield* Deferred.await(all)
      assert.deepStrictEqual(seen, ids)
    }))

  it.scoped("the alerts Stream carries new letters in order, never a duplicate", () =>
    Effect.gen(function*() {
      const dlq = yield* queueWith(Layer.succeed(AlertSink.AlertSink, { alert: () => Effect.void }))
      const fiber = yield* Effect.fork(Stream.runCollect(Stream.take(dlq.alerts, 3)))
      // The stream subscribes when its fiber starts: add until it has three.
      let i = 0
      while ((yield* Fiber.poll(fiber))._tag === "None") {
        i++
        yield* dlq.add(input({ taskId: `s${i}` }))
        yield* dlq.add(input({ taskId: `s${i}` })) // a duplicate: never alerted
        yield* Effect.yieldNow()
      }
      const got = Chunk.toReadonlyArray(yield* Fiber.join(fiber)).map((l) => Number(l.taskId!.slice(1)))
      assert.strictEqual(got.length, 3)
      assert.deepStrictEqual(got, [got[0]!, got[0]! + 1, got[0]! + 2])
    }))

  it.scoped("a failing sink never fails add; the failure is logged", () =>
    Effect.gen(function*() {
      const logged = yield* Deferred.make<string>()
      const logger = Logger.make(({ cause, message }) => {
        const text = `${String(message)} ${JSON.stringify(cause)}`
        if (text.includes("alert failed")) Deferred.unsafeDone(logged, Effect.succeed(text))
      })
      const sink = Layer.succeed(AlertSink.AlertSink, {
        alert: (letter) => Effect.fail(new AlertSink.AlertFailed({ letterId: letter.id, message: "sink down" }))
      })
      const dlq = yield* queueWith(sink).pipe(Effect.provide(Logger.replace(Logger.defaultLogger, logger)))
      const added = yield* dlq.add(input())
      assert.isFalse(added.duplicate)
      assert.include(yield* Deferred.await(logged), "alert failed")
      assert.strictEqual((yield* dlq.summary()).total, 1)
    }))

  it.effect("closing the queue delivers the alerts still waiting; one cut short is delivered again", () =>
    Effect.gen(function*() {
      const { logger, logs } = captureLogs()
      const busy = yield* Deferred.make<void>()
      const delivered: Array<string> = []
      let calls = 0
      const sink = Layer.succeed(AlertSink.AlertSink, {
        // The first call hangs until the queue closes (and interrupts it).
        alert: (letter) =>
          ++calls === 1
            ? Effect.zipRight(Deferred.succeed(busy, undefined), Effect.never)
            : Effect.sync(() => void delivered.push(letter.taskId!))
      })
      yield* addWhileSinkBusy(sink, busy, logger)
      assert.deepStrictEqual(delivered, ["a", "b", "c"])
      assert.isFalse(logs.some((line) => line.includes("not delivered")), logs.join("\n"))
    }))

  it.effect("a sink that does not finish at close gets 5 seconds; the alerts left are said in a log line", () =>
    Effect.gen(function*() {
      const { logger, logs } = captureLogs()
      const busy = yield* Deferred.make<void>()
      const sink = Layer.succeed(AlertSink.AlertSink, {
        alert: () => Effect.zipRight(Deferred.succeed(busy, undefined), Effect.never)
      })
      const closing = yield* Effect.fork(
        addWhileSinkBusy(sink, busy, logger)
      )
      yield* Deferred.await(busy)
      // Nothing closes before the test clock has moved 5 seconds.
      for (let second = 1; second <= 4; second++) {
        yield* TestClock.adjust("1 second")
        assert.isTrue(Option.isNone(yield* Fiber.poll(closing)), `closed after ${second} s`)
      }
      // The close's 5 seconds start once it is under way: move on until it ends.
      for (let second = 5; second <= 30 && Option.isNone(yield* Fiber.poll(closing)); second++) {
        yield* TestClock.adjust("1 second")
        yield* Effect.promise(() => new Promise((resolve) => setImmediate(resolve)))
      }
      yield* Fiber.join(closing)
      assert.isTrue(
        logs.some((line) => line.includes("3 of 3 waiting alerts were not delivered to the sink within 5s")),
        logs.join("\n")
      )
    }))

  it.scoped("the default sink logs a warning line per new letter", () =>
    Effect.gen(function*() {
      const logged = yield* Deferred.make<string>()
      const logger = Logger.make(({ message }) => {
        const text = String(Array.isArray(message) ? message.join(" ") : message)
        if (text.startsWith("dead letter ")) Deferred.unsafeDone(logged, Effect.succeed(text))
      })
      const dlq = yield* Layer.build(DeadLetterQueue.layerMemory()).pipe(
        Effect.map((context) => Context.get(context, DeadLetterQueue.DeadLetterQueue)),
        Effect.provide(Logger.replace(Logger.defaultLogger, logger))
      )
      const { letter } = yield* dlq.add(input())
      assert.strictEqual(
        yield* Deferred.await(logged),
        `dead letter ${letter.id}: search failed after 3 attempts: Timeout: the search took too long`
      )
    }))

  it.scopedLive("the webhook sink POSTs each new letter as JSON to a local server", () =>
    Effect.gen(function*() {
      const srv = yield* server(() => 204)
      const sink = AlertSink.layerWebhook({ url: srv.url, headers: { "x-team": "agents" } }).pipe(
        Layer.provide(NodeHttpClient.layerUndici)
      )
      const dlq = yield* queueWith(sink)
      const { letter } = yield* dlq.add(input())
      while (srv.received.length === 0) yield* Effect.sleep("10 millis")
      assert.strictEqual(srv.received.length, 1)
      const got = srv.received[0]!
      assert.strictEqual(got.headers["x-team"], "agents")
      assert.include(String(got.headers["content-type"]), "application/json")
      const body = got.body as { type: string; letter: { id: string; payload: unknown } }
      assert.strictEqual(body.type, "dead_letter")
      assert.strictEqual(body.letter.id, letter.id)
      assert.deepStrictEqual(body.letter.payload, input().payload)
    }))

  it.scopedLive("a webhook answering 500 is retried, then an AlertFailed", () =>
    Effect.gen(function*() {
      const srv = yield* server(() => 500)
      const sink = yield* Layer.build(
        AlertSink.layerWebhook({ url: srv.url, retries: 2 }).pipe(Layer.provide(NodeHttpClient.layerUndici))
      ).pipe(Effect.map((context) => Context.get(context, AlertSink.AlertSink)))
      const { letter } = yield* Effect.scoped(
        Effect.flatMap(queueWith(Layer.succeed(AlertSink.AlertSink, AlertSink.log)), (dlq) => dlq.add(input()))
      )
      const error = yield* Effect.flip(sink.alert(letter))
      assert.strictEqual(error._tag, "AlertFailed")
      assert.include(error.message, "answered 500")
      assert.strictEqual(srv.received.length, 3)
    }), { timeout: 10_000 })
})
