// Every public package, packed as `pnpm publish` would pack it: the tarball
// holds the build of every module, its README and nothing of its tests; its
// manifest points at the build only and declares every package its build
// imports; it installs into an empty project with nothing but what it
// declares and imports there with plain Node. All of them together
// type-check in a strict NodeNext consumer.
import { afterAll, assert, beforeAll, describe, it } from "@effect/vitest"
import { execFile } from "node:child_process"
import * as Fs from "node:fs"
import * as Os from "node:os"
import * as Path from "node:path"
import {
  type Manifest,
  modules,
  type Package,
  publicModules,
  publicPackages,
  readManifest,
  root
} from "../src/workspace.js"

/** Runs a command (asynchronously: a blocked worker loses vitest's heartbeat); its output, or an error holding it. */
const run = (command: string, args: ReadonlyArray<string>, cwd: string): Promise<string> =>
  new Promise((resolve, reject) =>
    execFile(
      command,
      args,
      { cwd, encoding: "utf8", maxBuffer: 64 * 1024 * 1024 },
      (error, stdout, stderr) =>
        error === null
          ? resolve(stdout)
          : reject(new Error(`${command} ${args.join(" ")} (in ${cwd}) failed:\n${stdout}${stderr}`))
    )
  )

const walk = (dir: string, base = dir): Array<string> =>
  Fs.readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const path = Path.join(dir, entry.name)
    return entry.isDirectory() ? walk(path, base) : [Path.relative(base, path).split(Path.sep).join("/")]
  })

/** The version of a package installed in the workspace, seen from a package directory. */
const workspaceVersion = (from: string, name: string): string =>
  (JSON.parse(Fs.readFileSync(Path.join(from, "node_modules", name, "package.json"), "utf8")) as Manifest).version

const packages = publicPackages()
const work = Fs.mkdtempSync(Path.join(Os.tmpdir(), "agentos-pack-"))

interface Packed {
  readonly tarball: string
  /** Where the tarball is extracted. */
  readonly dir: string
  readonly files: ReadonlyArray<string>
}

const packed = new Map<string, Promise<Packed>>()

/** Packs a public package once, as `pnpm publish` would (prepack builds it), and extracts the tarball. */
const pack = (name: string): Promise<Packed> => {
  const done = packed.get(name)
  if (done !== undefined) return done
  const packing = (async () => {
    const pkg = packages.find((candidate) => candidate.manifest.name === name)
    if (pkg === undefined) throw new Error(`${name} is not a public package of the workspace`)
    const destination = Path.join(work, "tarballs", Path.basename(pkg.dir))
    Fs.mkdirSync(destination, { recursive: true })
    await run("pnpm", ["pack", "--pack-destination", destination], pkg.dir)
    const tarball = Fs.readdirSync(destination).find((file) => file.endsWith(".tgz"))
    if (tarball === undefined) throw new Error(`pnpm pack wrote no tarball for ${name}`)
    const extracted = Path.join(work, "extracted", Path.basename(pkg.dir))
    Fs.mkdirSync(extracted, { recursive: true })
    await run("tar", ["-xzf", Path.join(destination, tarball), "-C", extracted], work)
    const dir = Path.join(extracted, "package")
    return { tarball: Path.join(destination, tarball), dir, files: walk(dir) }
  })()
  packed.set(name, packing)
  return packing
}

/** The @agentos packages a package needs, itself excluded: what it declares, and what they declare. */
const agentosClosure = (pkg: Package): ReadonlyArray<string> => {
  const found = new Set<string>()
  const visit = (manifest: Manifest) => {
    for (const name of Object.keys({ ...manifest.dependencies, ...manifest.peerDependencies })) {
      if (!name.startsWith("@agentos/") || found.has(name) || name === pkg.manifest.name) continue
      found.add(name)
      const dependency = packages.find((candidate) => candidate.manifest.name === name)
      if (dependency !== undefined) visit(dependency.manifest)
    }
  }
  visit(pkg.manifest)
  return [...found].sort()
}

/** Runs at most `limit` tasks at once. */
const limiter = (limit: number) => {
  let active = 0
  const waiting: Array<() => void> = []
  return async <A>(task: () => Promise<A>): Promise<A> => {
    while (active >= limit) await new Promise<void>((resolve) => waiting.push(resolve))
    active++
    try {
      return await task()
    } finally {
      active--
      waiting.shift()?.()
    }
  }
}

// Installs wait mostly on the disk and the registry's metadata: three at a time, started at once.
const limit = limiter(3)
const consumers = new Map<string, Promise<string>>()
const consumerOf = (dir: string, members: ReadonlyArray<Package>): Promise<string> => {
  let project = consumers.get(dir)
  if (project === undefined) {
    project = limit(() => consumer(dir, members))
    consumers.set(dir, project)
  }
  return project
}

