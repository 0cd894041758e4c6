// Store layers shared by the suites: memory, a file-system store in a fresh
// temporary directory, and the SQL store (the kit adds SQLite and Postgres).
import { IdGenerator } from "@agentos/core"
import type { WorkflowId } from "@agentos/core/Ids"
import { Backends } from "@agentos/testkit"
import * as NodeFileSystem from "@effect/platform-node/NodeFileSystem"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as CheckpointStore from "../src/CheckpointStore.js"
import * as Workflows from "../src/Workflows.js"

export const fileStore: Layer.Layer<CheckpointStore.CheckpointStore, unknown> = Layer.unwrapScoped(
  Effect.map(
    Backends.tempDirectory("agentos-checkpoint"),
    (directory) => CheckpointStore.layerFileSystem({ directory })
  )
).pipe(Layer.provide(NodeFileSystem.layer))

export const stores = {
  memory: CheckpointStore.layerMemory,
  sql: CheckpointStore.layerSql(),
  extra: { file: fileStore }
}

type Engine = Workflows.Workflows | CheckpointStore.CheckpointStore | IdGenerator.IdGenerator

const engineOver = <E, R>(store: Layer.Layer<CheckpointStore.CheckpointStore, E, R>): Layer.Layer<Engine, E, R> =>
  Layer.provideMerge(Workflows.layer(), Layer.merge(store, IdGenerator.layerSequential("runner")))

export const engines = {
  memory: engineOver(CheckpointStore.layerMemory),
  sql: engineOver(CheckpointStore.layerSql()),
  extra: { file: engineOver(fileStore) }
}

/** Lets real I/O (Postgres, files) make progress between TestClock moves. */
export const realPause = (millis = 2) =>
  Effect.promise(() => new Promise<void>((resolve) => setTimeout(resolve, millis)))

/** A running checkpoint of workflow `workflowId`, for store tests; `fields` override. */
export const checkpoint = (
  workflowId: string,
  fields: Partial<CheckpointStore.Checkpoint> = {}
): CheckpointStore.Checkpoint => ({
  workflowId: workflowId as WorkflowId,
  name: "demo",
  version: 1,
  status: "running",
  state: { query: "héllo", nested: { list: [1, 2, 3] } },
  completedSteps: ["a"],
  attempts: { a: 1 },
  run: 1,
  createdAt: 1_000,
  updatedAt: 2_000,
  epoch: 0,
  ...fields
})
