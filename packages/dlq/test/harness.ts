// Builds queues for the conformance suite: every case gets a fresh store
// (memory, a temporary directory, a fresh SQLite file or Postgres schema) and
// may build queues over it with the options it needs.
import * as IdGenerator from "@agentos/core/IdGenerator"
import { Backends } from "@agentos/testkit"
import * as NodeFileSystem from "@effect/platform-node/NodeFileSystem"
import type * as SqlClient from "@effect/sql/SqlClient"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import type * as Scope from "effect/Scope"
import * as DeadLetterQueue from "../src/DeadLetterQueue.js"

export interface HarnessService {
  readonly backend: "memory" | "file" | "sql"
  /** A queue over this case's store (several calls share the store, except in memory). */
  readonly make: (
    options?: DeadLetterQueue.Options
  ) => Effect.Effect<DeadLetterQueue.DeadLetterQueueService, unknown, Scope.Scope>
}

export class Harness extends Context.Tag("test/dlq/Harness")<Harness, HarnessService>() {}

/** The queue of a case, with options. */
export const queue = (options?: DeadLetterQueue.Options) => Effect.flatMap(Harness, (h) => h.make(options))

const build = <E, R>(layer: Layer.Layer<DeadLetterQueue.DeadLetterQueue, E, R>, context: Context.Context<R>) =>
  Layer.build(layer).pipe(
    Effect.map((ctx) => Context.get(ctx, DeadLetterQueue.DeadLetterQueue)),
    Effect.provide(context)
  )

// One sequential id generator per case, so ids sort by creation order under
// TestClock (the default ULIDs of one millisecond sort randomly).
const ids = () => Layer.succeed(IdGenerator.IdGenerator, IdGenerator.makeSequential("dl"))

export const memory: Layer.Layer<Harness> = Layer.effect(
  Harness,
  Effect.sync(() => {
    const generator = ids()
    return {
      backend: "memory" as const,
      make: (options?: DeadLetterQueue.Options) =>
        build(Layer.provide(DeadLetterQueue.layerMemory(options), generator), Context.empty())
    }
  })
)

export const file: Layer.Layer<Harness> = Layer.scoped(
  Harness,
  Effect.map(Backends.tempDirectory("agentos-dlq"), (directory) => {
    const generator = ids()
    return {
      backend: "file" as const,
      make: (options?: DeadLetterQueue.Options) =>
        build(
          DeadLetterQueue.layerFileSystem({ ...options, directory }).pipe(
            Layer.provide(generator),
            Layer.provide(NodeFileSystem.layer)
          ),
          Context.empty()
        )
    }
  })
)

export const sql: Layer.Layer<Harness, never, SqlClient.SqlClient> = Layer.effect(
  Harness,
  Effect.map(Effect.context<SqlClient.SqlClient>(), (context) => {
    const generator = ids()
    return {
      backend: "sql" as const,
      make: (options?: DeadLetterQueue.Options) =>
        build(Layer.provide(DeadLetterQueue.layerSql(options), generator), context)
    }
  })
)
