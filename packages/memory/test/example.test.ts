import * as TokenCounter from "@agentos/core/TokenCounter"
import { assert, describe, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import { main } from "../examples/basic.js"

describe("the README example", () => {
  it.effect("runs: the superseding fact is recalled first, the context fits its budget", () =>
    Effect.gen(function*() {
      const { context, recalled } = yield* main
      assert.include(recalled, "agent: User moved to Berlin")
      assert.notInclude(recalled.join(), "Paris")
      assert.notInclude(context.text, "Paris")
      assert.isTrue(context.text.startsWith("## Instructions\n- User prefers Python over JavaScript"))
      assert.isAtMost(context.tokens, 60)
      assert.strictEqual(context.tokens, (yield* TokenCounter.TokenCounter).count(context.text))
    }).pipe(Effect.provide(TokenCounter.layer)))
})
