import { DeadLetterQueue } from "@agentos/dlq"
import { assert, describe, it } from "@effect/vitest"
import { Effect, Logger, LogLevel, Option } from "effect"
import * as Fs from "node:fs"
import * as Os from "node:os"
import * as Path from "node:path"
import { layer, program } from "../src/Demo.js"

describe("demo: the research workflow across checkpoint, dlq and state", () => {
  it.live("a failed step becomes a dead letter; replaying it resumes at that step", () =>
    Effect.gen(function*() {
      const dir = yield* Effect.acquireRelease(
        Effect.sync(() => Fs.mkdtempSync(Path.join(Os.tmpdir(), "agentos-demo-"))),
        (dir) => Effect.sync(() => Fs.rmSync(dir, { recursive: true, force: true }))
      )
      const result = yield* Effect.gen(function*() {
        const outcome = yield* program
        const letter = yield* (yield* DeadLetterQueue.DeadLetterQueue).get(outcome.letterId)
        return { ...outcome, letter }
      }).pipe(
        Effect.provide(layer(Path.join(dir, "demo.db"))),
        Logger.withMinimumLogLevel(LogLevel.Error)
      )
      // The first run failed at the third step, with the provider's error.
      assert.strictEqual(result.failure._tag, "StepFailed")
      assert.strictEqual((result.failure as { step?: string }).step, "synthesize")
      // The dead letter points at the workflow, and is resolved by the replay.
      assert.strictEqual(result.letter.workflow?.id, result.id)
      assert.strictEqual(result.letter.error.tag, "ModelOverloaded")
      assert.strictEqual(result.replayed._tag, "Succeeded")
      assert.isDefined(result.letter.resolution)
      // Resumed at the failed step: search ran once, synthesize twice.
      assert.deepStrictEqual(result.calls, { search: 1, synthesize: 2 })
      assert.strictEqual(result.status.status, "completed")
      assert.include((result.status.state as { report: string }).report, "# agent runtimes in production")
      assert.deepStrictEqual(Option.map(result.shared, (entry) => entry.value.stage), Option.some("synthesized"))
    }).pipe(Effect.scoped), { timeout: 60_000 })
})
