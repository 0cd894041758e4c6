// The slow, plain form of the import-alone check, used when the fast child
// (importAloneChild.mjs) crashes: this process imports ONE file, first and
// alone, with Node's own loader, and prints null or the error as JSON.
import { pathToFileURL } from "node:url"

// vitest refuses to load outside its runner: modules written for it (testkit's
// Conformance, a package's Testing) load with a stub of its worker state.
globalThis.__vitest_worker__ ??= { environment: { name: "node" }, config: {}, providedContext: {}, durations: {} }

try {
  await import(pathToFileURL(process.argv[2]).href)
  process.stdout.write("null")
} catch (error) {
  process.stdout.write(JSON.stringify(error instanceof Error ? `${error.name}: ${error.message}` : String(error)))
}
