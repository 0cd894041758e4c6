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

/**
 * Imports each file first and alone; the failures, in the files' order. One
 * child process loads them all (see importAloneChild.mjs): every file and
 * the workspace modules it reaches are evaluated afresh for it, the packages
 * in node_modules are shared.
 */
export const importAlone = (files: ReadonlyArray<string>): Promise<ReadonlyArray<Failure>> =>
  new Promise((resolve, reject) => {
    const process = execFile(
      globalThis.process.execPath,
      ["--experimental-vm-modules", "--experimental-import-meta-resolve", "--no-warnings", child],
      { encoding: "utf8", maxBuffer: 64 * 1024 * 1024 },
      (error, stdout, stderr) =>
        error === null
          ? resolve(JSON.parse(stdout) as ReadonlyArray<Failure>)
          : reject(new Error(`the import-alone child failed:\n${stdout}${stderr}`))
    )
    process.stdin!.end(JSON.stringify(files))
  })

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
