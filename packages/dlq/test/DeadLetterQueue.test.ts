// The published conformance suite, once per backend: memory, a directory,
// SQLite and Postgres.
import { Backends, Conformance } from "@agentos/testkit"
import * as NodeFileSystem from "@effect/platform-node/NodeFileSystem"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as DeadLetterQueue from "../src/DeadLetterQueue.js"
import * as Testing from "../src/Testing.js"

const file = Layer.unwrapScoped(
  Effect.map(
    Backends.tempDirectory("agentos-dlq"),
    (directory) =>
      Testing.harness((options) =>
        DeadLetterQueue.layerFileSystem({ ...options, directory }).pipe(Layer.provide(NodeFileSystem.layer))
      )
  )
)

Conformance.conformance("DeadLetterQueue", {
  memory: Testing.harness(DeadLetterQueue.layerMemory),
  sql: Testing.harness(DeadLetterQueue.layerSql),
  extra: { file }
}, Testing.suite)
