// bench/results/reliability.json: the figures of the reliability scripts
// (`pnpm chaos`, `pnpm overload`). Each script replaces its own figures —
// those whose names start with one of its prefixes — and keeps the others'.
import { Bench } from "@agentos/testkit"
import { Schema } from "effect"
import * as Fs from "node:fs"
import * as Path from "node:path"

/** Writes `figures` in place of the file's figures named with any of `prefixes`; returns the file's path. */
export const write = (
  command: string,
  prefixes: ReadonlyArray<string>,
  figures: ReadonlyArray<Bench.Figure>
): string => {
  const file = Path.join(Bench.repositoryRoot(), "bench", "results", "reliability.json")
  const kept = Fs.existsSync(file)
    ? Schema.decodeUnknownSync(Bench.Results)(JSON.parse(Fs.readFileSync(file, "utf8"))).figures
      .filter((f) => !prefixes.some((prefix) => f.name.startsWith(prefix)))
    : []
  const results = Schema.decodeUnknownSync(Bench.Results)({
    package: "reliability",
    date: new Date().toISOString(),
    machine: Bench.machine(),
    command,
    figures: [...kept, ...figures]
  })
  Fs.mkdirSync(Path.dirname(file), { recursive: true })
  Fs.writeFileSync(file, JSON.stringify(results, null, 2) + "\n")
  return file
}