beforeAll(() => {
  // Failures surface in the tests that await these.
  for (const pkg of packages) consumerOf(Path.basename(pkg.dir), [pkg]).catch(() => undefined)
  consumerOf("all", packages).catch(() => undefined)
})

afterAll(async () => {
  await Promise.allSettled(consumers.values())
  Fs.rmSync(work, { recursive: true, force: true })
})

const strings = (value: unknown): Array<string> =>
  typeof value === "string"
    ? [value]
    : typeof value === "object" && value !== null
    ? Object.entries(value).flatMap(([key, inner]) => [key, ...strings(inner)])
    : []

/** An empty project holding these packages (their tarballs), every peer they declare, and nothing else. */
const consumer = async (dir: string, members: ReadonlyArray<Package>): Promise<string> => {
  const tarballOf = async (name: string) => `file:${(await pack(name)).tarball}`
  const dependencies: Record<string, string> = {}
  const overrides: Record<string, string> = {}
  for (const pkg of members) {
    dependencies[pkg.manifest.name] = await tarballOf(pkg.manifest.name)
    for (const peer of Object.keys(pkg.manifest.peerDependencies ?? {})) {
      dependencies[peer] ??= peer.startsWith("@agentos/") ? await tarballOf(peer) : workspaceVersion(pkg.dir, peer)
    }
    // A declared @agentos package resolves to its tarball, never to the registry.
    for (const name of agentosClosure(pkg)) overrides[name] = await tarballOf(name)
  }
  const project = Path.join(work, "consumers", dir)
  Fs.mkdirSync(project, { recursive: true })
  Fs.writeFileSync(
    Path.join(project, "package.json"),
    JSON.stringify({
      name: "consumer",
      private: true,
      type: "module",
      dependencies,
      pnpm: { overrides, onlyBuiltDependencies: ["better-sqlite3"] }
    })
  )
  // The peers of those peers (@effect/sql's @effect/experimental) install automatically, as pnpm and
  // npm do for a user. Nothing is hoisted into node_modules/.pnpm/node_modules, where a package could
  // load what it does not declare. No lockfile, even under CI=true.
  await run(
    "pnpm",
    [
      "install",
      "--prefer-offline",
      "--no-frozen-lockfile",
      "--ignore-workspace",
      "--config.hoist=false",
      "--config.confirmModulesPurge=false"
    ],
    project
  )
  return project
}

const specifiersOf = (pkg: Package): ReadonlyArray<string> =>
  publicModules(pkg.dir).map((entry) => (entry === "index" ? pkg.manifest.name : `${pkg.manifest.name}/${entry}`))

/** The package a bare import specifier names: `effect/Effect` → `effect`, `@effect/sql/SqlClient` → `@effect/sql`. */
const packageOf = (specifier: string): string =>
  specifier.split("/").slice(0, specifier.startsWith("@") ? 2 : 1).join("/")

