// A poison task: a research task whose deliveries were lost to runners that
// died `maxDeliveries` times is ended by the supervisor without running. Its
// workflow, left `running` by the runner that died, must not stay running:
// the instance that ends the task marks it failed with the cause stored and
// writes its dead letter, and the workflow can be retried from the API.
//
// In process, on SQLite and Postgres: a first instance starts the workflow
// (its model calls never answer) and is stopped, handing the task back; a
// runner that dies is played on the task queue itself — three claims whose
// leases expire unrenewed, each reclaimed as a lost delivery — and a second
// instance then claims the poisoned task. In the second test the instance
// that ends the poisoned task dies before it marks the workflow (its end is
// played on the queue): the poison sweep of two instances marks it, once.
import { TaskQueue } from "@agentos/supervisor"
import type { SqlClient } from "@effect/sql"
import { assert, describe, it } from "@effect/vitest"
import { Duration, Effect, Layer, Logger, LogLevel, Option } from "effect"
import { client, config, eventually, sharedBackends, sharedDatabase, start } from "./harness.js"

const quiet = <A, E, R>(effect: Effect.Effect<A, E, R>) => Logger.withMinimumLogLevel(effect, LogLevel.None)

/** The supervisor's default `maxDeliveries` (the demo does not change it). */
const MAX_DELIVERIES = 3

/**
 * A workflow left `running`, its task back in the queue with `MAX_DELIVERIES` deliveries lost to
 * runners that died: the next claim of the task finds it poisoned. Returns the task's (and the
 * workflow's) id.
 */
const leftRunning = (database: () => Layer.Layer<SqlClient.SqlClient, unknown>, options: {
  /** Left running by a retry (a task of its own) rather than by its first task. */
  readonly byRetry?: boolean
  /** How many runners die running it (default `MAX_DELIVERIES`: the task is poisoned). */
  readonly deadRunners?: number
} = {}) =>
  Effect.gen(function*() {
    // 1. A workflow starts and is left `running`: its first model call never answers, and
    //    the stop hands its task back to the queue (no failure, no lost delivery).
    const ids = yield* Effect.scoped(Effect.gen(function*() {
      const { base } = yield* start(
        config({ simLatency: Duration.hours(1), drainTimeout: Duration.zero }),
        database()
      )
      const http = client(base)
      const started = yield* http.request("POST", "/workflows", { body: { topic: "poison", agent: "lead" } })
      assert.strictEqual(started.status, 202, started.text)
      const id: string = started.body.id
      const running = (run: number) =>
        eventually(Effect.map(
          http.request("GET", `/workflows/${id}`),
          (r) => r.status === 200 && r.body.status === "running" && r.body.run === run ? true : undefined
        ))
      yield* running(1)
      if (!options.byRetry) return { workflowId: id, taskId: id }
      // Cancelled, then retried: the retry is the task that runs it now.
      const cancelled = yield* http.request("POST", `/workflows/${id}/cancel`)
      assert.strictEqual(cancelled.status, 200, cancelled.text)
      yield* eventually(Effect.map(
        http.request("GET", `/workflows/${id}`),
        (r) => r.body?.status === "cancelled" ? true : undefined
      ))
      const retried = yield* http.request("POST", `/workflows/${id}/retry`)
      assert.strictEqual(retried.status, 202, retried.text)
      yield* running(2)
      return { workflowId: id, taskId: retried.body.id as string }
    }))
    const id = ids.taskId

    // 2. Runners that die: each claims the task and never renews its lease; the reclaim
    //    counts a lost delivery. The last one turns the task into a poison task.
    yield* Effect.gen(function*() {
      const queue = yield* TaskQueue.TaskQueue
      const before = yield* queue.status(id)
      assert.isTrue(Option.isSome(before))
      assert.strictEqual(Option.getOrThrow(before).status, "queued")
      assert.strictEqual(Option.getOrThrow(before).lostDeliveries, 0)
      const deadRunners = options.deadRunners ?? MAX_DELIVERIES
      for (let i = 1; i <= deadRunners; i++) {
        const claim = yield* queue.claim("research", { limits: {}, holder: `dead-runner-${i}`, leaseMillis: 1 })
        assert.isTrue(Option.isSome(claim), `claim ${i}`)
        assert.strictEqual(Option.getOrThrow(claim).record.id, id)
        yield* eventually(Effect.map(
          Effect.orDie(queue.reclaim({ maxDeliveries: MAX_DELIVERIES })),
          (r) => r.requeued + r.poisoned > 0 ? true : undefined
        ))
      }
      const after = Option.getOrThrow(yield* queue.status(id))
      assert.strictEqual(after.status, "queued")
      assert.strictEqual(after.lostDeliveries, deadRunners)
      // The workflow is still `running`, with nobody to run it.
    }).pipe(Effect.provide(queueOver(database)))
    return ids
  })

