import { assert, describe, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import { main } from "../examples/basic.js"

describe("the README example", () => {
  it.effect("runs: the letter is stored redacted, replayed with the patch, and resolved", () =>
    Effect.gen(function*() {
      const { outcome, summary } = yield* main
      assert.strictEqual(outcome._tag, "Succeeded")
      assert.deepStrictEqual(outcome.letter.payload, {
        query: "effect dead letters",
        apiKey: "[REDACTED]",
        timeoutMs: 30_000
      })
      assert.strictEqual(outcome.letter.resolution?.kind, "replayed")
      assert.strictEqual(summary.resolved, 1)
      assert.strictEqual(summary.unresolved, 0)
    }))
})
