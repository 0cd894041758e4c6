// The README's example: a two-step research workflow on a SQLite file.
// Run: npx tsx --conditions=@agentos/source examples/quickstart.ts
import { CheckpointStore, Workflow, WorkflowEngine } from "@agentos/checkpoint"
import { IdGenerator } from "@agentos/core"
import * as SqliteClient from "@effect/sql-sqlite-node/SqliteClient"
import { Effect, Layer, Schema } from "effect"

const Research = Schema.Struct({
  query: Schema.String,
  sources: Schema.optional(Schema.Array(Schema.String)),
  report: Schema.optional(Schema.String)
})

export const research = Workflow.make({ name: "research", version: 1, state: Research })
  .step({
    name: "search",
    timeout: "30 seconds",
    // Pass the idempotency key to side-effecting calls (an LLM, a search API).
    run: (state, { idempotencyKey }) => Effect.succeed({ sources: [`web:${state.query}`, `key:${idempotencyKey}`] })
  })
  .step({ name: "report", run: (state) => Effect.succeed({ report: `${state.sources?.length ?? 0} sources` }) })

export const program = Effect.gen(function*() {
  const workflows = yield* WorkflowEngine.WorkflowEngine
  // Crashed last time? This resumes at the first step not completed.
  const final = yield* workflows.execute(research, "research-mcp", { query: "MCP in production" })
  const { status } = yield* workflows.status("research-mcp")
  return { final, status }
})

export const layer = (filename: string) =>
  WorkflowEngine.layer().pipe(
    Layer.provide(Layer.merge(CheckpointStore.layerSql(), IdGenerator.layer)),
    Layer.provide(SqliteClient.layer({ filename }))
  )

if (import.meta.url === `file://${process.argv[1]}`) {
  Effect.runPromise(Effect.provide(program, layer("workflows.db"))).then(console.log)
}