const queueOver = (database: () => Layer.Layer<SqlClient.SqlClient, unknown>) =>
  TaskQueue.layerSql({ notifications: false }).pipe(Layer.provide(database()))

describe("demo service: a poison task", () => {
  it.live.each(sharedBackends)(
    "its workflow ends failed with its cause and a dead letter, and can be retried (%s)",
    (backend) =>
      Effect.gen(function*() {
        const database = yield* sharedDatabase(backend)

        const { workflowId: id } = yield* leftRunning(database)

        // 3. The next instance claims the poison task and ends it without running it.
        const { base } = yield* start(config(), database())
        const http = client(base)
        const task = yield* eventually(Effect.map(
          http.request("GET", `/tasks/${id}`),
          (r) => r.body?.status === "accepted" ? undefined : r.body
        ))
        assert.strictEqual(task.status, "failed", JSON.stringify(task))
        assert.match(task.error, /^TaskPoisoned: /)

        const workflow = yield* eventually(Effect.map(
          http.request("GET", `/workflows/${id}`),
          (r) => r.body?.status === "running" ? undefined : r.body
        ))
        assert.strictEqual(workflow.status, "failed", JSON.stringify(workflow))
        assert.strictEqual(workflow.failure.step, "gather-requirements")
        assert.strictEqual(workflow.failure.error.tag, "TaskPoisoned")
        assert.match(workflow.failure.error.message, new RegExp(`${MAX_DELIVERIES} of its \\d+ deliveries were lost`))

        const letters = (yield* http.request("GET", "/dead-letters")).body.letters as Array<any>
        const mine = letters.filter((l) => l.workflow?.id === id)
        assert.strictEqual(mine.length, 1, JSON.stringify(letters))
        assert.strictEqual(mine[0].error.tag, "TaskPoisoned")
        assert.strictEqual(mine[0].taskId, id)
        assert.strictEqual(mine[0].context.cause, "lost-deliveries")
        assert.strictEqual(mine[0].context.lostDeliveries, MAX_DELIVERIES)

        // 4. Retried from the API, it runs again from its failed step and completes.
        const retried = yield* http.request("POST", `/workflows/${id}/retry`)
        assert.strictEqual(retried.status, 202, retried.text)
        const done = yield* eventually(Effect.map(
          http.request("GET", `/workflows/${id}`),
          (r) => r.body?.status === "completed" ? r.body : undefined
        ))
        assert.deepStrictEqual(done.steps.map((s: any) => s.status), [
          "completed",
          "completed",
          "completed",
          "completed"
        ])
      }).pipe(Effect.scoped, quiet),
    { timeout: 60_000 }
  )

  it.live.each(sharedBackends.flatMap((backend) => [{ backend, by: "first" }, { backend, by: "retry" }]))(
    "the instance that ended it died before marking its workflow: the sweep of two instances marks it once " +
      "($backend, left running by its $by task)",
    ({ backend, by }) =>
      Effect.gen(function*() {
        const database = yield* sharedDatabase(backend)
        const { taskId: id, workflowId } = yield* leftRunning(database, { byRetry: by === "retry" })
        // 3. An instance claims the poison task and records its end, then dies before it marks
        //    the workflow: the end is in the queue, the workflow is still `running`, no letter.
        yield* endedByADyingInstance(database, id, (claim) => {
          assert.isTrue(claim.poisoned)
          return {
            _tag: "TaskPoisoned",
            taskId: id,
            deliveries: claim.deliveries,
            lostDeliveries: claim.lostDeliveries,
            failures: claim.failures
          }
        })
        yield* sweptOnce(database, id, workflowId, {
          tag: "TaskPoisoned",
          message: new RegExp(`${MAX_DELIVERIES} of its \\d+ deliveries were lost`),
          cause: "lost-deliveries",
          // The poison task's handler never ran: the marking counts its failure.
          failuresCounted: 1
        })
      }).pipe(Effect.scoped, quiet),
    { timeout: 60_000 }
  )

  it.live.each(sharedBackends)(
    "a task that failed outside its workflow's steps (its store unreachable too long): the sweep marks the " +
      "workflow failed with the task's error, once (%s)",
    (backend) =>
      Effect.gen(function*() {
        const database = yield* sharedDatabase(backend)
        const { taskId: id, workflowId } = yield* leftRunning(database, { deadRunners: 0 })
        // 3. An instance runs the task; its handler fails with a store error (after its own retries)
        //    and the instance dies before it follows the end: the workflow is `running`, no letter.
        yield* endedByADyingInstance(database, id, (claim) => {
          assert.isFalse(claim.poisoned)
          return {
            _tag: "TaskFailed",
            taskId: id,
            attempts: 1,
            error: { tag: "StoreError", message: "checkpoint store: connect ECONNREFUSED" }
          }
        })
        yield* sweptOnce(database, id, workflowId, {
          tag: "StoreError",
          message: /failed outside the workflow's steps: checkpoint store/,
          cause: "task-failed",
          // Its handler counted the failure; the marking does not count it again.
          failuresCounted: 0
        })
      }).pipe(Effect.scoped, quiet),
    { timeout: 60_000 }
  )
})

