// The options' defaults as the layer resolves them.
import { assert, describe, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Schema from "effect/Schema"
import * as Options from "../src/internal/options.js"
import * as Task from "../src/Task.js"

const work = Task.taskType("work", { payload: Schema.Number, result: Schema.Number })

describe("the default holder of a shared queue", () => {
  it.effect("is the process id and a random UUID, new for every supervisor", () =>
    Effect.gen(function*() {
      const holders = yield* Effect.forEach(
        [1, 2, 3],
        () => Effect.map(Options.resolve({ types: [work], shared: {} }), (resolved) => resolved.shared!.holder)
      )
      for (const holder of holders) {
        assert.match(
          holder,
          new RegExp(`^supervisor-${process.pid}-[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$`)
        )
      }
      assert.strictEqual(new Set(holders).size, 3)
    }))
})
