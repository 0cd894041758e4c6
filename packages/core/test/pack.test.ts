// Packs @agentos/core as it would be published, installs the tarball into a
// fresh temporary project, and imports and type-checks it from there.
import { assert, describe, it } from "@effect/vitest"
import { execFileSync } from "node:child_process"
import * as Fs from "node:fs"
import * as Os from "node:os"
import * as Path from "node:path"
import { fileURLToPath } from "node:url"

const packageDir = Path.resolve(Path.dirname(fileURLToPath(import.meta.url)), "..")
const root = Path.resolve(packageDir, "../..")
const run = (command: string, args: ReadonlyArray<string>, cwd: string) =>
  execFileSync(command, args, { cwd, encoding: "utf8", stdio: ["ignore", "pipe", "pipe"], env: { ...process.env } })

const versionOf = (name: string) =>
  JSON.parse(Fs.readFileSync(Path.join(packageDir, "node_modules", name, "package.json"), "utf8")).version as string

describe("packaging", () => {
  it("the packed @agentos/core installs and imports in a clean project", { timeout: 240_000 }, () => {
    const work = Fs.mkdtempSync(Path.join(Os.tmpdir(), "agentos-pack-"))
    try {
      run(Path.join(root, "node_modules/.bin/tsc"), ["-b", "tsconfig.build.json"], packageDir)
      run("pnpm", ["pack", "--pack-destination", work], packageDir)
      const tarball = Fs.readdirSync(work).find((file) => file.endsWith(".tgz"))
      assert.isDefined(tarball)

      const project = Path.join(work, "consumer")
      Fs.mkdirSync(project)
      Fs.writeFileSync(
        Path.join(project, "package.json"),
        JSON.stringify({
          name: "consumer",
          private: true,
          type: "module",
          dependencies: {
            "@agentos/core": `file:${Path.join(work, tarball!)}`,
            "effect": versionOf("effect"),
            "@effect/sql": versionOf("@effect/sql"),
            "@effect/experimental": versionOf("@effect/experimental"),
            "@effect/platform": versionOf("@effect/platform")
          }
        })
      )
      run("pnpm", ["install", "--prefer-offline", "--ignore-workspace", "--config.confirmModulesPurge=false"], project)

      // The published manifest resolves to dist, never to sources.
      const manifest = JSON.parse(
        Fs.readFileSync(Path.join(project, "node_modules/@agentos/core/package.json"), "utf8")
      )
      assert.notInclude(JSON.stringify(manifest.exports), "@agentos/source")
      assert.notInclude(JSON.stringify(manifest), "catalog:")
      assert.notInclude(JSON.stringify(manifest.dependencies), "workspace:")

      Fs.writeFileSync(
        Path.join(project, "main.mjs"),
        `import { Money, Pricing, TokenUsage, Sql } from "@agentos/core"
import * as Ids from "@agentos/core/Ids"
import { Effect } from "effect"
const cost = Pricing.cost(Pricing.make({ input: 2_500_000, output: 10_000_000 }), TokenUsage.make({ inputTokens: 1000, outputTokens: 500 }))
let internal = "closed"
try { await import("@agentos/core/internal/anything") ; internal = "open" } catch (e) { internal = e.code }
console.log(JSON.stringify({ cost: Money.format(cost), id: Ids.TaskId.make("t-1"), table: Sql.migrationsTable("dlq"), effect: Effect.runSync(Effect.succeed(1)), internal }))
`
      )
      const output = JSON.parse(run("node", ["main.mjs"], project))
      assert.deepStrictEqual(output, {
        cost: "$0.0075",
        id: "t-1",
        table: "agentos_dlq_migrations",
        effect: 1,
        internal: "ERR_PACKAGE_PATH_NOT_EXPORTED"
      })

      // The declarations type-check in a strict NodeNext consumer.
      Fs.writeFileSync(
        Path.join(project, "check.ts"),
        `import { Money, type TokenUsage } from "@agentos/core"
import { DeadLetters } from "@agentos/core/DeadLetters"
const usage: TokenUsage.TokenUsage = { inputTokens: 1, outputTokens: 2, cachedInputTokens: 0, reasoningTokens: 0, source: "reported" }
export const total: Money.Money = Money.add(Money.micros(1), Money.micros(usage.outputTokens))
export const tag: string = DeadLetters.key
`
      )
      Fs.writeFileSync(
        Path.join(project, "tsconfig.json"),
        JSON.stringify({
          compilerOptions: {
            strict: true,
            module: "NodeNext",
            moduleResolution: "NodeNext",
            noEmit: true,
            skipLibCheck: false,
            types: []
          },
          files: ["check.ts"]
        })
      )
      run(Path.join(root, "node_modules/.bin/tsc"), ["-p", "tsconfig.json"], project)
    } finally {
      Fs.rmSync(work, { recursive: true, force: true })
    }
  })
})
