/**
 * The import-alone check: every module of every package, imported first and
 * alone in a fresh Node process, loads without an error. A runtime import
 * cycle whose modules read each other's values while loading
 * (`ReferenceError: Cannot access 'x' before initialization`) fails it for
 * the module that is imported first.
 *
 * It imports the built JavaScript (`dist/`, what users run) with plain
 * Node: build first (`pnpm build`). Modules written for vitest (testkit's
 * `Conformance`, a package's `Testing`) import `vitest`, which refuses to
 * load outside its runner; the check gives them a stub of vitest's worker
 * state so that they load, and runs nothing.
 *
 * Usage: `tsx tools/src/importAlone.ts` (every package under packages/).
 */
import { execFile } from "node:child_process"
import * as Fs from "node:fs"
import * as Os from "node:os"
import * as Path from "node:path"
import { fileURLToPath, pathToFileURL } from "node:url"
import { modules, packages, relative, root } from "./workspace.js"

/** A module that failed to load alone, and the first lines of what it printed. */
export interface Failure {
  readonly module: string
  readonly error: string
}

/** What the child process runs: the vitest stub, then one dynamic import. */
const program = (url: string): string =>
  [
    `globalThis.__vitest_worker__ ??= { environment: { name: "node" }, config: {}, providedContext: {}, durations: {} }`,
    `await import(${JSON.stringify(url)})`
  ].join("\n")

const importOne = (file: string): Promise<Failure | undefined> =>
  new Promise((resolve) => {
    execFile(
      process.execPath,
      ["--input-type=module", "-e", program(pathToFileURL(file).href)],
      { cwd: Path.dirname(file), encoding: "utf8", timeout: 60_000 },
      (error, _stdout, stderr) => {
        if (error === null) return resolve(undefined)
        const lines = stderr.split("\n").filter((line) => line.trim() !== "" && !/^\s+at /.test(line))
        const message = lines.find((line) => /^\w*Error\b|^Error:/.test(line)) ?? lines.slice(-3).join("\n")
        resolve({ module: file, error: message || String(error.message) })
      }
    )
  })

/** Imports each file first and alone, `concurrency` processes at a time; the failures, in the files' order. */
export const importAlone = async (
  files: ReadonlyArray<string>,
  options: { readonly concurrency?: number } = {}
): Promise<ReadonlyArray<Failure>> => {
  const results: Array<Failure | undefined> = new Array(files.length)
  let next = 0
  const worker = async (): Promise<void> => {
    while (next < files.length) {
      const index = next++
      results[index] = await importOne(files[index]!)
    }
  }
  const workers = Math.max(1, Math.min(options.concurrency ?? Os.availableParallelism(), files.length))
  await Promise.all(Array.from({ length: workers }, worker))
  return results.filter((result): result is Failure => result !== undefined)
}

/** The built counterpart of a source module: src/X.ts → dist/X.js. */
export const builtModule = (packageDir: string, source: string): string =>
  Path.join(packageDir, "dist", Path.relative(Path.join(packageDir, "src"), source).replace(/\.ts$/, ".js"))

/** Every module of every package under packages/ (src/*.ts, src/internal/*.ts), as built files. */
export const workspaceModules = (): ReadonlyArray<{ readonly source: string; readonly built: string }> =>
  packages()
    .filter((pkg) => Path.dirname(pkg.dir) === Path.join(root, "packages"))
    .flatMap((pkg) => modules(pkg.dir).map((source) => ({ source, built: builtModule(pkg.dir, source) })))

const main = async (): Promise<number> => {
  const all = workspaceModules()
  const missing = all.filter((module) => !Fs.existsSync(module.built))
  for (const module of missing) console.error(`not built: ${relative(module.built)} (run pnpm build)`)
  const started = Date.now()
  const failures = await importAlone(all.map((module) => module.built).filter((file) => Fs.existsSync(file)))
  for (const failure of failures) console.error(`import alone: ${relative(failure.module)}: ${failure.error}`)
  console.log(`import alone: ${all.length - missing.length} modules in ${((Date.now() - started) / 1000).toFixed(1)} s`)
  return failures.length > 0 || missing.length > 0 ? 1 : 0
}

if (process.argv[1] !== undefined && Path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  process.exitCode = await main()
}
