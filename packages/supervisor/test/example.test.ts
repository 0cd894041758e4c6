import { assert, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import { main } from "../examples/basic.js"

it.effect("the README's example runs", () =>
  Effect.gen(function*() {
    const { snapshot, summaries } = yield* main
    assert.deepStrictEqual(summaries, ["a long", "a short"])
    assert.strictEqual(snapshot.workers[0]!.completed, 2)
    assert.deepStrictEqual(snapshot.queueDepth, { summarize: 0 })
  }))
