import { assert, describe, it } from "@effect/vitest"
import * as Fs from "node:fs"
import * as Bench from "../src/Bench.js"

describe("Bench results", () => {
  it("readFigures reads back what writeResults wrote, validated; none for a package without a file", () => {
    const pkg = `testkit-read-figures-${process.pid}`
    const figure: Bench.Figure = { name: "a figure", value: 1.5, unit: "ms", better: "lower", config: { n: 1 } }
    const file = Bench.writeResults(pkg, "a command", [figure])
    try {
      assert.deepStrictEqual(Bench.readFigures(pkg), [figure])
    } finally {
      Fs.rmSync(file, { force: true })
    }
    assert.deepStrictEqual(Bench.readFigures(pkg), [])
  })
})
