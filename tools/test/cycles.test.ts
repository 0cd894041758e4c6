// The cycle check on small packages written for each rule: it reports every
// runtime cycle, as a path, and nothing that the compiled code does not load.
import { assert, describe, it } from "@effect/vitest"
import { execFileSync } from "node:child_process"
import * as Fs from "node:fs"
import * as Os from "node:os"
import * as Path from "node:path"
import { findCycles, formatCycle } from "../src/cycles.js"
import { root } from "../src/workspace.js"

const fixture = (files: Record<string, string>): string => {
  const dir = Fs.mkdtempSync(Path.join(Os.tmpdir(), "agentos-cycles-"))
  for (const [file, text] of Object.entries(files)) {
    Fs.mkdirSync(Path.dirname(Path.join(dir, file)), { recursive: true })
    Fs.writeFileSync(Path.join(dir, file), text)
  }
  return dir
}

/** The cycles of a fixture, as paths relative to its src/. */
const cyclesOf = (files: Record<string, string>): Array<string> => {
  const dir = fixture(files)
  try {
    return findCycles(dir).map((cycle) =>
      cycle.map((file) => Path.relative(Path.join(dir, "src"), file).split(Path.sep).join("/")).join(" → ")
    )
  } finally {
    Fs.rmSync(dir, { recursive: true, force: true })
  }
}

describe("cycles", () => {
  it("finds a two-module cycle", () => {
    assert.deepStrictEqual(
      cyclesOf({
        "src/a.ts": `import { b } from "./b.js"\nexport const a = () => b`,
        "src/b.ts": `import { a } from "./a.js"\nexport const b = 1\nexport const c = () => a`
      }),
      ["a.ts → b.ts → a.ts"]
    )
  })

  it("finds a three-module cycle through internal/, whichever module it is read from", () => {
    assert.deepStrictEqual(
      cyclesOf({
        "src/Service.ts": `import * as Store from "./internal/store.js"\nexport const layer = Store.make`,
        "src/internal/store.ts": `import { encode } from "./codec.js"\nexport const make = () => encode`,
        "src/internal/codec.ts": `import { ServiceError } from "../Service.js"\nexport const encode = ServiceError`,
        "src/Leaf.ts": `import * as Store from "./internal/store.js"\nexport const leaf = Store`
      }),
      ["Service.ts → internal/store.ts → internal/codec.ts → Service.ts"]
    )
  })

  it("passes a cycle broken by type-only imports and re-exports", () => {
    assert.deepStrictEqual(
      cyclesOf({
        "src/Service.ts": `import * as Store from "./internal/store.js"\nexport interface Service { n: number }\n` +
          `export const layer = Store.make`,
        "src/internal/store.ts": `import type * as Service from "../Service.js"\n` +
          `import type { Service as S } from "../Service.js"\n` +
          `export type { Service } from "../Service.js"\n` +
          `export type * from "../Service.js"\n` +
          `export const make = (s: Service.Service, t: S) => s.n + t.n`
      }),
      []
    )
  })

  it("counts `import { type A }`: verbatimModuleSyntax keeps it as an import of the module", () => {
    assert.deepStrictEqual(
      cyclesOf({
        "src/a.ts": `import { b } from "./b.js"\nexport interface A { n: number }\nexport const a = b`,
        "src/b.ts": `import { type A } from "./a.js"\nexport const b = 1\nexport const f = (x: A) => x`
      }),
      ["a.ts → b.ts → a.ts"]
    )
  })

  it("finds cycles through `export * from` and `export * as … from`", () => {
    assert.deepStrictEqual(
      cyclesOf({
        "src/index.ts": `export * from "./a.js"\nexport * as B from "./b.js"`,
        "src/a.ts": `import { b } from "./index.js"\nexport const a = () => b`,
        "src/b.ts": `export const b = 1`
      }),
      ["a.ts → index.ts → a.ts"]
    )
    assert.deepStrictEqual(
      cyclesOf({
        "src/a.ts": `export { b as c } from "./b.js"\nexport const a = 1`,
        "src/b.ts": `import "./a.js"\nexport const b = 2`
      }),
      ["a.ts → b.ts → a.ts"]
    )
  })

  it("ignores dynamic imports: they run after every static import has finished", () => {
    assert.deepStrictEqual(
      cyclesOf({
        "src/a.ts": `import { b } from "./b.js"\nexport const a = b`,
        "src/b.ts": `export const b = 1\nexport const later = () => import("./a.js")`
      }),
      []
    )
  })

  it("follows the package's own name through its exports to the sources", () => {
    assert.deepStrictEqual(
      cyclesOf({
        "package.json": JSON.stringify({
          name: "@fixture/self",
          exports: {
            ".": { "@agentos/source": "./src/index.ts", "default": "./dist/index.js" },
            "./*": { "@agentos/source": "./src/*.ts", "default": "./dist/*.js" }
          }
        }),
        "src/index.ts": `export * as Errors from "./Errors.js"`,
        "src/Errors.ts": `import { make } from "@fixture/self/Make"\nexport const e = make`,
        "src/Make.ts": `import * as Self from "@fixture/self"\nexport const make = () => Self`
      }),
      ["Errors.ts → Make.ts → index.ts → Errors.ts"]
    )
  })

  it("reports one cycle per ring, and a module on two rings in both", () => {
    assert.deepStrictEqual(
      cyclesOf({
        "src/Store.ts": `import "./internal/file.js"\nimport "./internal/sql.js"\nexport const s = 1`,
        "src/internal/file.ts": `import "../Store.js"\nexport const f = 1`,
        "src/internal/sql.ts": `import "../Store.js"\nexport const q = 1`
      }),
      ["Store.ts → internal/file.ts → Store.ts", "Store.ts → internal/sql.ts → Store.ts"]
    )
  })

  it("the command prints each cycle as a path and exits 1; 0 without cycles", () => {
    const cyclic = fixture({
      "src/a.ts": `import { b } from "./b.js"\nexport const a = () => b`,
      "src/b.ts": `import { a } from "./a.js"\nexport const b = () => a`
    })
    const clean = fixture({
      "src/a.ts": `import type { B } from "./b.js"\nexport const a = (b: B) => b`,
      "src/b.ts": `import "./a.js"\nexport type B = 1`
    })
    const tsx = Path.join(root, "node_modules/.bin/tsx")
    const command = Path.join(root, "tools/src/cycles.ts")
    try {
      let failure: { status: number; stderr: string } | undefined
      try {
        execFileSync(tsx, [command, cyclic], { encoding: "utf8", stdio: ["ignore", "pipe", "pipe"] })
      } catch (error) {
        failure = error as { status: number; stderr: string }
      }
      assert.isDefined(failure)
      assert.strictEqual(failure!.status, 1)
      const a = Path.join(cyclic, "src/a.ts")
      const b = Path.join(cyclic, "src/b.ts")
      assert.include(failure!.stderr, `import cycle: ${formatCycle([a, b, a])}`)
      assert.include(failure!.stderr, "1 runtime import cycle ")

      const output = execFileSync(tsx, [command, clean], { encoding: "utf8", stdio: ["ignore", "pipe", "pipe"] })
      assert.include(output, "cycles: none in 1 package")
    } finally {
      Fs.rmSync(cyclic, { recursive: true, force: true })
      Fs.rmSync(clean, { recursive: true, force: true })
    }
  })
})