/** The task claimed by an instance that records its end (`error`, failed) and dies before following it. */
const endedByADyingInstance = (
  database: () => Layer.Layer<SqlClient.SqlClient, unknown>,
  id: string,
  error: (claim: TaskQueue.Claim) => unknown
) =>
  Effect.gen(function*() {
    const queue = yield* TaskQueue.TaskQueue
    const claim = Option.getOrThrow(
      yield* queue.claim("research", { limits: {}, holder: "dying-instance", leaseMillis: 60_000 })
    )
    assert.strictEqual(claim.record.id, id)
    assert.isTrue(yield* queue.end(id, claim.token, { status: "failed", error: error(claim) }))
  }).pipe(Effect.provide(queueOver(database)))

/**
 * Two instances start at once on the database, each sweeping at its start: the workflow ends failed
 * with the task's cause and one dead letter, a second sweep by both at once marks nothing, and the
 * workflow, retried from the API, completes.
 */
const sweptOnce = (
  database: () => Layer.Layer<SqlClient.SqlClient, unknown>,
  id: string,
  workflowId: string,
  expected: { readonly tag: string; readonly message: RegExp; readonly cause: string; readonly failuresCounted: number }
) =>
  Effect.gen(function*() {
    const [a, b] = yield* Effect.all([start(config(), database()), start(config(), database())], {
      concurrency: 2
    })
    const http = client(a.base)
    const workflow = yield* eventually(Effect.map(
      http.request("GET", `/workflows/${workflowId}`),
      (r) => r.body?.status === "running" ? undefined : r.body
    ))
    assert.strictEqual(workflow.status, "failed", JSON.stringify(workflow))
    assert.strictEqual(workflow.failure.error.tag, expected.tag)
    assert.match(workflow.failure.error.message, expected.message)
    // Swept again, by both at once: nothing more to mark.
    assert.deepStrictEqual(yield* Effect.all([a.team.sweepPoisoned, b.team.sweepPoisoned], { concurrency: 2 }), [
      0,
      0
    ])
    // Marked once: one letter between the two instances.
    const letters = (yield* http.request("GET", "/dead-letters")).body.letters as Array<any>
    const mine = letters.filter((l) => l.workflow?.id === workflowId)
    assert.strictEqual(mine.length, 1, JSON.stringify(letters))
    assert.deepStrictEqual([mine[0].error.tag, mine[0].taskId, mine[0].context.cause], [
      expected.tag,
      id,
      expected.cause
    ])
    assert.strictEqual((yield* a.team.counts).failed + (yield* b.team.counts).failed, expected.failuresCounted)
    const task = (yield* client(b.base).request("GET", `/tasks/${id}`)).body
    assert.strictEqual(task.status, "failed")
    // Retried from the API, it completes.
    const retried = yield* http.request("POST", `/workflows/${workflowId}/retry`)
    assert.strictEqual(retried.status, 202, retried.text)
    yield* eventually(Effect.map(
      http.request("GET", `/workflows/${workflowId}`),
      (r) => r.body?.status === "completed" ? true : undefined
    ))
  })