/** Every package that a built file imports, at runtime or in a type (`import("effect/Effect")` in a .d.ts). */
const importedPackages = (text: string): ReadonlyArray<string> =>
  [...text.matchAll(/(?:\bfrom\s*|\bimport\s*\(\s*|^\s*import\s+)["']([^"'./][^"']*)["']/gm)]
    .map((match) => match[1]!)
    .filter((specifier) => !specifier.startsWith("node:"))
    .map(packageOf)

for (const pkg of packages) {
  const name = pkg.manifest.name
  const hasInternal = Fs.existsSync(Path.join(pkg.dir, "src", "internal"))

  describe(name, () => {
    beforeAll(() => pack(name), 120_000)

    it("builds on prepack and ships the same files as every package", () => {
      assert.strictEqual(pkg.manifest.scripts?.prepack, "pnpm run build")
      assert.deepStrictEqual(pkg.manifest.files, ["dist", "src", "README.md"])
    })

    it("the tarball holds every module's build, its README, and nothing of its tests", async () => {
      const { files } = await pack(name)
      assert.include(files, "README.md")
      assert.include(files, "package.json")
      for (const source of modules(pkg.dir)) {
        const module = Path.relative(Path.join(pkg.dir, "src"), source).replace(/\.ts$/, "")
        assert.include(files, `dist/${module}.js`)
        assert.include(files, `dist/${module}.d.ts`)
      }
      const forbidden = files.filter((file) =>
        /^(test|bench|examples|node_modules)\//.test(file) || /\.test\.|\.tsbuildinfo|^tsconfig|^vitest\./.test(file)
      )
      assert.deepStrictEqual(forbidden, [])
      // A build of a module that no longer exists would be published too.
      const stale = files.filter((file) =>
        /^dist\/.*\.js$/.test(file) && !files.includes(file.replace(/^dist\//, "src/").replace(/\.js$/, ".ts"))
      )
      assert.deepStrictEqual(stale, [], "dist holds the build of a deleted module: pnpm clean, then build")
    })

    it("its source maps point at sources the tarball holds (why src/ is published)", async () => {
      const { dir, files } = await pack(name)
      const missing: Array<string> = []
      for (const map of files.filter((file) => file.endsWith(".map"))) {
        const { sources } = JSON.parse(Fs.readFileSync(Path.join(dir, map), "utf8")) as { sources: Array<string> }
        for (const source of sources) {
          const target = Path.relative(dir, Path.resolve(Path.dirname(Path.join(dir, map)), source))
          if (!files.includes(target.split(Path.sep).join("/"))) missing.push(`${map} → ${source}`)
        }
      }
      assert.deepStrictEqual(missing, [])
    })

    it("its published manifest points at the build only and closes internal/", async () => {
      const manifest = readManifest((await pack(name)).dir)
      const exported = strings(manifest.exports)
      assert.isAbove(exported.length, 0)
      assert.deepStrictEqual(exported.filter((value) => value.startsWith("@agentos/")), [], "source conditions")
      assert.deepStrictEqual(exported.filter((value) => value.startsWith("./src/")), [])
      const ranges = strings([manifest.dependencies, manifest.peerDependencies])
      assert.deepStrictEqual(ranges.filter((value) => /^(workspace|catalog):/.test(value)), [])
      if (hasInternal) assert.strictEqual((manifest.exports as Record<string, unknown>)["./internal/*"], null)
    })

    it("declares every package its build imports, in its JavaScript or its types", async () => {
      const { dir, files } = await pack(name)
      const manifest = readManifest(dir)
      const declared = new Set([name, ...Object.keys({ ...manifest.dependencies, ...manifest.peerDependencies })])
      const undeclared = new Set<string>()
      for (const file of files.filter((file) => /^dist\/.*(\.js|\.d\.ts)$/.test(file))) {
        for (const imported of importedPackages(Fs.readFileSync(Path.join(dir, file), "utf8"))) {
          if (!declared.has(imported)) undeclared.add(`${imported} (${file})`)
        }
      }
      assert.deepStrictEqual([...undeclared], [])
    })

    it("installs into an empty project with what it declares and imports with Node", async () => {
      const project = await consumerOf(Path.basename(pkg.dir), [pkg])
      const specifiers = specifiersOf(pkg)
      // vitest refuses to load outside its runner: modules written for it (Testing, the kit's
      // Conformance) load with a stub of its worker state; nothing runs.
      Fs.writeFileSync(
        Path.join(project, "main.mjs"),
        `globalThis.__vitest_worker__ = { environment: { name: "node" }, config: {}, providedContext: {}, durations: {} }
const imported = []
for (const specifier of ${JSON.stringify(specifiers)}) imported.push((await import(specifier), specifier))
let internal = "open"
try { await import(${JSON.stringify(`${name}/internal/anything`)}) } catch (error) { internal = error.code }
console.log(JSON.stringify({ imported, internal }))
`
      )
      const output = JSON.parse(await run("node", ["main.mjs"], project)) as {
        imported: ReadonlyArray<string>
        internal: string
      }
      assert.deepStrictEqual(output.imported, specifiers)
      if (hasInternal) assert.strictEqual(output.internal, "ERR_PACKAGE_PATH_NOT_EXPORTED")
      // The first install may build better-sqlite3 from source while the other projects' suites
      // (browsers, child services) load both cores: a CI run saw it pass 180 s; alone it takes 1-8 s.
    }, 420_000)
  })
}

describe("every public package together", () => {
  it("type-checks every public module in a strict NodeNext consumer, declarations included", async () => {
    const project = await consumerOf("all", packages)
    const specifiers = packages.flatMap(specifiersOf)
    Fs.writeFileSync(
      Path.join(project, "check.ts"),
      specifiers.map((specifier, index) => `import * as M${index} from "${specifier}"`).join("\n") +
        `\nexport const modules: ReadonlyArray<object> = [${specifiers.map((_, index) => `M${index}`).join(", ")}]\n`
    )
    Fs.writeFileSync(
      Path.join(project, "tsconfig.json"),
      JSON.stringify({
        compilerOptions: {
          strict: true,
          exactOptionalPropertyTypes: true,
          module: "NodeNext",
          moduleResolution: "NodeNext",
          target: "ES2022",
          noEmit: true,
          skipLibCheck: false,
          types: []
        },
        files: ["check.ts"]
      })
    )
    await run(Path.join(root, "node_modules/.bin/tsc"), ["-p", "tsconfig.json"], project)
  }, 300_000)
})
