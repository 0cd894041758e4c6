/**
 * The cycle check: every runtime import cycle between the modules of a
 * package (its src/ tree), printed as a path, fails the check.
 *
 * An edge is what the compiled JavaScript keeps: `import … from`,
 * `import "…"`, `export … from` and `export * from`. Type-only forms are
 * erased and do not count: `import type …`, `export type … from`,
 * `export type * from`. Under `verbatimModuleSyntax` (tsconfig.base.json)
 * `import { type A } from "./a.js"` is emitted as `import {} from "./a.js"`
 * and still loads the module, so it counts; write `import type { A }`
 * instead (ESLint's `no-import-type-side-effects` says so). Dynamic
 * `import()` does not count: it runs after every static import has finished.
 *
 * Usage: `tsx tools/src/cycles.ts [package directory…]` (default: every
 * workspace package). Exits 1 when a cycle is found.
 */
import * as Fs from "node:fs"
import * as Path from "node:path"
import { fileURLToPath } from "node:url"
import ts from "typescript"
import { packages, readManifest, relative } from "./workspace.js"

/** The runtime imports of one source text: the specifiers of its static imports and re-exports. */
export const runtimeImports = (fileName: string, text: string): ReadonlyArray<string> => {
  const source = ts.createSourceFile(fileName, text, ts.ScriptTarget.Latest, false, ts.ScriptKind.TS)
  const specifiers: Array<string> = []
  for (const statement of source.statements) {
    if (ts.isImportDeclaration(statement)) {
      if (statement.importClause?.isTypeOnly === true) continue
      if (ts.isStringLiteral(statement.moduleSpecifier)) specifiers.push(statement.moduleSpecifier.text)
    } else if (ts.isExportDeclaration(statement)) {
      if (statement.isTypeOnly || statement.moduleSpecifier === undefined) continue
      if (ts.isStringLiteral(statement.moduleSpecifier)) specifiers.push(statement.moduleSpecifier.text)
    } else if (
      ts.isImportEqualsDeclaration(statement) && !statement.isTypeOnly &&
      ts.isExternalModuleReference(statement.moduleReference) &&
      ts.isStringLiteral(statement.moduleReference.expression)
    ) {
      specifiers.push(statement.moduleReference.expression.text)
    }
  }
  return specifiers
}

const sourceFiles = (dir: string): Array<string> => {
  if (!Fs.existsSync(dir)) return []
  const files: Array<string> = []
  for (const entry of Fs.readdirSync(dir, { withFileTypes: true })) {
    const path = Path.join(dir, entry.name)
    if (entry.isDirectory()) {
      for (const file of sourceFiles(path)) files.push(file)
    } else if (/\.(ts|mts|tsx)$/.test(entry.name) && !/\.d\.(ts|mts)$/.test(entry.name)) {
      files.push(path)
    }
  }
  return files.sort()
}

const sourceExtensions: Record<string, ReadonlyArray<string>> = {
  ".js": [".ts", ".tsx", ".js"],
  ".mjs": [".mts", ".mjs"],
  ".jsx": [".tsx", ".jsx"]
}

/** The package's own name resolved through its exports to source files (`@agentos/source`). */
const selfTargets = (dir: string, specifier: string): ReadonlyArray<string> => {
  const manifestFile = Path.join(dir, "package.json")
  if (!Fs.existsSync(manifestFile)) return []
  const manifest = readManifest(dir)
  if (specifier !== manifest.name && !specifier.startsWith(`${manifest.name}/`)) return []
  const subpath = `.${specifier.slice(manifest.name.length)}`
  const exportsMap = manifest.exports
  if (typeof exportsMap !== "object" || exportsMap === null) return []
  for (const [key, value] of Object.entries(exportsMap as Record<string, unknown>)) {
    let match: string | undefined
    if (key === subpath) match = ""
    else if (key.includes("*")) {
      const [prefix, suffix] = key.split("*") as [string, string]
      if (subpath.startsWith(prefix) && subpath.endsWith(suffix) && subpath.length >= key.length - 1) {
        match = subpath.slice(prefix.length, subpath.length - suffix.length)
      }
    }
    if (match === undefined) continue
    const targets = typeof value === "string" ? [value] : Object.values((value ?? {}) as Record<string, unknown>)
    return targets
      .filter((target): target is string => typeof target === "string" && /\.(ts|mts|tsx)$/.test(target))
      .map((target) => Path.resolve(dir, target.replace("*", match)))
  }
  return []
}

