// The task types the multi-process tests and their runner processes share.
import * as Schema from "effect/Schema"
import * as Task from "../../src/Task.js"

export const job = Task.taskType("job", {
  payload: Schema.Struct({ n: Schema.Number, hang: Schema.Boolean }),
  result: Schema.Number
})

/** Its handler kills the process running it (SIGKILL), every time. */
export const poison = Task.taskType("poison", { payload: Schema.Struct({}), result: Schema.Number })

/** Its handler always fails. */
export const flaky = Task.taskType("flaky", { payload: Schema.Struct({}), result: Schema.Number })

// A lease long enough that a runner slowed down by a loaded machine still renews it in time.
export const sharedOptions = { lease: "4 seconds", pollInterval: "200 millis", maxDeliveries: 2 } as const
