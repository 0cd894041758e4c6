import { Backends } from "@agentos/testkit"
import { assert, describe, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Path from "node:path"
import { layer, program, research } from "../examples/quickstart.js"
import * as WorkflowEngine from "../src/WorkflowEngine.js"

describe("the README example", () => {
  it.effect("WorkflowEngine.layerMemory is a ready engine", () =>
    Effect.gen(function*() {
      const workflows = yield* WorkflowEngine.WorkflowEngine
      const final = yield* workflows.execute(research, "in-memory", { query: "q" })
      assert.strictEqual(final.report, "2 sources")
      assert.strictEqual((yield* workflows.status("in-memory")).status, "completed")
    }).pipe(Effect.provide(WorkflowEngine.layerMemory())))

  it.scoped("runs, and a second run resumes from the stored checkpoint without running steps again", () =>
    Effect.gen(function*() {
      const dir = yield* Backends.tempDirectory("agentos-checkpoint-example")
      const filename = Path.join(dir, "workflows.db")
      const first = yield* Effect.provide(program, layer(filename))
      assert.deepStrictEqual(first, {
        final: {
          query: "MCP in production",
          sources: ["web:MCP in production", "key:research-mcp:search:1"],
          report: "2 sources"
        },
        status: "completed"
      })
      assert.deepStrictEqual(yield* Effect.provide(program, layer(filename)), first)
    }))
})
