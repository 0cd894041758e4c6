import { assert, describe, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import { main } from "../examples/basic.js"

describe("README example", () => {
  it.effect("runs: the stale write is merged, nothing is lost", () =>
    Effect.gen(function*() {
      const result = yield* main
      assert.strictEqual(result.outcome, "merged")
      assert.deepStrictEqual(result.prefs.value, { theme: "dark", lang: "en", font: 14 })
      assert.deepStrictEqual(result.prefs.modifiedBy, ["B", "A"])
      assert.strictEqual(result.prefs.version, 3)
      assert.deepStrictEqual(result.runs, { n: 1 })
    }))
})
