// The child process of the import-alone check (importAlone.ts starts it with
// --experimental-vm-modules and --experimental-import-meta-resolve).
//
// Each file named on stdin (a JSON array) is loaded first and alone: it and
// every module it reaches outside node_modules (the workspace's packages)
// are linked and evaluated afresh as vm.SourceTextModules, which have the
// very ESM semantics of Node's loader (a cycle that reads a binding too
// early throws the same ReferenceError), while the packages in node_modules
// (effect, @effect/*) are loaded once by Node and shared, which makes a
// module's check take milliseconds instead of a process start and a fresh
// copy of effect. Prints a JSON array of { module, error } on stdout.
import * as Fs from "node:fs"
import { fileURLToPath, pathToFileURL } from "node:url"
import * as Vm from "node:vm"

// vitest refuses to load outside its runner: modules written for it (testkit's
// Conformance, a package's Testing) load with a stub of its worker state.
globalThis.__vitest_worker__ ??= { environment: { name: "node" }, config: {}, providedContext: {}, durations: {} }

/** Packages in node_modules, loaded by Node once: url → a module re-exporting their namespace. */
const shared = new Map()

const isShared = (url) => !url.startsWith("file:") || fileURLToPath(url).split(/[\\/]/).includes("node_modules")

const sharedModule = async (url) => {
  let module = shared.get(url)
  if (module === undefined) {
    const namespace = await import(url)
    const names = Object.keys(namespace)
    module = new Vm.SyntheticModule(names, function() {
      for (const name of names) this.setExport(name, namespace[name])
    }, { identifier: url })
    shared.set(url, module)
  }
  return module
}

const loadAlone = async (entry) => {
  /** This check's fresh modules: url → module. */
  const fresh = new Map()
  const moduleOf = async (url) => {
    if (isShared(url)) return sharedModule(url)
    let module = fresh.get(url)
    if (module === undefined) {
      module = new Vm.SourceTextModule(Fs.readFileSync(fileURLToPath(url), "utf8"), {
        identifier: url,
        initializeImportMeta: (meta) => {
          meta.url = url
          meta.resolve = (specifier) => import.meta.resolve(specifier, url)
        },
        importModuleDynamically: (specifier) => import(import.meta.resolve(specifier, url))
      })
      fresh.set(url, module)
    }
    return module
  }
  const root = await moduleOf(entry)
  await root.link((specifier, referencing) => moduleOf(import.meta.resolve(specifier, referencing.identifier)))
  await root.evaluate()
}

const files = JSON.parse(Fs.readFileSync(0, "utf8"))
const failures = []
for (const file of files) {
  try {
    await loadAlone(pathToFileURL(file).href)
  } catch (error) {
    failures.push({
      module: file,
      error: error instanceof Error ? `${error.name}: ${error.message}` : String(error)
    })
  }
}
process.stdout.write(JSON.stringify(failures))
