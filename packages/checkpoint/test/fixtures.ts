// Store and engine layers shared by the suites: memory, a file-system store
// in a fresh temporary directory, and the SQL store (the kit adds SQLite and
// Postgres).
import { Backends } from "@agentos/testkit"
import * as NodeFileSystem from "@effect/platform-node/NodeFileSystem"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as CheckpointStore from "../src/CheckpointStore.js"
import * as Testing from "../src/Testing.js"

export const fileStore: Layer.Layer<CheckpointStore.CheckpointStore, unknown> = Layer.unwrapScoped(
  Effect.map(
    Backends.tempDirectory("agentos-checkpoint"),
    (directory) => CheckpointStore.layerFileSystem({ directory })
  )
).pipe(Layer.provide(NodeFileSystem.layer))

export const stores = {
  memory: CheckpointStore.layerMemory(),
  sql: CheckpointStore.layerSql(),
  extra: { file: fileStore }
}

export const engines = {
  memory: Testing.harness(CheckpointStore.layerMemory()),
  sql: Testing.harness(CheckpointStore.layerSql()),
  extra: { file: Testing.harness(fileStore) }
}
