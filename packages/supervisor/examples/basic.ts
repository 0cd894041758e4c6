// The README's example: a task type, a worker pool, backpressure-aware submits.
import { Supervisor, Task } from "@agentos/supervisor"
import * as Effect from "effect/Effect"
import * as Schema from "effect/Schema"

const summarize = Task.taskType("summarize", {
  payload: Schema.Struct({ text: Schema.String }),
  result: Schema.String,
  timeout: "30 seconds"
})

export const program = Effect.gen(function*() {
  const supervisor = yield* Supervisor.Supervisor
  const handles = yield* Effect.forEach(["a long quarterly report", "a short note"], (text, i) =>
    // Fails fast with Backpressure when the queue is full; submitWait waits instead.
    supervisor.submit({ type: summarize, payload: { text }, priority: i, groupKey: "tenant-1" }))
  const summaries = yield* Effect.forEach(handles, (handle) => handle.await)
  return { summaries, snapshot: yield* supervisor.snapshot }
})

export const main = program.pipe(Effect.provide(Supervisor.layerMemory({
  types: [summarize],
  groupLimits: { default: 2 }, // at most 2 tasks of one tenant at once
  workers: [Task.worker(summarize, {
    name: "writer",
    maxConcurrent: 4,
    handler: ({ text }) => Effect.succeed(text.split(" ").slice(0, 2).join(" "))
  })]
})))
