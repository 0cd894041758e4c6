// The no-op task type of the shared-queue benchmark, shared by the producer and its runners.
import * as Schema from "effect/Schema"
import * as Task from "../src/Task.js"

export const noop = Task.taskType("noop", {
  payload: Schema.Struct({ n: Schema.Number, addedAt: Schema.Number }),
  result: Schema.Number,
  maxQueued: 1_000_000
})

export const sharedOptions = { lease: "30 seconds", pollInterval: "1 second" } as const
