// A user's own TaskQueue layer (here: the memory one, logging each offer),
// run through the published suite, imported by package name as a user would.
import { TaskQueue } from "@agentos/supervisor"
import * as Testing from "@agentos/supervisor/Testing"
import { Conformance } from "@agentos/testkit"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"

const logging = Layer.effect(
  TaskQueue.TaskQueue,
  Effect.map(Effect.provide(TaskQueue.TaskQueue, TaskQueue.layerMemory()), (inner) => ({
    ...inner,
    offer: (task, options) => Effect.zipLeft(inner.offer(task, options), Effect.logDebug(`offered ${task.id}`))
  }))
)

Conformance.conformance("a custom TaskQueue layer", { extra: { logging } }, Testing.suite)
