// What a research step keeps of a model's answer in memory.
import { assert, describe, it } from "@effect/vitest"
import { brief } from "../src/Research.js"

describe("research: what a step remembers", () => {
  it("the first sentence of an answer", () => {
    assert.strictEqual(brief("  Three sources agree. The fourth does not.\nMore."), "Three sources agree.")
  })

  it("at most 200 characters, marked as cut", () => {
    const kept = brief("word ".repeat(300))
    assert.strictEqual(kept.length, 200)
    assert.isTrue(kept.endsWith("…"))
    assert.strictEqual(brief("short answer without a stop"), "short answer without a stop")
  })
})
