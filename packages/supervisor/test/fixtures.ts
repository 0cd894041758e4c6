// Shared test fixtures: a supervisor built in the test's scope, gates that
// hold handlers until released, and recording ports.
import * as AdmissionPolicy from "@agentos/core/AdmissionPolicy"
import * as DeadLetters from "@agentos/core/DeadLetters"
import * as IdGenerator from "@agentos/core/IdGenerator"
import * as TokenUsage from "@agentos/core/TokenUsage"
import * as Context from "effect/Context"
import * as Deferred from "effect/Deferred"
import * as Effect from "effect/Effect"
import * as FiberId from "effect/FiberId"
import * as Layer from "effect/Layer"
import * as Schema from "effect/Schema"
import type * as Scope from "effect/Scope"
import * as Supervisor from "../src/Supervisor.js"
import * as Task from "../src/Task.js"
import * as TaskQueue from "../src/TaskQueue.js"

export const echo = Task.taskType("echo", { payload: Schema.Struct({ n: Schema.Number }), result: Schema.Number })

/**
 * The memory queue seen only through the `TaskQueue` contract (a copy of its
 * service, without the direct calls the supervisor makes on its own memory
 * queue): the path every other queue takes.
 */
export const contractQueue: Layer.Layer<TaskQueue.TaskQueue> = Layer.effect(
  TaskQueue.TaskQueue,
  Effect.map(Effect.provide(TaskQueue.TaskQueue, TaskQueue.layerMemory()), (inner) => ({ ...inner }))
)

/** Builds a supervisor (memory queue unless told, sequential ids) in the current scope. */
export const make = (
  options: Supervisor.Options,
  extra: Layer.Layer<never> = Layer.empty,
  queue: Layer.Layer<TaskQueue.TaskQueue> = TaskQueue.layerMemory()
): Effect.Effect<Supervisor.SupervisorService, unknown, Scope.Scope> =>
  Effect.map(
    Layer.build(
      Supervisor.layer(options).pipe(
        Layer.provide(Layer.mergeAll(IdGenerator.layerSequential("task"), extra, queue))
      )
    ),
    (context) => Context.get(context, Supervisor.Supervisor)
  )

/** An `echo` worker running one task at a time (named `w` unless told). */
export const echoWorker = (
  handler: (payload: { readonly n: number }, context: Task.TaskContext) => Effect.Effect<number, unknown>,
  name = "w"
): Task.Worker => Task.worker(echo, { name, maxConcurrent: 1, handler })

/** Lets the forked dispatch and handler fibers run. */
export const settle = Effect.gen(function*() {
  for (let i = 0; i < 20; i++) yield* Effect.yieldNow()
})

/** Gates: a handler waits on `gate(n)` until the test opens it. */
export const gates = () => {
  const map = new Map<number, Deferred.Deferred<void>>()
  const gate = (n: number) => {
    let deferred = map.get(n)
    if (deferred === undefined) {
      deferred = Deferred.unsafeMake<void>(FiberId.none)
      map.set(n, deferred)
    }
    return deferred
  }
  return {
    wait: (n: number) => Deferred.await(gate(n)),
    open: (n: number) => Deferred.succeed(gate(n), undefined)
  }
}

/** An admission policy recording every admit, commit and release. */
export const recordingPolicy = (reject?: (request: AdmissionPolicy.AdmissionRequest) => boolean) => {
  const events: Array<string> = []
  let next = 0
  const settled = new Map<string, number>()
  const policy: AdmissionPolicy.AdmissionPolicyService = {
    admit: (request) =>
      Effect.suspend(() => {
        if (reject?.(request) === true) {
          return Effect.fail(
            new AdmissionPolicy.AdmissionRejected({ policy: "test", reason: "over budget", retryAfterMillis: 500 })
          )
        }
        const id = `grant-${++next}`
        events.push(`${id}:admit:${request.taskId}`)
        return Effect.succeed({ id })
      }),
    commit: (id, usage) =>
      Effect.sync(() => {
        settled.set(id, (settled.get(id) ?? 0) + 1)
        events.push(`${id}:commit:${TokenUsage.total(usage)}`)
      }),
    release: (id) =>
      Effect.sync(() => {
        settled.set(id, (settled.get(id) ?? 0) + 1)
        events.push(`${id}:release`)
      })
  }
  return { policy, events, settled, granted: () => next }
}

/** A dead-letter port keeping letters in an array, or failing. */
export const recordingDeadLetters = (fail = false) => {
  const letters: Array<DeadLetters.DeadLetterInput> = []
  const service: DeadLetters.DeadLettersService = {
    send: (letter) =>
      Effect.suspend(() => {
        if (fail) {
          return Effect.fail(new DeadLetters.DeadLetterRejected({ reason: "store", message: "store down" }))
        }
        letters.push(letter)
        return Effect.succeed({ letterId: `letter-${letters.length}` as never, duplicate: false })
      })
  }
  return { letters, service }
}
