/**
 * The workspace as the checks see it: its root, its packages and their
 * modules.
 */
import * as Fs from "node:fs"
import * as Path from "node:path"
import { fileURLToPath } from "node:url"

/** The repository root: the folder holding pnpm-workspace.yaml above this file. */
export const root: string = (() => {
  let dir = Path.dirname(fileURLToPath(import.meta.url))
  while (!Fs.existsSync(Path.join(dir, "pnpm-workspace.yaml"))) {
    const parent = Path.dirname(dir)
    if (parent === dir) throw new Error("pnpm-workspace.yaml not found above tools/")
    dir = parent
  }
  return dir
})()

/** The parts of a package.json the checks read. */
export interface Manifest {
  readonly name: string
  readonly version: string
  readonly private?: boolean
  readonly files?: ReadonlyArray<string>
  readonly exports?: unknown
  readonly scripts?: Record<string, string>
  readonly dependencies?: Record<string, string>
  readonly peerDependencies?: Record<string, string>
  readonly peerDependenciesMeta?: Record<string, { readonly optional?: boolean }>
  readonly devDependencies?: Record<string, string>
  readonly publishConfig?: { readonly exports?: unknown; readonly access?: string }
}

/** A workspace package. */
export interface Package {
  readonly dir: string
  readonly manifest: Manifest
}

/** Reads a package.json. */
export const readManifest = (dir: string): Manifest =>
  JSON.parse(Fs.readFileSync(Path.join(dir, "package.json"), "utf8")) as Manifest

/** Every workspace package: packages/*, apps/* and tools. */
export const packages = (): ReadonlyArray<Package> => {
  const dirs: Array<string> = []
  for (const group of ["packages", "apps"]) {
    const groupDir = Path.join(root, group)
    if (!Fs.existsSync(groupDir)) continue
    for (const name of Fs.readdirSync(groupDir).sort()) dirs.push(Path.join(groupDir, name))
  }
  dirs.push(Path.join(root, "tools"))
  return dirs
    .filter((dir) => Fs.existsSync(Path.join(dir, "package.json")))
    .map((dir) => ({ dir, manifest: readManifest(dir) }))
}

/** The packages published to npm: under packages/ and not private. */
export const publicPackages = (): ReadonlyArray<Package> =>
  packages().filter((pkg) => pkg.manifest.private !== true && Path.dirname(pkg.dir) === Path.join(root, "packages"))

const tsFiles = (dir: string): Array<string> =>
  Fs.existsSync(dir)
    ? Fs.readdirSync(dir)
      .filter((file) => file.endsWith(".ts") && !file.endsWith(".d.ts"))
      .sort()
      .map((file) => Path.join(dir, file))
    : []

/** A package's modules: src/*.ts and src/internal/*.ts. */
export const modules = (dir: string): ReadonlyArray<string> => [
  ...tsFiles(Path.join(dir, "src")),
  ...tsFiles(Path.join(dir, "src", "internal"))
]

/** The public modules of a package: src/*.ts (each an entry point `<name>/<Module>`), index.ts first. */
export const publicModules = (dir: string): ReadonlyArray<string> =>
  tsFiles(Path.join(dir, "src"))
    .map((file) => Path.basename(file, ".ts"))
    .sort((a, b) => (a === "index" ? -1 : b === "index" ? 1 : a.localeCompare(b)))

/** A path relative to the repository root, with forward slashes. */
export const relative = (file: string): string => Path.relative(root, file).split(Path.sep).join("/")
