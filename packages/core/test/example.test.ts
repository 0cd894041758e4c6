// The README's example (examples/quickstart.ts) runs and prints what it says.
import { assert, describe, it } from "@effect/vitest"
import { execFileSync } from "node:child_process"
import * as Fs from "node:fs"
import * as Os from "node:os"
import * as Path from "node:path"
import { fileURLToPath } from "node:url"

const packageDir = Path.resolve(Path.dirname(fileURLToPath(import.meta.url)), "..")

describe("examples/quickstart.ts", () => {
  it("runs offline and prices the call exactly", { timeout: 60_000 }, () => {
    const output = execFileSync(
      Path.resolve(packageDir, "../../node_modules/.bin/tsx"),
      ["--conditions=@agentos/source", "examples/quickstart.ts"],
      { cwd: packageDir, encoding: "utf8" }
    )
    // 15 o200k tokens × $2.50/1M + 350 × $10/1M = $0.0035375 → rounded up to $0.003538
    assert.match(output, /15 input tokens \(o200k_base\), cost \$0\.003538/)
    assert.match(output, /migrations run: 1_create_calls; stored 15\+350 tokens, \$0\.003538 at database time \d{4}-/)
  })
})

describe("examples/readme.ts (the README's example, verbatim)", () => {
  it("is the README's code block, verbatim", () => {
    const readme = Fs.readFileSync(Path.join(packageDir, "README.md"), "utf8")
    const file = Fs.readFileSync(Path.join(packageDir, "examples/readme.ts"), "utf8")
    const block = /```ts\n([\s\S]*?)```/.exec(readme)?.[1]
    assert.strictEqual(block, file.slice(file.indexOf("\n") + 1))
  })

  it("runs", { timeout: 60_000 }, () => {
    const dir = Fs.mkdtempSync(Path.join(Os.tmpdir(), "agentos-readme-"))
    try {
      const output = execFileSync(
        Path.resolve(packageDir, "../../node_modules/.bin/tsx"),
        ["--conditions=@agentos/source", Path.join(packageDir, "examples/readme.ts")],
        { cwd: dir, encoding: "utf8" }
      )
      assert.match(output, /^task [0-9A-Z]{26}: \d+ tokens, cost \$0\.0035\d+\n$/)
      assert.isTrue(Fs.existsSync(Path.join(dir, "agentos.db")))
    } finally {
      Fs.rmSync(dir, { recursive: true, force: true })
    }
  })
})
