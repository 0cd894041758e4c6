/**
 * The import-alone check: every module of every package, imported first and
 * alone (it and every workspace module it reaches evaluated afresh, as in a
 * new process), loads without an error. A runtime import cycle whose modules
 * read each other's values while loading (`ReferenceError: Cannot access 'x'
 * before initialization`) fails it for the module that is imported first.
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
import * as Path from "node:path"
import { fileURLToPath } from "node:url"
import { modules, packages, relative, root } from "./workspace.js"

/** A module that failed to load alone, and the first lines of what it printed. */
export interface Failure {
  readonly module: string
  readonly error: string
}

const child = fileURLToPath(new URL("importAloneChild.mjs", import.meta.url))
const plainChild = fileURLToPath(new URL("importAloneProcess.mjs", import.meta.url))

/** Why a child process failed, when it did not report a result. */
class ChildCrashed extends Error {}

const run = (args: ReadonlyArray<string>, input: string | undefined): Promise<string> =>
  new Promise((resolve, reject) => {
    const process = execFile(
      globalThis.process.execPath,
      args,
      { encoding: "utf8", maxBuffer: 64 * 1024 * 1024 },
      (error, stdout, stderr) =>
        error === null ? resolve(stdout) : reject(
          new ChildCrashed(
            `the import-alone child failed (exit ${String(error.code)}, signal ${
              String(error.signal)
            }):\n${stdout}${stderr}`
          )
        )
    )
    process.stdin!.end(input)
  })

/** Each file in a process of its own (a few at a time): slower, and needs no vm modules. */
export const importEachInItsOwnProcess = async (files: ReadonlyArray<string>): Promise<ReadonlyArray<Failure>> => {
  const results: Array<Failure | undefined> = new Array(files.length)
  let next = 0
  const worker = async () => {
    while (next < files.length) {
      const index = next++
      const error = JSON.parse(await run(["--no-warnings", plainChild, files[index]!], undefined)) as string | null
      results[index] = error === null ? undefined : { module: files[index]!, error }
    }
  }
  await Promise.all(Array.from({ length: 4 }, worker))
  return results.filter((result): result is Failure => result !== undefined)
}

/**
 * Imports each file first and alone; the failures, in the files' order. One
 * child process loads them all (see importAloneChild.mjs): every file and
 * the workspace modules it reaches are evaluated afresh for it, the packages
 * in node_modules are shared. Node 20 sometimes crashes (SIGSEGV) in that
 * child's vm modules; the check then imports every file in a plain process
 * of its own, so a crash of the fast path never decides the outcome.
 */
export const importAlone = async (files: ReadonlyArray<string>): Promise<ReadonlyArray<Failure>> => {
  try {
    const stdout = await run(
      ["--experimental-vm-modules", "--experimental-import-meta-resolve", "--no-warnings", child],
      JSON.stringify(files)
    )
    return JSON.parse(stdout) as ReadonlyArray<Failure>
  } catch (error) {
    if (!(error instanceof ChildCrashed)) throw error
    console.error(`${error.message.split("\n")[0]}; importing every module in a process of its own instead`)
    return importEachInItsOwnProcess(files)
  }
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
