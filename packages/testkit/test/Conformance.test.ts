import { assert, describe, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Conformance from "../src/Conformance.js"
import { layerMemory, layerSql, layerWrong, suite } from "./KeyValueFixture.js"

// The example suite, registered on every backend exactly as a package would.
Conformance.conformance("KeyValue (kit example)", { memory: layerMemory, sql: layerSql }, suite)

describe("runSuite", () => {
  it.effect("a correct backend passes every case", () =>
    Effect.gen(function*() {
      const report = yield* Conformance.runSuite(suite, layerMemory)
      assert.deepStrictEqual(report.failed, [])
      assert.strictEqual(report.passed.length, suite.length)
    }))

  it.effect("a deliberately wrong backend fails the suite, on the cases it breaks", () =>
    Effect.gen(function*() {
      const report = yield* Conformance.runSuite(suite, layerWrong)
      assert.deepStrictEqual(
        report.failed.map((failure) => failure.name),
        [
          "set then get returns an equal value, not the same object",
          "remove deletes the key and reports whether it existed"
        ]
      )
      assert.include(report.failed[1]!.cause, "expected false to be true")
      assert.deepStrictEqual(report.passed, ["a fresh store is empty"])
    }))
})