/** The modules of a package and their runtime imports of each other. */
export const moduleGraph = (dir: string): Map<string, ReadonlyArray<string>> => {
  const files = sourceFiles(Path.join(dir, "src"))
  const known = new Set(files)
  const graph = new Map<string, ReadonlyArray<string>>()
  for (const file of files) {
    const targets = new Set<string>()
    for (const specifier of runtimeImports(file, Fs.readFileSync(file, "utf8"))) {
      const candidates: Array<string> = []
      if (specifier.startsWith(".")) {
        const resolved = Path.resolve(Path.dirname(file), specifier)
        const ext = Path.extname(resolved)
        for (const replacement of sourceExtensions[ext] ?? []) {
          candidates.push(resolved.slice(0, -ext.length) + replacement)
        }
        candidates.push(resolved, `${resolved}.ts`, Path.join(resolved, "index.ts"))
      } else {
        for (const target of selfTargets(dir, specifier)) candidates.push(target)
      }
      const target = candidates.find((candidate) => known.has(candidate))
      if (target !== undefined) targets.add(target)
    }
    graph.set(file, [...targets].sort())
  }
  return graph
}

/** The strongly connected components of a graph (Tarjan). */
const components = (graph: Map<string, ReadonlyArray<string>>): Array<Array<string>> => {
  let counter = 0
  const index = new Map<string, number>()
  const low = new Map<string, number>()
  const stack: Array<string> = []
  const onStack = new Set<string>()
  const result: Array<Array<string>> = []
  const visit = (node: string): void => {
    index.set(node, counter)
    low.set(node, counter)
    counter++
    stack.push(node)
    onStack.add(node)
    for (const next of graph.get(node) ?? []) {
      if (!index.has(next)) {
        visit(next)
        low.set(node, Math.min(low.get(node)!, low.get(next)!))
      } else if (onStack.has(next)) {
        low.set(node, Math.min(low.get(node)!, index.get(next)!))
      }
    }
    if (low.get(node) === index.get(node)) {
      const component: Array<string> = []
      let member: string
      do {
        member = stack.pop()!
        onStack.delete(member)
        component.push(member)
      } while (member !== node)
      result.push(component.sort())
    }
  }
  for (const node of graph.keys()) if (!index.has(node)) visit(node)
  return result
}

/** The shortest path from `from` to `to` inside `within`, both ends included. */
const shortestPath = (
  graph: Map<string, ReadonlyArray<string>>,
  within: Set<string>,
  from: string,
  to: string
): Array<string> | undefined => {
  const previous = new Map<string, string>()
  const queue = [from]
  const seen = new Set([from])
  while (queue.length > 0) {
    const node = queue.shift()!
    for (const next of graph.get(node) ?? []) {
      if (!within.has(next)) continue
      if (next === to) {
        const path = [to, node]
        let at = node
        while (at !== from) {
          at = previous.get(at)!
          path.push(at)
        }
        return path.reverse()
      }
      if (seen.has(next)) continue
      seen.add(next)
      previous.set(next, node)
      queue.push(next)
    }
  }
  return undefined
}

/**
 * The import cycles of a package: for every module on a cycle, the shortest
 * cycle through it, each listed once, as a path that ends where it starts.
 */
export const findCycles = (dir: string): ReadonlyArray<ReadonlyArray<string>> => {
  const graph = moduleGraph(dir)
  const cycles = new Map<string, Array<string>>()
  for (const component of components(graph)) {
    const within = new Set(component)
    const selfLoop = component.length === 1 && (graph.get(component[0]!) ?? []).includes(component[0]!)
    if (component.length === 1 && !selfLoop) continue
    for (const node of component) {
      const path = selfLoop ? [node, node] : shortestPath(graph, within, node, node)
      if (path === undefined) continue
      // One cycle, whichever module it is read from: start it at its first module in sort order.
      const ring = path.slice(0, -1)
      const start = ring.indexOf([...ring].sort()[0]!)
      const rotated = [...ring.slice(start), ...ring.slice(0, start)]
      cycles.set(rotated.join("\n"), [...rotated, rotated[0]!])
    }
  }
  return [...cycles.values()].sort((a, b) => a.join("\n").localeCompare(b.join("\n")))
}

/** A cycle as one line: `a.ts → b.ts → a.ts`, paths relative to the repository root. */
export const formatCycle = (cycle: ReadonlyArray<string>): string => cycle.map(relative).join(" → ")

const main = (args: ReadonlyArray<string>): number => {
  const dirs = args.length > 0 ? args.map((arg) => Path.resolve(arg)) : packages().map((pkg) => pkg.dir)
  let found = 0
  for (const dir of dirs) {
    for (const cycle of findCycles(dir)) {
      found++
      console.error(`import cycle: ${formatCycle(cycle)}`)
    }
  }
  if (found > 0) {
    console.error(
      `${found} runtime import cycle${found === 1 ? "" : "s"} (see CONTRIBUTING.md, "The module graph": ` +
        "internal modules import public ones for types only; shared values live in leaves)"
    )
    return 1
  }
  console.log(`cycles: none in ${dirs.length} package${dirs.length === 1 ? "" : "s"}`)
  return 0
}

if (process.argv[1] !== undefined && Path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  process.exitCode = main(process.argv.slice(2))
}
