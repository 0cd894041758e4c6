// Every module of every package loads when it is imported first, alone, in
// a fresh process; and the check names a module that does not.
import { assert, describe, it } from "@effect/vitest"
import * as Fs from "node:fs"
import * as Os from "node:os"
import * as Path from "node:path"
import { importAlone, importEachInItsOwnProcess, workspaceModules } from "../src/importAlone.js"
import { relative } from "../src/workspace.js"

describe("import alone", () => {
  it("names the module of a cycle that reads a value before it is initialised, and only it", async () => {
    const dir = Fs.mkdtempSync(Path.join(Os.tmpdir(), "agentos-alone-"))
    try {
      // Imported first, a.js runs b.js first, which reads a's `x` too early;
      // imported first, b.js runs a.js first, which reads nothing of b while loading.
      Fs.writeFileSync(
        Path.join(dir, "a.mjs"),
        `import { y } from "./b.mjs"\nexport const x = 1\nexport const z = () => y\n`
      )
      Fs.writeFileSync(Path.join(dir, "b.mjs"), `import { x } from "./a.mjs"\nexport const y = x + 1\n`)
      Fs.writeFileSync(Path.join(dir, "throws.mjs"), `throw new TypeError("broken at load")\n`)
      const files = ["a.mjs", "b.mjs", "throws.mjs"].map((file) => Path.join(dir, file))
      const expected = [
        { module: Path.join(dir, "a.mjs"), error: "ReferenceError: Cannot access 'x' before initialization" },
        { module: Path.join(dir, "throws.mjs"), error: "TypeError: broken at load" }
      ]
      assert.deepStrictEqual(await importAlone(files), expected)
      // The fallback used when the fast child crashes gives the same answers.
      assert.deepStrictEqual(await importEachInItsOwnProcess(files), expected)
    } finally {
      Fs.rmSync(dir, { recursive: true, force: true })
    }
  })

  it("every module of every package (built) loads first and alone", { timeout: 180_000 }, async () => {
    const all = workspaceModules()
    assert.isAbove(all.length, 0)
    const missing = all.filter((module) => !Fs.existsSync(module.built)).map((module) => relative(module.built))
    assert.deepStrictEqual(missing, [], "modules without a build: the tools project builds every package first")
    const failures = await importAlone(all.map((module) => module.built))
    assert.deepStrictEqual(failures.map((failure) => `${relative(failure.module)}: ${failure.error}`), [])
  })
})
