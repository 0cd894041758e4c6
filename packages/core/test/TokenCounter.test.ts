import { assert, describe, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as TokenCounter from "../src/TokenCounter.js"

describe("TokenCounter", () => {
  it.effect("counts exactly with o200k by default", () =>
    Effect.gen(function*() {
      const counter = yield* TokenCounter.TokenCounter
      assert.strictEqual(counter.encoding, "o200k_base")
      assert.strictEqual(counter.count("hello world"), 2)
      assert.strictEqual(counter.count(""), 0)
      assert.strictEqual(yield* TokenCounter.count("hello world"), 2)
    }).pipe(Effect.provide(TokenCounter.layer)))

  it.effect("cl100k is selectable and differs from o200k on non-English text", () =>
    Effect.gen(function*() {
      const o200k = yield* TokenCounter.makeExact("o200k_base")
      const cl100k = yield* TokenCounter.makeExact("cl100k_base")
      const text = "Привет, как дела? これは日本語の文です。"
      assert.strictEqual(cl100k.encoding, "cl100k_base")
      assert.notStrictEqual(o200k.count(text), cl100k.count(text))
      assert.isBelow(o200k.count(text), cl100k.count(text))
    }))

  it.effect("special-token markers in user text are counted as text, not rejected", () =>
    Effect.gen(function*() {
      const counter = yield* TokenCounter.makeExact()
      assert.isAbove(counter.count("before <|endoftext|> after"), 3)
    }))

  it.effect("fits stops early and agrees with count", () =>
    Effect.gen(function*() {
      const counter = yield* TokenCounter.makeExact()
      const text = "The quick brown fox jumps over the lazy dog. ".repeat(100)
      const n = counter.count(text)
      assert.isTrue(counter.fits(text, n))
      assert.isFalse(counter.fits(text, n - 1))
    }))

  it("the approximate counter is one token per four UTF-8 bytes, rounded up", () => {
    const approx = TokenCounter.approximate
    assert.isFalse(approx.exact)
    assert.strictEqual(approx.count("abcd"), 1)
    assert.strictEqual(approx.count("abcde"), 2)
    assert.strictEqual(approx.count("é"), 1)
    assert.isTrue(approx.fits("abcdefgh", 2))
    assert.isFalse(approx.fits("abcdefghi", 2))
  })
})
